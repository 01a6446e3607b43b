"""Imports are atomic, read only agentic-flow's reasoning memories, and fail cleanly on hostile
sources: odd table names, wrong column types, huge rows, no id column, deep JSON."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from reasoningbank.bank import ReasoningBank
from reasoningbank.errors import ImportFailed
from reasoningbank.migrate import MAX_SOURCE_ROW_BYTES, InvalidRecords, import_file

from .conftest import pattern, run, run_cli

ROOT = Path(__file__).resolve().parents[1]
AF_DB = Path(__file__).parent / "fixtures" / "agentic_flow_memory.db"
GOOD = {
    "id": "good-1",
    "task_description": "parse a csv",
    "task_category": "data",
    "strategy": "stdlib csv",
    "outcome": {"success": True, "success_score": 0.9},
}
DEEP = "[" * 100_000 + "]" * 100_000


async def _ids(db: str) -> list[str]:
    async with await ReasoningBank.open(db) as bank:
        return sorted(p.id for p in await bank.all_patterns())


async def _import(db: str, path, **kw):
    async with await ReasoningBank.open(db) as bank:
        return await import_file(bank, path, **kw)


def _seeded(db: str) -> str:
    """A target bank holding one pattern, to show an import left it untouched."""

    async def go():
        async with await ReasoningBank.open(db) as bank:
            return await bank.store_pattern(pattern("already here", id="kept"))

    return run(go())


def _mixed_jsonl(path: Path) -> Path:
    lines = [
        json.dumps(GOOD),
        "{not json",
        json.dumps({**GOOD, "id": "nan-ctx", "context": {"load": float("nan")}}),
        json.dumps({**GOOD, "id": "far", "metadata": {"created_at": 1e300}}),
        json.dumps({**GOOD, "id": "good-2"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- atomic by default -------------------------------------------------------------------------
def test_an_invalid_record_stores_nothing_and_every_bad_one_is_listed(tmp_path, db_path):
    _seeded(db_path)
    src = _mixed_jsonl(tmp_path / "mixed.jsonl")
    with pytest.raises(InvalidRecords, match="3 invalid records, nothing imported") as err:
        run(_import(db_path, src))
    bad = {s["where"]: s["reason"] for s in err.value.report.invalid}
    assert sorted(bad) == ["line 2", "line 3", "line 4"]
    assert bad["line 2"].startswith("invalid JSON")
    assert "context.load must be a finite number" in bad["line 3"]
    assert "created_at must be between 1970-01-01 and 9999-12-31" in bad["line 4"]
    assert run(_ids(db_path)) == ["kept"]
    with pytest.raises(InvalidRecords):  # a dry run predicts the same refusal
        run(_import(db_path, src, dry_run=True))


def test_skip_invalid_imports_the_rest_and_lists_what_it_skipped(tmp_path, db_path):
    src = _mixed_jsonl(tmp_path / "mixed.jsonl")
    report = run(_import(db_path, src, skip_invalid=True))
    assert sorted(report.imported) == ["good-1", "good-2"]
    assert [s["where"] for s in report.invalid] == ["line 2", "line 3", "line 4"]
    assert run(_ids(db_path)) == ["good-1", "good-2"]


def test_cli_import_is_atomic_and_skip_invalid_imports_the_rest(tmp_path, db_path):
    src = _mixed_jsonl(tmp_path / "mixed.jsonl")
    done = run_cli("import", str(src), "--db", db_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    head, *listed = done.stderr.strip().splitlines()
    assert head == (
        f"reasoningbank import: {src}: 3 invalid records, nothing imported "
        "(fix them, or --skip-invalid to import the others)"
    )
    assert [line.split(":")[0].strip() for line in listed] == ["line 2", "line 3", "line 4"]
    assert run(_ids(db_path)) == []
    done = run_cli("import", str(src), "--db", db_path, "--skip-invalid")
    assert done.returncode == 0, done.stderr
    assert "imported 2, skipped 3" in done.stdout
    assert "line 3: invalid pattern: context.load must be a finite number" in done.stdout


# -- agentic-flow: only reasoning memories ---------------------------------------------------
def test_agentic_flow_rows_of_other_types_are_skipped_not_imported(tmp_path, db_path):
    src = tmp_path / "memory.db"
    shutil.copy(AF_DB, src)
    conn = sqlite3.connect(src)
    with conn:
        conn.execute(
            "INSERT INTO patterns (id, type, pattern_data, confidence) VALUES (?, ?, ?, ?)",
            ("wf-1", "workflow_state", json.dumps({"title": "step 3 of deploy"}), 0.5),
        )
    conn.close()
    report = run(_import(db_path, src))
    assert len(report.imported) == 10 and "wf-1" not in run(_ids(db_path))
    assert report.skipped == [
        {"where": "patterns row 11 (id wf-1)", "reason": "not a reasoning memory (type "
         "'workflow_state')"}
    ]  # fmt: skip


# -- hostile sources ---------------------------------------------------------------------------
def _af_copy(tmp_path: Path, *sql: tuple) -> Path:
    src = tmp_path / "memory.db"
    shutil.copy(AF_DB, src)
    conn = sqlite3.connect(src)
    with conn:
        for statement in sql:
            conn.execute(*statement)
    conn.close()
    return src


HOSTILE_ROWS = {
    "wrong type: usage_count is text": (
        ("UPDATE patterns SET usage_count = 'lots' WHERE rowid = 2",),
        "unreadable row: invalid literal for int()",
    ),
    "wrong type: pattern_data is a number": (
        ("UPDATE patterns SET pattern_data = 42 WHERE rowid = 2",),
        "pattern_data is not a JSON object",
    ),
    "wrong type: id is a blob": (
        ("UPDATE patterns SET id = x'00ff' WHERE rowid = 2",),
        "id must be text, got bytes",
    ),
    "huge row": (
        ("UPDATE patterns SET pattern_data = ? WHERE rowid = 2",
         (json.dumps({"title": "t", "content": "x" * (MAX_SOURCE_ROW_BYTES + 1)}),)),
        f"over the {MAX_SOURCE_ROW_BYTES}-byte limit",
    ),
    "deep JSON": (
        ("UPDATE patterns SET pattern_data = ? WHERE rowid = 2", (DEEP,)),
        "unreadable pattern_data: JSON nested too deeply",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_hostile_rows_are_listed_and_leave_the_target_untouched(case, tmp_path, db_path):
    sql, reason = HOSTILE_ROWS[case]
    src = _af_copy(tmp_path, sql)
    _seeded(db_path)
    with pytest.raises(InvalidRecords) as err:
        run(_import(db_path, src))
    [bad] = err.value.report.invalid
    assert bad["where"].startswith("patterns row 2") and reason in bad["reason"]
    assert "\n" not in bad["reason"] and len(bad["reason"]) < 300
    assert run(_ids(db_path)) == ["kept"]


def test_odd_table_names_are_read_and_named(tmp_path, db_path):
    odd = 'we"ird; DROP TABLE patterns; --'
    src = _af_copy(
        tmp_path,
        (f'CREATE TABLE "{odd.replace(chr(34), chr(34) * 2)}" (x)',),
        (f'INSERT INTO "{odd.replace(chr(34), chr(34) * 2)}" VALUES (1)',),
    )
    report = run(_import(db_path, src))
    assert len(report.imported) == 10
    assert f"table {odd} (1 rows) holds no memories; not imported" in report.notes


def test_a_patterns_table_without_an_id_column_is_a_clear_error(tmp_path, db_path):
    src = tmp_path / "noid.db"
    conn = sqlite3.connect(src)
    with conn:
        conn.execute("CREATE TABLE patterns (type TEXT, pattern_data TEXT, confidence REAL)")
        conn.execute("INSERT INTO patterns VALUES ('reasoning_memory', '{\"title\": \"t\"}', 1)")
    conn.close()
    _seeded(db_path)
    with pytest.raises(ImportFailed, match="patterns table has no id column"):
        run(_import(db_path, src))
    assert run(_ids(db_path)) == ["kept"]


def test_cli_hostile_source_fails_cleanly_and_names_the_row(tmp_path, db_path):
    src = _af_copy(tmp_path, ("UPDATE patterns SET usage_count = x'00' WHERE rowid = 5",))
    _seeded(db_path)
    done = run_cli("import", str(src), "--db", db_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert "1 invalid record, nothing imported" in lines[0]
    assert lines[1].startswith("  patterns row 5 (id ") and "unreadable row" in lines[1]
    assert run(_ids(db_path)) == ["kept"]


# -- hostile JSON depth ------------------------------------------------------------------------
def test_deeply_nested_json_file_is_one_line_not_a_recursion_error(tmp_path, db_path):
    src = tmp_path / "deep.json"
    src.write_text(DEEP)
    with pytest.raises(ImportFailed, match="JSON nested too deeply"):
        run(_import(db_path, src))
    done = run_cli("import", str(src), "--db", db_path)
    assert done.returncode == 1
    assert (
        done.stderr.strip() == f"reasoningbank import: {src}: JSON nested too deeply; refusing it"
    )


def test_deeply_nested_jsonl_line_is_an_invalid_record(tmp_path, db_path):
    src = tmp_path / "deep.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + DEEP + "\n")
    report = run(_import(db_path, src, skip_invalid=True))
    assert report.imported == ["good-1"]
    assert report.invalid == [
        {"where": "line 2", "reason": "invalid JSON: JSON nested too deeply", "invalid": True}
    ]


def test_deeply_nested_bundle_is_refused_cleanly(tmp_path, db_path):
    src = tmp_path / "deep.rbundle"
    src.write_text('{"type": "reasoningbank.bundle", "x": ' + DEEP + "}\n{}\n")
    with pytest.raises(ImportFailed, match="nests JSON too deeply"):
        run(_import(db_path, src, format="bundle"))

"""Migration: agentic-flow's memory.db (made by agentic-flow's own code), Rust SQLite schemas,
ReasoningBankWasm JSON/JSONL; idempotency, dry runs, reasons for every skipped record."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from reasoningbank.bank import ReasoningBank
from reasoningbank.cli import main
from reasoningbank.errors import ImportFailed
from reasoningbank.migrate import Progress, detect_format, import_file, read_source

from .conftest import run

FIXTURES = Path(__file__).parent / "fixtures"
AF_DB = FIXTURES / "agentic_flow_memory.db"
WASM_JSON = FIXTURES / "wasm_patterns.json"
WASM_JSONL = FIXTURES / "wasm_patterns.jsonl"


def _af_rows(path: Path = AF_DB) -> list[dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM patterns ORDER BY rowid")]
    links = [dict(r) for r in conn.execute("SELECT * FROM pattern_links")]
    conn.close()
    for row in rows:
        row["pattern_data"] = json.loads(row["pattern_data"])
    return rows, links


async def _import(db: str, path, **kw):
    bank = await ReasoningBank.open(db)
    try:
        report = await import_file(bank, path, **kw)
        patterns = {p.id: p for p in await bank.all_patterns()}
    finally:
        await bank.close()
    return report, patterns


async def _patterns(db: str) -> dict:
    bank = await ReasoningBank.open(db)
    try:
        return {p.id: p for p in await bank.all_patterns()}
    finally:
        await bank.close()


# -- format detection ----------------------------------------------------------------------
def test_formats_are_detected_from_content(tmp_path):
    assert detect_format(AF_DB) == "agentic-flow"
    assert detect_format(WASM_JSON) == "json"
    assert detect_format(WASM_JSONL) == "jsonl"
    renamed = tmp_path / "memory.backup"  # the name does not matter, the content does
    shutil.copy(AF_DB, renamed)
    assert detect_format(renamed) == "agentic-flow"
    assert detect_format(_rust_columns_db(tmp_path / "a.db")) == "rust-sqlite"
    assert detect_format(_rust_adapter_db(tmp_path / "b.db")) == "rust-sqlite"


def test_unknown_files_fail_with_a_clear_error(tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    with pytest.raises(ImportFailed, match="cannot tell the format"):
        detect_format(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ImportFailed, match="without a known ReasoningBank schema"):
        detect_format(other)
    with pytest.raises(ImportFailed, match="no such file"):
        read_source(tmp_path / "missing.db")


def test_our_own_bank_is_not_mistaken_for_a_source(db_path):
    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            await bank.store_pattern(
                {"task_description": "t", "task_category": "c", "strategy": "s", "success_score": 1}
            )

    run(go())
    with pytest.raises(ImportFailed, match="export a bundle"):
        detect_format(db_path)


# -- agentic-flow --------------------------------------------------------------------------
def test_agentic_flow_import_keeps_ids_confidence_usage_and_every_field(db_path):
    rows, links = _af_rows()
    report, patterns = run(_import(db_path, AF_DB))
    assert report.format == "agentic-flow"
    assert report.read == len(rows) == 10
    assert sorted(report.imported) == sorted(r["id"] for r in rows)
    assert report.skipped == []
    for row in rows:
        p = patterns[row["id"]]
        data = row["pattern_data"]
        af = p.metadata.extra["agentic_flow"]
        # nothing dropped: the whole source row is kept, pattern_data verbatim
        assert af["pattern_data"] == data
        assert af["type"] == row["type"] == "reasoning_memory"
        assert af["confidence"] == row["confidence"]
        assert af["usage_count"] == row["usage_count"]
        assert af["embedding"]["dims"] == 1024 and af["embedding"]["model"].startswith("distill-")
        # mapped fields
        assert p.metadata.usage_count == row["usage_count"]
        assert data["title"] in p.task_description
        assert p.strategy == data["content"]
        assert p.task_category == (data.get("domain") or "general")
        assert p.metadata.tags == data["tags"]
        assert p.context["agent_id"] == "fixture-agent"
        assert p.context["task_id"] == data["source"]["task_id"]
        assert p.outcome.success is (data["source"]["outcome"] == "Success")
        assert p.metadata.confidence == pytest.approx(row["confidence"])
        assert p.outcome.success_score == pytest.approx(row["confidence"])
        # the usage agentic-flow recorded (retrievals) dates the last update
        if row["last_used"]:
            assert p.metadata.updated_at >= p.metadata.created_at
    used = [r for r in rows if r["usage_count"] > 0]
    assert used, "the fixture's retrievals bumped usage counts"
    # consolidate() linked the duplicated memory: both ends keep the link and count it
    contradicts = [link for link in links if link["relation"] == "contradicts"]
    assert contradicts
    for link in contradicts:
        for end in (link["src_id"], link["dst_id"]):
            assert patterns[end].metadata.contradictions == 1
            relations = {
                x["relation"] for x in patterns[end].metadata.extra["agentic_flow"]["links"]
            }
            assert relations == {"contradicts", "duplicate_of"}


def test_agentic_flow_unknown_fields_and_trajectories_are_kept(db_path):
    _, patterns = run(_import(db_path, AF_DB))
    by_title = {
        p.metadata.extra["agentic_flow"]["pattern_data"]["title"]: p for p in patterns.values()
    }
    cursor = by_title["Paginate with cursors"].metadata.extra["agentic_flow"]["pattern_data"]
    assert cursor["severity"] == "high" and len(cursor["steps"]) == 3
    csrf = by_title["CSRF token handling"].metadata.extra["agentic_flow"]
    assert csrf["trajectory"]["query"] == "Log in and submit the settings form"
    assert csrf["trajectory"]["judge_label"] == "Success"


def test_agentic_flow_report_says_what_was_not_imported(db_path):
    report, _ = run(_import(db_path, AF_DB))
    notes = "\n".join(report.notes)
    assert "consolidation_runs (1 rows)" in notes
    assert "matts_runs (1 rows)" in notes
    assert "metrics_log" in notes
    assert "10 agentic-flow embeddings not imported" in notes
    assert "imported 10" in report.summary()


def test_agentic_flow_embeddings_can_be_kept(db_path):
    report, patterns = run(_import(db_path, AF_DB, embeddings="keep"))
    assert len(report.imported) == 10
    assert all(p.embedding is not None and len(p.embedding) == 1024 for p in patterns.values())


def test_importing_twice_duplicates_nothing(db_path):
    first, _ = run(_import(db_path, AF_DB))
    second, patterns = run(_import(db_path, AF_DB))
    assert len(first.imported) == 10
    assert second.imported == []
    assert len(second.skipped) == 10
    assert second.reasons() == {"already in the bank": 10}
    assert len(patterns) == 10


def test_reimport_does_not_undo_learning(db_path):
    """A pattern already in the bank is kept as it is: outcomes recorded since stay."""
    rows, _ = _af_rows()
    pid = rows[0]["id"]

    async def go():
        bank = await ReasoningBank.open(db_path)
        await import_file(bank, AF_DB)
        await bank.record_outcome(pid, success=False, score=0.0)
        after = (await bank.get_pattern(pid)).metadata.usage_count
        await import_file(bank, AF_DB)
        again = (await bank.get_pattern(pid)).metadata.usage_count
        await bank.close()
        return after, again

    after, again = run(go())
    assert after == rows[0]["usage_count"] + 1
    assert again == after


def test_dry_run_reports_and_writes_nothing(db_path):
    report, patterns = run(_import(db_path, AF_DB, dry_run=True))
    assert report.dry_run
    assert len(report.imported) == 10
    assert "would import 10" in report.summary()
    assert patterns == {}
    assert run(_patterns(db_path)) == {}


def test_source_database_is_not_modified(tmp_path, db_path):
    src = tmp_path / "memory.db"
    shutil.copy(AF_DB, src)
    before = src.read_bytes()
    run(_import(db_path, src))
    assert src.read_bytes() == before
    assert not Path(str(src) + "-wal").exists()


# -- ReasoningBankWasm / Rust pattern JSON ---------------------------------------------------
@pytest.mark.parametrize("path", [WASM_JSON, WASM_JSONL], ids=["array", "jsonl"])
def test_wasm_pattern_json_imports_with_ids(path, db_path):
    source = [json.loads(line) for line in WASM_JSONL.read_text().splitlines()]
    report, patterns = run(_import(db_path, path))
    assert len(report.imported) == len(source) == 3
    assert "3 embeddings from another implementation not imported" in "\n".join(report.notes)
    for item in source:
        p = patterns[item["id"]]
        assert p.task_description == item["task_description"]
        assert p.strategy == item["strategy"]
        assert p.outcome.success_score == pytest.approx(item["outcome"]["success_score"])
        assert p.outcome.success == item["outcome"]["success"]
        assert p.context == item["context"]
        # ReasoningBankWasm writes 0 for "no clock"; the import time is used, 0 is remembered
        assert p.metadata.extra["source_created_at"] == 0
        assert p.metadata.created_at > 1e9
        assert p.metadata.extra["custom"] == {}
        # its hash embedding is not imported by default, but recorded
        assert p.embedding is None
        assert p.metadata.extra["source_embedding"]["dims"] == len(item["embedding"])


def test_bad_records_are_skipped_with_reasons(tmp_path, db_path):
    src = tmp_path / "mixed.jsonl"
    good = {
        "id": "good-1",
        "task_description": "parse a csv",
        "task_category": "data",
        "strategy": "stdlib csv",
        "outcome": {"success": True, "success_score": 0.9},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "no-cat", "task_description": "x", "strategy": "y", "success_score": 1}),
        json.dumps({**good, "id": "bad-score", "outcome": {"success_score": 2}}),
        json.dumps(good),
        "",
        json.dumps(
            {**good, "id": "extra", "priority": 3, "outcome": {**good["outcome"], "cost": 1}}
        ),
    ]
    src.write_text("\n".join(lines) + "\n")
    report, patterns = run(_import(db_path, src, skip_invalid=True))
    assert sorted(report.imported) == ["extra", "good-1"]
    why = {s["where"]: s["reason"] for s in report.skipped}
    assert why["line 2"].startswith("invalid JSON")
    assert "task_category is required" in why["line 3"]
    assert "success_score must be between" in why["line 4"]
    assert why["line 5"].startswith("duplicate id in this file")
    # unknown fields are not dropped
    extra = patterns["extra"].metadata.extra
    assert extra["import_fields"] == {"priority": 3}
    assert extra["import_outcome_fields"] == {"cost": 1}


def test_records_without_ids_get_stable_ids(tmp_path, db_path):
    src = tmp_path / "noid.json"
    items = [
        {
            "task_description": f"task {i}",
            "task_category": "c",
            "strategy": "s",
            "success_score": 0.5,
        }
        for i in range(3)
    ]
    src.write_text(json.dumps({"patterns": items}))
    first, _ = run(_import(db_path, src))
    second, patterns = run(_import(db_path, src))
    assert len(first.imported) == 3 and second.imported == []
    assert len(patterns) == 3


# -- the Rust reasoningbank-storage SQLite schemas -------------------------------------------
def _rust_pattern(i: int, **over) -> dict:
    p = {
        "id": str(uuid.UUID(int=i + 1)),
        "task_description": f"Implement rate limiter variant {i}",
        "task_category": "api",
        "strategy": "token-bucket" if i % 2 else "sliding-window",
        "context": {"lang": "rust", "n": i},
        "outcome": {"success": bool(i % 2), "success_score": 0.9 if i % 2 else 0.2,
                    "duration_seconds": 12.5, "tokens_used": 300, "error_message": None,
                    "metrics": {"p99_ms": 4.0}},
        "metadata": {"created_at": 1_700_000_000 + i, "updated_at": 1_700_000_100 + i,
                     "usage_count": 3, "avg_success_score": 0.7, "tags": ["rate-limit"],
                     "custom": {"owner": "team-a"}},
    }  # fmt: skip
    p.update(over)
    return p


def _rust_columns_db(path: Path) -> Path:
    """The column layout of reasoningbank-storage's SqliteStorage (migrations.rs, v1)."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE schema_version (version INTEGER PRIMARY KEY);
        INSERT INTO schema_version VALUES (1);
        CREATE TABLE patterns (
            id TEXT PRIMARY KEY, task_description TEXT NOT NULL, task_category TEXT NOT NULL,
            strategy TEXT NOT NULL, context TEXT NOT NULL, outcome TEXT NOT NULL,
            metadata TEXT NOT NULL, embedding BLOB, created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL);
        CREATE INDEX idx_patterns_category ON patterns(task_category);
        CREATE VIRTUAL TABLE patterns_fts USING fts5(id, task_description, content='patterns',
            content_rowid='rowid');
        """
    )
    for i in range(3):
        p = _rust_pattern(i)
        blob = struct.pack("<4f", 0.1, 0.2, 0.3, 0.4 + i) if i == 1 else None
        conn.execute(
            "INSERT INTO patterns VALUES (?,?,?,?,?,?,?,?,?,?)",
            (p["id"], p["task_description"], p["task_category"], p["strategy"],
             json.dumps(p["context"]), json.dumps(p["outcome"]), json.dumps(p["metadata"]), blob,
             p["metadata"]["created_at"], p["metadata"]["updated_at"]),
        )  # fmt: skip
    conn.execute("INSERT INTO patterns VALUES ('broken','t','c','s','{}','not json','{}',NULL,0,0)")
    conn.commit()
    conn.close()
    return path


def _rust_adapter_db(path: Path) -> Path:
    """The adapter layout (migrations/001_initial.sql): whole pattern JSON in ``data``."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE patterns (
            id TEXT PRIMARY KEY, task_category TEXT NOT NULL, task_description TEXT NOT NULL,
            strategy TEXT NOT NULL, success_score REAL, data TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TEXT DEFAULT CURRENT_TIMESTAMP);
        CREATE TABLE pattern_embeddings (
            pattern_id TEXT PRIMARY KEY, embedding BLOB NOT NULL, dimension INTEGER NOT NULL,
            created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
        CREATE TABLE storage_stats (key TEXT PRIMARY KEY, value TEXT NOT NULL,
            updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
        CREATE TABLE performance_metrics (id INTEGER PRIMARY KEY AUTOINCREMENT,
            metric_name TEXT NOT NULL, value REAL NOT NULL,
            timestamp TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
        INSERT INTO performance_metrics (metric_name, value) VALUES ('store_ms', 0.4);
        """
    )
    for i in range(3):
        p = _rust_pattern(i)
        conn.execute(
            "INSERT INTO patterns (id, task_category, task_description, strategy,"
            " success_score, data) VALUES (?,?,?,?,?,?)",
            (p["id"], p["task_category"], p["task_description"], p["strategy"],
             p["outcome"]["success_score"], json.dumps(p)),
        )  # fmt: skip
    conn.execute(
        "INSERT INTO pattern_embeddings (pattern_id, embedding, dimension) VALUES (?,?,?)",
        (str(uuid.UUID(int=1)), struct.pack("<3f", 1.0, 0.5, 0.25), 3),
    )
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("maker", [_rust_columns_db, _rust_adapter_db], ids=["columns", "adapter"])
def test_rust_sqlite_patterns_import_whole(maker, tmp_path, db_path):
    src = maker(tmp_path / "rust.db")
    report, patterns = run(_import(db_path, src, skip_invalid=True))
    assert report.format == "rust-sqlite"
    assert len(report.imported) == 3
    for i in range(3):
        want = _rust_pattern(i)
        p = patterns[want["id"]]
        assert p.task_description == want["task_description"]
        assert p.strategy == want["strategy"]
        assert p.context == want["context"]
        assert p.outcome.to_dict() == want["outcome"]
        assert p.metadata.usage_count == 3
        assert p.metadata.tags == ["rate-limit"]
        assert p.metadata.extra["custom"] == {"owner": "team-a"}
        assert p.metadata.created_at == want["metadata"]["created_at"]
    if maker is _rust_columns_db:
        assert report.skipped == [
            {
                "where": "patterns row 4 (id broken)",
                "reason": report.skipped[0]["reason"],
                "invalid": True,
            }
        ]
        assert report.skipped[0]["reason"].startswith("unreadable row")
        assert patterns[str(uuid.UUID(int=2))].metadata.extra["source_embedding"]["dims"] == 4
    else:
        assert "performance_metrics (1 rows)" in "\n".join(report.notes)


def test_rust_sqlite_embeddings_can_be_kept(tmp_path, db_path):
    src = _rust_adapter_db(tmp_path / "rust.db")
    _, patterns = run(_import(db_path, src, embeddings="keep"))
    assert patterns[str(uuid.UUID(int=1))].embedding == [1.0, 0.5, 0.25]


# -- progress bar and CLI --------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_or_when_asked():
    pipe = io.StringIO()
    Progress("importing", stream=pipe)(5, 10)
    assert pipe.getvalue() == ""
    tty = _Tty()
    bar = Progress("importing", stream=tty)
    bar(0, 10)
    bar(10, 10)
    assert "importing [" in tty.getvalue() and "10/10" in tty.getvalue()
    forced = io.StringIO()
    Progress("importing", enabled=True, stream=forced)(10, 10)
    assert "10/10\n" in forced.getvalue()


def _cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_import_dry_run_then_import(db_path, capsys):
    assert _cli(["import", str(AF_DB), "--db", db_path, "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and report["imported"] == 10 and report["format"] == "agentic-flow"
    assert run(_patterns(db_path)) == {}
    assert _cli(["import", str(AF_DB), "--db", db_path, "--progress"]) == 0
    captured = capsys.readouterr()
    assert "imported 10, skipped 0" in captured.out
    assert "10/10" in captured.err
    assert _cli(["import", str(AF_DB), "--db", db_path]) == 0
    assert "skipped 10: already in the bank" in capsys.readouterr().out


def test_cli_import_error_is_one_line(tmp_path, db_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage")
    assert _cli(["import", str(junk), "--db", db_path]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("reasoningbank import:") and "\n" not in err


# -- regenerating the fixture with agentic-flow itself (when it is installed) --------------
def _agentic_flow_package() -> str | None:
    """``$AGENTIC_FLOW_PACKAGE``, else the peer ``bench/peer/setup.sh`` installs
    (``$PEER_DIR`` or its per-user cache default), if present."""
    if os.environ.get("AGENTIC_FLOW_PACKAGE"):
        return os.environ["AGENTIC_FLOW_PACKAGE"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    peer = os.environ.get("PEER_DIR") or os.path.join(
        cache, "reasoningbank-bench", "agentic-flow-1.7.3"
    )
    ready = os.path.exists(os.path.join(peer, ".ready"))
    return os.path.join(peer, "package") if ready else None


def test_fixture_generator_runs_against_agentic_flow(tmp_path, db_path):
    """Rebuild the fixtures with agentic-flow's own code (the package installed by
    bench/peer/setup.sh, or AGENTIC_FLOW_PACKAGE) and import the fresh database."""
    pkg = _agentic_flow_package()
    if not pkg or not shutil.which("node"):
        pytest.skip("agentic-flow 1.7.3 is not installed (bench/peer/setup.sh installs it)")
    out = tmp_path / "fresh"
    subprocess.run(
        ["node", "--experimental-wasm-modules", str(FIXTURES / "make_agentic_flow_db.mjs"),
         pkg, str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    report, patterns = run(_import(db_path, out / "agentic_flow_memory.db"))
    assert len(report.imported) == 10 and not report.skipped
    report, _ = run(_import(db_path, out / "wasm_patterns.jsonl"))
    assert len(report.imported) == 3

    def schema(path: Path) -> list[tuple[str, str]]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        conn.close()
        return rows

    # the committed fixture still has the schema agentic-flow writes
    assert schema(out / "agentic_flow_memory.db") == schema(AF_DB)


def test_every_format_is_documented():
    from reasoningbank.migrate import FORMATS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "migration.md").read_text()
    for fmt in FORMATS:
        assert fmt in docs, fmt
    for flag in ("--dry-run", "--embeddings", "--trust-signer", "--progress", "--format"):
        assert flag in docs, flag


@pytest.mark.parametrize("confidence", [0.0, 0.01, 0.2, 0.5, 0.88, 0.99, 1.0])
@pytest.mark.parametrize("usage", [0, 3, 500])
def test_imported_confidence_becomes_equivalent_evidence(confidence, usage):
    """Pseudo-counts reproduce the confidence (0 and 1 within 0.01), never fewer
    observations than the source's usage, never negative, and a bounded amount otherwise."""
    from reasoningbank.import_sources import _evidence_counts

    s, f = _evidence_counts(confidence, usage)
    assert s >= 0 and f >= 0
    assert s + f >= usage and s + f <= max(usage, 98)
    posterior = (1 + s) / (2 + s + f)
    if 0.01 <= confidence <= 0.99:
        assert posterior == pytest.approx(confidence)
    else:  # 0 and 1 cannot be a Beta posterior mean: as close as the evidence allows
        assert abs(posterior - confidence) <= 0.01 + 1e-12

import asyncio
import json
import os
import subprocess
import sys

import pytest

from reasoningbank import ReasoningBank
from reasoningbank.cli import build_parser, main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_store_search_get_stats_with_db_before_and_after_the_command(capsys, db_path):
    code, out, _ = cli(
        capsys,
        "--db",
        db_path,
        "store",
        "--task",
        "add oauth token refresh",
        "--category",
        "backend",
        "--strategy",
        "test-driven",
        "--score",
        "0.9",
        "--context",
        "lang=python",
        "--json",
    )
    assert code == 0
    pid = json.loads(out)["ids"][0]
    code, out, _ = cli(
        capsys,
        "search",
        "refresh oauth tokens",
        "--category",
        "backend",
        "-k",
        "3",
        "--json",
        "--db",
        db_path,
    )
    hits = json.loads(out)
    assert code == 0 and [h["pattern"]["id"] for h in hits] == [pid]
    assert set(hits[0]["parts"]) >= {"similarity", "category", "context", "outcome"}
    code, out, _ = cli(capsys, "--db", db_path, "get", pid, "--json")
    assert json.loads(out)["context"] == {"lang": "python"}
    code, out, _ = cli(capsys, "stats", "--db", db_path, "--json")
    assert json.loads(out)["total_patterns"] == 1
    code, out, _ = cli(capsys, "stats", "--db", db_path)
    assert "patterns      1" in out and "backend" in out
    code, out, _ = cli(capsys, "search", "oauth", "--db", db_path)
    assert "test-driven" in out and pid in out
    code, out, _ = cli(
        capsys, "recommend", "oauth refresh", "-c", "backend", "--db", db_path, "--json"
    )
    assert json.loads(out)["strategy"] == "test-driven"
    code, out, _ = cli(capsys, "outcome", pid, "--failure", "--db", db_path, "--json")
    assert json.loads(out)["metadata"]["usage_count"] == 1


def test_store_from_jsonl_file(capsys, db_path, tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(
                {
                    "task_description": f"t {i}",
                    "task_category": "c",
                    "strategy": "s",
                    "success_score": 0.5,
                }
            )
            for i in range(3)
        )
    )
    code, out, _ = cli(capsys, "--db", db_path, "store", "--file", str(src), "--json")
    assert code == 0 and len(json.loads(out)["ids"]) == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["store", "--task", "t", "--category", "c"], "missing --strategy"),
        (
            ["store", "--task", "t", "--category", "c", "--strategy", "s", "--score", "7"],
            "success_score",
        ),
        (["get", "nope"], "no pattern with id"),
        (["search", "x", "-k", "0"], "top_k must be a positive integer"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(capsys, db_path, argv, message):
    asyncio.run(_make_bank(db_path))  # read commands refuse a missing bank
    code, out, err = cli(capsys, "--db", db_path, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


async def _make_bank(path):
    await (await ReasoningBank.open(path)).close()


def test_not_a_bank_error_names_the_file(capsys, tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello " * 1000)
    code, _, err = cli(capsys, "--db", str(path), "stats")
    assert code == 1 and str(path) in err and "not modified" in err


def test_python_dash_m_and_env_default(tmp_path):
    env = {**os.environ, "REASONINGBANK_DB": str(tmp_path / "env.db")}
    asyncio.run(_make_bank(env["REASONINGBANK_DB"]))  # stats reads: it never creates a bank
    out = subprocess.run(
        [sys.executable, "-m", "reasoningbank", "stats", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["storage"]["location"] == str(tmp_path / "env.db")


def test_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, f"{name} has no description"
        assert sub._name_parser_map[name].format_help()


def test_bench_json_reports_timings(capsys):
    code, out, _ = cli(capsys, "bench", "--n", "300", "--queries", "20", "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 300
    assert result["find_similar_p50_ms"] > 0 and result["bulk_store_patterns_per_s"] > 0
    # single stores with the default near-duplicate check: a new task, a task held (merged)
    assert result["store_new_task_dedup_us_p50"] > 0 and result["store_merge_dedup_us_p50"] > 0

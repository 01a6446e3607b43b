"""Many processes, one bank file: every acknowledged write is kept, counts are exact.

Each child process opens the bank on its own, waits for a common start time (so they really
overlap), then runs its share of writes. The parent checks the totals afterwards.
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from reasoningbank import ReasoningBank
from tests.conftest import run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD = """
import asyncio, json, os, sys, time
from reasoningbank import ReasoningBank

async def main(path, start, job, n, arg):
    bank = await ReasoningBank.open(path)
    while time.time() < start:
        await asyncio.sleep(0.001)
    done = 0
    for i in range(n):
        if job == "outcome":
            await bank.record_outcome(arg, success=bool(i % 2), score=1.0 if i % 2 else 0.0)
        elif job == "same-text":
            await bank.store_pattern({"task_description": "deploy the billing service",
                "task_category": "ops", "strategy": "blue-green", "success_score": 1.0})
        elif job == "mixed":
            if i % 3 == 0:
                await bank.record_outcome(arg, success=True, score=1.0)
            elif i % 3 == 1:
                await bank.store_pattern({"task_description": "deploy the billing service",
                    "task_category": "ops", "strategy": "blue-green", "success_score": 0.0})
            else:
                await bank.store_pattern({"task_description": f"unique task {os.getpid()} {i}",
                    "task_category": "ops", "strategy": "other", "success_score": 1.0})
        done += 1
    await bank.close()
    print(json.dumps({"done": done}))

asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]))
"""


def _children(path: str, jobs: list[tuple[str, int, str]]) -> list[dict]:
    start = time.time() + 1.5  # every child is open and waiting by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_CHILD), path, str(start), job, str(n), arg],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job, n, arg in jobs
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        results.append(out)
    return results


def _observations(pattern) -> float:
    return pattern.metadata.success_count + pattern.metadata.failure_count


def _seed(path: str) -> str:
    async def go() -> str:
        async with await ReasoningBank.open(path) as bank:
            return await bank.store_pattern(
                {
                    "task_description": "deploy the billing service",
                    "task_category": "ops",
                    "strategy": "blue-green",
                    "success_score": 1.0,
                }
            )

    return run(go())


def _read(path: str, pid: str):
    async def go():
        async with await ReasoningBank.open(path) as bank:
            return await bank.get_pattern(pid), (await bank.get_stats())["total_patterns"]

    return run(go())


def test_concurrent_record_outcome_keeps_every_observation(db_path):
    pid = _seed(db_path)
    _children(db_path, [("outcome", 100, pid)] * 4)
    pattern, total = _read(db_path, pid)
    assert total == 1
    assert pattern.metadata.usage_count == 400  # the first store is an observation, not a use
    assert _observations(pattern) == pytest.approx(1 + 400)
    assert pattern.metadata.success_count == pytest.approx(1 + 200)


def test_concurrent_stores_of_one_text_merge_into_one_pattern(db_path):
    pid = _seed(db_path)
    _children(db_path, [("same-text", 100, "-")] * 4)
    pattern, total = _read(db_path, pid)
    assert total == 1
    assert _observations(pattern) == pytest.approx(1 + 400)


def test_mixed_writers_on_an_existing_bank_lose_nothing(db_path):
    pid = _seed(db_path)
    _children(db_path, [("mixed", 90, pid)] * 4)
    pattern, total = _read(db_path, pid)
    # per child: 30 outcomes, 30 merges into the seed, 30 new unique patterns
    assert total == 1 + 4 * 30
    assert _observations(pattern) == pytest.approx(1 + 4 * 60)
    assert pattern.metadata.success_count == pytest.approx(1 + 4 * 30)


@pytest.mark.parametrize("attempt", range(3))
def test_many_processes_creating_one_new_bank_all_succeed(tmp_path, attempt):
    """Opening a bank file nobody has created yet, from 6 processes at the same moment: none
    fails with NotABank or "database is locked", and every write lands."""
    path = str(tmp_path / f"fresh-{attempt}.db")
    assert not os.path.exists(path)
    start = time.time() + 1.5
    code = textwrap.dedent(
        """
        import asyncio, sys, time
        from reasoningbank import ReasoningBank
        async def main(path, start, me):
            while time.time() < start:
                time.sleep(0.0005)
            bank = await ReasoningBank.open(path)
            await bank.store_pattern({"task_description": f"fresh bank writer {me}",
                "task_category": "ops", "strategy": "s", "success_score": 1.0})
            await bank.close()
        asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3]))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, path, str(start), str(i)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=60)
        if p.returncode != 0:
            errors.append(err.strip().splitlines()[-1] if err.strip() else f"exit {p.returncode}")
    assert errors == []

    async def count() -> int:
        async with await ReasoningBank.open(path) as bank:
            return (await bank.get_stats())["total_patterns"]

    assert run(count()) == 6


def test_concurrent_cli_outcomes_are_all_kept(db_path):
    pid = _seed(db_path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    script = (
        "import subprocess, sys\n"
        "for i in range(8):\n"
        "    subprocess.run([sys.executable, '-m', 'reasoningbank', '--db', sys.argv[1],"
        " 'outcome', sys.argv[2], '--success'], check=True, capture_output=True)\n"
    )
    shells = [
        subprocess.Popen([sys.executable, "-c", script, db_path, pid], cwd=ROOT, env=env)
        for _ in range(4)
    ]
    for s in shells:
        assert s.wait(timeout=300) == 0
    pattern, _ = _read(db_path, pid)
    assert pattern.metadata.usage_count == 32

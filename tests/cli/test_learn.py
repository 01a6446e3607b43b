"""``reasoningbank learn`` and ``prompt`` as a user runs them: real subprocesses, and
``--llm-cmd`` pointing to a real scripted model (a small program reading the prompt on stdin).

The scripted model answers like a chat model would (JSON in a markdown fence), fails, hangs or
talks nonsense on request; every failure must be one line on stderr, a non-zero exit, and
nothing stored.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}
ENV.pop("REASONINGBANK_DB", None)
ENV.pop("REASONINGBANK_DEBUG", None)

TASK = "fix the flaky login test"
STEPS = [
    {"thought": "the login test fails one run in five", "action": "pytest tests/test_login.py",
     "observation": "1 failed, 12 passed: AssertionError: session cookie missing"},
    {"thought": "retry until green", "action": "pytest tests/test_login.py --count 5",
     "observation": "FAILED test_login_sets_cookie - AssertionError"},
]  # fmt: skip

#: The scripted model. argv: MODE LOG. It appends every prompt to LOG (one JSON string per
#: line), then answers the judge prompt with a verdict and a distill prompt with items.
MODEL = r"""
import json, sys, time
mode, log = sys.argv[1], sys.argv[2]
prompt = sys.stdin.read()
with open(log, "a") as fh:
    fh.write(json.dumps(prompt) + "\n")
if mode == "crash":
    print("loading weights...", file=sys.stderr)
    print("model crashed: out of memory", file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(60)
if mode == "garbage":
    print("Sure! I think the agent did fine overall.")
    sys.exit(0)
if '"success": true or false' in prompt:  # the judge
    print('```json\n{"success": false, "score": 0.1, "reason": "the test still fails"}\n```')
elif "SUCCEEDED" in prompt:
    print(json.dumps({"items": [{"title": "Pin the clock in login tests",
        "description": "Freeze time so session expiry cannot race the assertion.",
        "content": "Freeze the clock before logging in; the cookie then never expires mid-test."}]}))
else:
    print("Here are the lessons:\n" + json.dumps({"items": [
        {"title": "Do not retry a flaky test into green",
         "description": "Retries hide the race that makes the login test flaky.",
         "content": "Avoid rerunning the test until it passes because the race stays; instead find why the session cookie is missing."},
        {"title": "Check cookie expiry against the test clock",
         "description": "A session cookie that expires during the test looks missing.",
         "content": "Avoid real clocks in session tests because expiry races the assertion; freeze time instead."}]}))
"""


def reasoningbank(cwd: Path, *argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reasoningbank", *argv],
        cwd=cwd,
        env=ENV,
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def model(tmp_path: Path):
    """``model(mode)`` -> the --llm-cmd of the scripted model; ``model.prompts()`` -> what it
    was asked so far."""
    script = tmp_path / "model.py"
    script.write_text(MODEL, encoding="utf-8")
    log = tmp_path / "prompts.jsonl"

    class Model:
        def __call__(self, mode: str = "ok") -> str:
            return shlex.join([sys.executable, str(script), mode, str(log)])

        def prompts(self) -> list[str]:
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    return Model()


@pytest.fixture
def bank(tmp_path: Path) -> Path:
    """A bank file holding one plain pattern (so "nothing stored" is checkable)."""
    db = tmp_path / "bank.db"
    proc = reasoningbank(
        tmp_path, "--db", str(db), "store", "--task", "add oauth token refresh",
        "--category", "backend", "--strategy", "test-driven", "--success",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return db


def count(db: Path) -> int:
    proc = reasoningbank(db.parent, "--db", str(db), "stats", "--json")
    assert proc.returncode == 0, proc.stderr
    return int(json.loads(proc.stdout)["total_patterns"])


def one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_learn_with_llm_cmd_judges_distills_and_prompt_renders(tmp_path, bank, model):
    traj = tmp_path / "run.json"
    traj.write_text(json.dumps(STEPS), encoding="utf-8")
    proc = reasoningbank(
        tmp_path, "--db", str(bank), "learn", TASK, "--trajectory", str(traj),
        "--category", "testing", "--llm-cmd", model("ok"), "--llm-model", "scripted-7b", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"] == {
        "success": False, "score": 0.1, "reason": "the test still fails", "judged_by": "llm"
    }  # fmt: skip
    assert [i["title"] for i in report["items"]] == [
        "Do not retry a flaky test into green", "Check cookie expiry against the test clock"
    ]  # fmt: skip
    assert {i["kind"] for i in report["items"]} == {"failure"}
    assert len(report["ids"]) == 2 and count(bank) == 3
    prov = report["items"][0]["provenance"]
    assert (
        prov["task"] == TASK and prov["judged_by"] == "llm" and len(prov["trajectory_sha256"]) == 64
    )
    assert prov["model"] == "scripted-7b"
    # Two calls: the judge, then the failure distiller, each shown the steps as data.
    prompts = model.prompts()
    assert len(prompts) == 2
    assert '"success": true or false' in prompts[0] and "FAILED" in prompts[1]
    assert all("session cookie missing" in p for p in prompts)

    proc = reasoningbank(
        tmp_path, "--db", str(bank), "prompt", "fix the flaky signup test", "-k", "3"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Do not retry a flaky test into green" in proc.stdout
    assert "Avoid rerunning the test until it passes" in proc.stdout
    as_json = reasoningbank(
        tmp_path, "--db", str(bank), "prompt", "fix the flaky signup test", "-k", "3", "--json"
    )
    assert json.loads(as_json.stdout) == {"prompt": proc.stdout.rstrip("\n")}


def test_outcome_skips_the_judge_and_text_comes_from_stdin(tmp_path, bank, model):
    log = "$ pytest tests/test_login.py\n13 passed in 0.8s\n"
    proc = reasoningbank(
        tmp_path, "--db", str(bank), "learn", TASK, "--trajectory", "-",
        "--outcome", "success", "--llm-cmd", model("ok"), stdin=log.encode(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "judged by outcome" in proc.stdout and "Pin the clock in login tests" in proc.stdout
    prompts = model.prompts()
    assert len(prompts) == 1 and "SUCCEEDED" in prompts[0] and "13 passed" in prompts[0]
    # A score works as an outcome too.
    proc = reasoningbank(
        tmp_path, "--db", str(bank), "learn", "another task", "--trajectory", "-",
        "--outcome", "0.25", "--json", stdin=log.encode(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)["verdict"]
    assert verdict["judged_by"] == "outcome" and verdict["score"] == 0.25


def test_without_a_model_the_heuristic_judge_and_templates_learn(tmp_path, bank):
    log = (
        "$ python manage.py migrate\n"
        "Traceback (most recent call last):\n"
        '  File "manage.py", line 22, in <module>\n'
        "django.db.utils.OperationalError: no such table: auth_user\n"
        "exit code 1\n"
    )
    traj = tmp_path / "run.log"
    traj.write_text(log, encoding="utf-8")
    proc = reasoningbank(
        tmp_path, "--db", str(bank), "learn", "migrate the user table", "--trajectory",
        str(traj), "--category", "backend", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["verdict"]["judged_by"] == "heuristic" and report["verdict"]["success"] is False
    assert report["items"] and {i["kind"] for i in report["items"]} == {"failure"}
    assert count(bank) == 1 + len(report["ids"])


@pytest.mark.parametrize(
    ("mode", "extra", "fragments"),
    [
        ("crash", (), ("exited with 3", "model crashed: out of memory")),
        ("hang", ("--llm-timeout", "1"), ("timed out after 1s",)),
        ("garbage", (), ("LLM",)),
    ],
)
def test_a_failing_model_is_one_line_and_stores_nothing(
    tmp_path, bank, model, mode, extra, fragments
):
    traj = tmp_path / "run.json"
    traj.write_text(json.dumps(STEPS), encoding="utf-8")
    proc = reasoningbank(
        tmp_path, "--db", str(bank), "learn", TASK, "--trajectory", str(traj),
        "--llm-cmd", model(mode), *extra,
    )  # fmt: skip
    line = one_line_error(proc, *fragments)
    assert line.startswith("reasoningbank: error: ")
    assert count(bank) == 1
    if mode == "garbage":  # a malformed answer is retried once, then refused
        assert len(model.prompts()) == 2


@pytest.mark.parametrize(
    ("argv", "status", "fragments"),
    [
        (("--outcome", "1.5"), 2, ("--outcome", "[0, 1]")),
        (("--outcome", "maybe"), 2, ("success, failure or a score",)),
        (("--trajectory-file-missing",), 1, ("cannot read",)),
        (("--empty",), 1, ("empty",)),
        (("--huge",), 1, ("larger than", "bytes")),
        (("--llm-cmd", "no-such-model-runner-here"), 1, ("no-such-model-runner-here",)),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(tmp_path, bank, argv, status, fragments):
    traj = tmp_path / "run.txt"
    from reasoningbank.cli.learn import MAX_TRAJECTORY_BYTES

    text = {"--empty": "", "--huge": "x" * (MAX_TRAJECTORY_BYTES + 1)}.get(argv[0], "3 failed")
    traj.write_text(text, encoding="utf-8")
    if argv[0].startswith("--trajectory-file-missing"):
        traj = tmp_path / "missing.txt"
    args = [a for a in argv if a not in ("--empty", "--huge", "--trajectory-file-missing")]
    proc = reasoningbank(
        tmp_path, "--db", str(bank), "learn", TASK, "--trajectory", str(traj), *args
    )
    one_line_error(proc, *fragments)
    assert proc.returncode == status
    assert count(bank) == 1


def test_prompt_never_creates_a_bank(tmp_path):
    proc = reasoningbank(tmp_path, "--db", str(tmp_path / "typo.db"), "prompt", "anything")
    one_line_error(proc, "no bank")
    assert not (tmp_path / "typo.db").exists()


def test_items_shared_through_a_hub_keep_kind_and_provenance(tmp_path, model):
    """Bank A learns with the scripted model and syncs to a real hub process; bank B, which
    trusts A, syncs and sees the same items (kind, provenance, model) under A's key."""
    import time

    a, b = tmp_path / "a.db", tmp_path / "b.db"
    traj = tmp_path / "run.json"
    traj.write_text(json.dumps(STEPS), encoding="utf-8")
    learned = reasoningbank(
        tmp_path, "--db", str(a), "learn", TASK, "--trajectory", str(traj),
        "--category", "testing", "--llm-cmd", model("ok"), "--json",
    )  # fmt: skip
    assert learned.returncode == 0, learned.stderr
    sent = json.loads(learned.stdout)["items"]
    key_a = reasoningbank(tmp_path, "--db", str(a), "identity").stdout.strip()
    assert reasoningbank(tmp_path, "--db", str(b), "trust", "add", key_a).returncode == 0

    hub = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank", "hub", "--host", "127.0.0.1", "--port", "0",
         "--open", "--no-quic"],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url, deadline = "", time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = hub.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            label, _, value = line.strip().partition(": ")
            url = value if label == "websocket" else ""
        assert url, hub.stderr.read()  # type: ignore[union-attr]
        for db in (a, b):
            synced = reasoningbank(
                tmp_path, "--db", str(db), "sync", "--hub", url, "--timeout", "20"
            )
            assert synced.returncode == 0, synced.stderr
    finally:
        hub.terminate()
        hub.wait(10)

    found = reasoningbank(tmp_path, "--db", str(b), "search", TASK, "-k", "5", "--json")
    memories = {
        m["pattern"]["context"]["memory"]["title"]: m["pattern"]["context"]["memory"]
        for m in json.loads(found.stdout)
    }
    for item in sent:
        memory = memories[item["title"]]
        assert memory["kind"] == item["kind"] == "failure"
        assert memory["content"] == item["content"]
        assert memory["provenance"] == item["provenance"]
        assert memory["provenance"]["judged_by"] == "llm"
    block = reasoningbank(tmp_path, "--db", str(b), "prompt", "fix the flaky signup test")
    assert f"shared:{key_a[:16]}" in block.stdout
    assert sent[0]["title"] in block.stdout

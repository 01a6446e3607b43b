"""The CLI as a user runs it (``python -m reasoningbank`` in a subprocess): read commands never
create a bank, files it writes are private, and every error is exactly one line on stderr."""

from __future__ import annotations

import os
import resource
import socket
import stat
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
}
ENV.pop("REASONINGBANK_DB", None)
ENV.pop("REASONINGBANK_DEBUG", None)
KEY = "ab" * 32


def run(cwd, *argv, stdin: bytes = b"", **options) -> subprocess.CompletedProcess[bytes]:
    """``reasoningbank ARGV`` in ``cwd``; arguments may be bytes (not UTF-8 on purpose)."""
    return subprocess.run(
        [sys.executable, "-m", "reasoningbank", *argv],
        cwd=cwd,
        env=ENV,
        input=stdin,
        capture_output=True,
        timeout=60,
        **options,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], *fragments: str) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode != 0, err
    assert "Traceback" not in err and "never retrieved" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def store(cwd, db="bank.db") -> None:
    proc = run(cwd, "--db", db, "store", "--task", "t", "--category", "c", "--strategy", "s",
               "--success")  # fmt: skip
    assert proc.returncode == 0, proc.stderr


# -- read commands never create a bank ------------------------------------------------------
@pytest.mark.parametrize(
    "argv", [["stats"], ["search", "oauth"], ["get", "x"], ["recommend", "oauth"]]
)
def test_read_commands_on_a_mistyped_db_create_nothing(tmp_path, argv):
    proc = run(tmp_path, "--db", "typo.db", *argv)
    assert_one_line_error(proc, "reasoningbank: error: no bank at typo.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["store", "--task", "t", "--category", "c", "--strategy", "s", "--success"],
        ["identity"],
        ["trust", "add", KEY],
    ],
)
def test_no_command_creates_a_missing_folder(tmp_path, argv):
    proc = run(tmp_path, "--db", "missing/bank.db", *argv)
    assert_one_line_error(proc, "does not exist")
    assert list(tmp_path.iterdir()) == []


# -- files are private ----------------------------------------------------------------------
def test_key_and_trust_files_are_owner_only(tmp_path):
    assert run(tmp_path, "--db", "bank.db", "identity").returncode == 0
    assert run(tmp_path, "--db", "bank.db", "trust", "add", KEY).returncode == 0
    for name in ("bank.db.key", "bank.db.trust.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name


def _no_file_writes() -> None:
    """Every write to a file fails (EFBIG), as on a full disk; the parent test stays intact."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@pytest.mark.parametrize("argv", [["identity"], ["identity", "--rotate"]])
def test_a_failed_key_write_keeps_the_old_key_and_the_next_run_works(tmp_path, argv):
    """Before: the key file was created first and filled after, so a full disk left an empty
    file that made every later command fail."""
    old = None
    if "--rotate" in argv:
        old = run(tmp_path, "--db", "bank.db", "identity").stdout
    failed = run(tmp_path, "--db", "bank.db", *argv, preexec_fn=_no_file_writes)
    assert_one_line_error(failed, "identity not saved", "bank.db.key")
    again = run(tmp_path, "--db", "bank.db", "identity")
    assert again.returncode == 0 and len(again.stdout.strip()) == 64, again.stderr
    if old is not None:
        assert again.stdout == old
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_an_empty_key_file_is_one_line_with_a_hint(tmp_path):
    (tmp_path / "bank.db.key").write_text("")
    proc = run(tmp_path, "--db", "bank.db", "identity")
    assert_one_line_error(proc, "bank.db.key is empty", "move it aside")


def test_a_symlinked_key_is_refused(tmp_path):
    (tmp_path / "bank.db.key").symlink_to(tmp_path / "elsewhere")
    proc = run(tmp_path, "--db", "bank.db", "identity")
    assert_one_line_error(proc, "symbolic link")
    assert not (tmp_path / "elsewhere").exists()


# -- every error is one line ----------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--n", "0"], "bench --n must be a positive integer, got 0"),
        (["bench", "--n", "-5"], "bench --n must be a positive integer, got -5"),
        (["bench", "--queries", "0"], "bench --queries must be a positive integer"),
        (["bench", "--n", "many"], "argument --n: invalid int value"),
        (["nosuch"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, argv, message):
    assert_one_line_error(run(tmp_path, *argv), message)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    "content, message",
    [
        (DEEP, "nested deeper than 64 levels"),
        (b'{"task_description": "caf\xe9"}', "not UTF-8 text (byte 0xe9 at offset 25)"),
        (b'{"task_description": ', "not JSON"),
    ],
    ids=["deep", "latin-1", "truncated"],
)
def test_hostile_pattern_files_are_one_line_and_store_nothing(tmp_path, content, message):
    store(tmp_path)
    (tmp_path / "in.json").write_bytes(content)
    assert_one_line_error(run(tmp_path, "--db", "bank.db", "store", "--file", "in.json"), message)
    proc = run(tmp_path, "--db", "bank.db", "store", "--file", "-", stdin=content)
    assert_one_line_error(proc, message)
    assert b"patterns      1 " in run(tmp_path, "--db", "bank.db", "stats").stdout


def test_hostile_rotation_statement_is_one_line(tmp_path):
    (tmp_path / "rot.json").write_bytes(DEEP)
    proc = run(tmp_path, "--db", "bank.db", "trust", "add", "--rotation", "rot.json")
    assert_one_line_error(proc, "rotation statement rot.json is nested deeper")


def test_arguments_that_are_not_utf8_are_one_line_and_store_nothing(tmp_path):
    store(tmp_path)
    argv = ["--db", "bank.db", "store", "--task", b"caf\xe9", "--category", "c", "--strategy",
            "s", "--success"]  # fmt: skip
    assert_one_line_error(run(tmp_path, *argv), "argument 5 is not UTF-8 text: caf\\xe9")
    assert b"patterns      1 " in run(tmp_path, "--db", "bank.db", "stats").stdout


def test_extreme_timestamps_are_one_line(tmp_path):
    store(tmp_path)
    doc = (b'{"task_description": "t", "task_category": "c", "strategy": "s", '
           b'"success_score": 0.5, "metadata": {"created_at": 1e300, "last_used": -1e300}}')  # fmt: skip
    (tmp_path / "in.json").write_bytes(doc)
    proc = run(tmp_path, "--db", "bank.db", "store", "--file", "in.json")
    assert_one_line_error(proc, "reasoningbank: error:")


def test_sync_with_an_https_hub_and_no_cert_hash_says_where_to_find_it(tmp_path):
    proc = run(tmp_path, "--db", "bank.db", "sync", "--hub", "https://127.0.0.1:9/bus")
    assert_one_line_error(proc, "--cert-hash HEX", "certificate sha256: HEX")
    assert list(tmp_path.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["https", "ws"])
def test_an_unreachable_hub_is_one_line(tmp_path, scheme):
    """Before: an abandoned QUIC handshake printed "Future exception was never retrieved"."""
    url = f"{scheme}://127.0.0.1:{_free_port()}/bus"
    proc = run(tmp_path, "--db", "bank.db", "sync", "--hub", url, "--cert-hash", KEY,
               "--timeout", "1")  # fmt: skip
    assert_one_line_error(proc, f"could not connect to {url}")


# -- the hub states its policy --------------------------------------------------------------
def start_hub(cwd, *argv: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A hub in a child process; returns it and its startup lines by label."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoningbank", "hub", "--host", "127.0.0.1", *argv],
        cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while "hub key" not in lines and time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        label, _, value = line.strip().partition(": ")
        lines[label] = value
    if "hub key" not in lines:
        proc.kill()
        raise AssertionError(f"hub did not start: {lines} {proc.stderr.read()}")  # type: ignore[union-attr]
    return proc, lines


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(10)


def test_a_hub_without_a_policy_refuses_to_start(tmp_path):
    proc = run(tmp_path, "hub", "--port", "0")
    assert_one_line_error(proc, "say who may use this hub", "--allow KEY", "--open")


def test_an_open_hub_says_so_and_a_busy_port_is_one_line(tmp_path):
    hub, lines = start_hub(tmp_path, "--port", "0", "--open", "--no-quic")
    try:
        assert lines["policy"] == "open: any key may read and write"
        port = lines["websocket"].rsplit(":", 1)[1].split("/")[0]
        busy = run(tmp_path, "hub", "--port", port, "--open", "--no-quic")
        assert_one_line_error(busy, f"cannot listen on 127.0.0.1 port {port}", "--port 0")
    finally:
        stop(hub)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--open", "--allow", KEY], "--open admits any key"),
        (["--allow", "xyz"], "not an Ed25519 public key"),
        (["--allow-trusted"], "--allow-trusted needs --db"),
    ],
)
def test_contradictory_or_bad_hub_policies_are_one_line(tmp_path, argv, message):
    assert_one_line_error(run(tmp_path, "hub", "--port", "0", *argv), message)


def test_an_allow_list_hub_admits_only_its_keys(tmp_path):
    from inspect import signature

    from reasoningbank.bus.hub import Hub

    if "allowed" not in signature(Hub).parameters:
        pytest.skip("this Hub has no admission policy")
    keys = {}
    for name in ("a", "b"):
        proc = run(tmp_path, "--db", f"{name}.db", "identity")
        keys[name] = proc.stdout.decode().strip()
    hub, lines = start_hub(tmp_path, "--port", "0", "--no-quic", "--allow", keys["a"])
    try:
        assert lines["policy"] == "1 allowed keys may read and write; other keys are refused"
        url = lines["websocket"]
        ok = run(tmp_path, "--db", "a.db", "sync", "--hub", url, "--timeout", "10")
        assert ok.returncode == 0, ok.stderr
        refused = run(tmp_path, "--db", "b.db", "sync", "--hub", url, "--timeout", "10")
        assert_one_line_error(refused, "not allowed")
    finally:
        stop(hub)

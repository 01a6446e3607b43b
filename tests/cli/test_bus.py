"""CLI subcommands contributed by the bus: identity, trust, hub/sync help texts."""

from __future__ import annotations

import argparse
import json

import pytest

from reasoningbank.bus.keys import TrustList
from reasoningbank.cli import HANDLERS, build_parser
from reasoningbank.cli.run import Output


def parser() -> argparse.ArgumentParser:
    return build_parser()


def main(*argv: str) -> int:
    """Run a command, printing its text; library errors propagate (no error line)."""
    import asyncio

    args = parser().parse_args(list(argv))
    out = asyncio.run(HANDLERS[args.command](args))
    assert isinstance(out, Output)
    print(json.dumps(out.doc) if getattr(args, "json", False) else out.text)
    return out.status


def test_identity_prints_a_stable_key(tmp_path, capsys):
    db = str(tmp_path / "bank.db")
    assert main("--db", db, "identity") == 0
    key = capsys.readouterr().out.strip()
    assert main("identity", "--db", db, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["public_key"] == key and len(key) == 64 and doc["file"].endswith("bank.db.key")


def test_trust_add_list_remove(tmp_path, capsys):
    db = str(tmp_path / "bank.db")
    key = "ab" * 32
    assert main("--db", db, "trust", "add", key, "--label", "laptop") == 0
    assert main("--db", db, "trust", "add", key) == 0
    assert "already trusted" in capsys.readouterr().out
    assert main("--db", db, "trust", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)[key]["label"] == "laptop"
    assert main("--db", db, "trust", "remove", key) == 0
    assert main("--db", db, "trust", "remove", key) == 1
    assert main("--db", db, "trust", "list") == 0
    assert "(no trusted keys)" in capsys.readouterr().out


def test_rotation_through_the_cli(tmp_path, capsys):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    main("--db", a, "identity")
    old = capsys.readouterr().out.strip()
    main("--db", b, "trust", "add", old)
    capsys.readouterr()
    assert main("--db", a, "identity", "--rotate") == 0
    statement = capsys.readouterr().out
    (tmp_path / "rot.json").write_text(statement)
    assert main("--db", b, "trust", "add", "--rotation", str(tmp_path / "rot.json")) == 0
    new = json.loads(statement)["new"]
    assert set(TrustList.load(b).keys) == {old, new}


def test_bad_input_raises_library_errors(tmp_path):
    from reasoningbank.errors import ReasoningBankError

    db = str(tmp_path / "bank.db")
    with pytest.raises(ReasoningBankError):
        main("--db", db, "trust", "add", "nothex")
    with pytest.raises(ReasoningBankError):
        main("--db", db, "trust", "add")


def test_every_command_has_help():
    p = parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("identity", "trust", "hub", "sync"):
        assert sub.choices[name].description or sub.choices[name].format_help()
        assert name in p.format_help()
    hub = sub.choices["hub"].parse_args(["--port", "0"])
    assert hub.host == "127.0.0.1" and hub.port == 0


def test_hub_trusted_only_needs_a_bank(monkeypatch):
    from reasoningbank.errors import ReasoningBankError

    monkeypatch.delenv("REASONINGBANK_DB", raising=False)
    with pytest.raises(ReasoningBankError):
        main("hub", "--trusted-only", "--port", "0")

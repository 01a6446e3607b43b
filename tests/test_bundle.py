"""Signed export bundles: lossless round trip, and every kind of tampering is refused."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

pytest.importorskip("nacl", reason="bundles are signed with PyNaCl (reasoningbank[crypto])")

from reasoningbank.bank import ReasoningBank  # noqa: E402
from reasoningbank.bundle import (  # noqa: E402
    BUNDLE_TAG,
    build_bundle,
    ed25519_sign,
    export_bundle,
    export_jsonl,
    identity,
    public_key_of,
    read_bundle,
    trusted_keys,
)
from reasoningbank.cli import main  # noqa: E402
from reasoningbank.errors import ImportFailed  # noqa: E402
from reasoningbank.migrate import import_file  # noqa: E402

from .conftest import run  # noqa: E402

SEED = bytes(range(32))
OTHER = bytes(range(1, 33))


def _varied_patterns() -> list[dict]:
    """Patterns exercising every field: unicode, nested context, metrics, tags, vectors."""
    out = []
    for i in range(12):
        out.append(
            {
                "id": f"p-{i:02d}",
                "task_description": f"Migrate service {i} to async IO — naïve ✓ {'x' * i}",
                "task_category": ["backend", "data", "web"][i % 3],
                "strategy": ["strangler-fig", "big-bang", "feature-flag"][i % 3],
                "context": {"lang": "python", "nested": {"depth": i, "list": [1, 2.5, None]}},
                "outcome": {
                    "success": i % 4 != 0,
                    "success_score": round(0.1 + 0.07 * i, 3),
                    "duration_seconds": 1.5 * i,
                    "tokens_used": 100 * i,
                    "error_message": None if i % 4 else "timeout",
                    "metrics": {"p99_ms": 3.25 * i},
                },
                "metadata": {"tags": [f"t{i}", "migration"], "owner": {"team": "core"}},
                "embedding": [0.125 * (i + 1), -0.5, 0.75, 1.0 / (i + 1)],
            }
        )
    return out


async def _bank_with_history(path: str) -> ReasoningBank:
    bank = await ReasoningBank.open(path)
    await bank.store_patterns(_varied_patterns())
    await bank.record_outcome("p-01", success=False, score=0.1)
    await bank.record_outcome("p-02", success=True, score=0.95, duration_seconds=3.0)
    return bank


def _snapshot(patterns) -> dict:
    return {p.id: p.to_dict(with_embedding=True) for p in patterns}


def test_round_trip_is_lossless(tmp_path):
    src, dst, out = str(tmp_path / "a.db"), str(tmp_path / "b.db"), str(tmp_path / "a.rbundle")

    async def go():
        bank = await _bank_with_history(src)
        before = _snapshot(await bank.all_patterns())
        summary = await export_bundle(bank, out, location=src)
        await bank.close()
        target = await ReasoningBank.open(dst)
        report = await import_file(target, out, trusted_keys={bytes.fromhex(summary["public_key"])})
        after = _snapshot(await target.all_patterns())
        await target.close()
        return before, after, report, summary

    before, after, report, summary = run(go())
    assert report.format == "bundle" and report.signer == summary["public_key"]
    assert len(report.imported) == summary["count"] == 12
    assert after == before  # every field, counts, timestamps and vectors, byte for byte in JSON
    assert after["p-01"]["metadata"]["usage_count"] == 1
    assert after["p-03"]["embedding"] == before["p-03"]["embedding"]


def test_bundle_is_self_describing(tmp_path):
    src, out = str(tmp_path / "a.db"), str(tmp_path / "a.rbundle")

    async def go():
        bank = await _bank_with_history(src)
        await export_bundle(bank, out, location=src)
        await bank.close()

    run(go())
    lines = Path(out).read_bytes().splitlines()
    manifest, signature = json.loads(lines[0]), json.loads(lines[-1])
    assert manifest["type"] == "reasoningbank.bundle"
    assert manifest["bundle_version"] == 1 and manifest["schema_version"] == 1
    assert manifest["count"] == len(lines) - 2 == 12
    assert manifest["bank"]["public_key"] == public_key_of(identity(src)).hex()
    import hashlib

    for line, entry in zip(lines[1:-1], manifest["records"], strict=True):
        assert hashlib.sha256(line).hexdigest() == entry["sha256"]
        assert json.loads(line)["id"] == entry["id"]
    assert (
        signature["alg"] == "ed25519" and signature["public_key"] == manifest["bank"]["public_key"]
    )


def _bundle(patterns=None, seed=SEED) -> bytes:
    return build_bundle(
        patterns if patterns is not None else _varied_patterns()[:3],
        sign=lambda m: ed25519_sign(seed, m),
        public_key=public_key_of(seed),
        now=1_700_000_000.0,
    )


def _lines(blob: bytes) -> list[bytes]:
    return blob.rstrip(b"\n").split(b"\n")


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_untouched_bundle_verifies():
    bundle = read_bundle(_bundle(), trusted_keys=[public_key_of(SEED)])
    assert [r["id"] for r in bundle.records] == ["p-00", "p-01", "p-02"]


def _tamper_record(blob):
    lines = _lines(blob)
    lines[2] = (
        lines[2].replace(b"strangler-fig", b"strangler-fog").replace(b"big-bang", b"big-bong")
    )
    return _join(lines)


def _tamper_manifest(blob):
    lines = _lines(blob)
    lines[0] = lines[0].replace(b'"created_at":"2023', b'"created_at":"2024')
    return _join(lines)


def _drop_record(blob):
    lines = _lines(blob)
    del lines[2]
    return _join(lines)


def _add_record(blob):
    lines = _lines(blob)
    lines.insert(2, lines[1])
    return _join(lines)


def _swap_records(blob):
    lines = _lines(blob)
    lines[1], lines[2] = lines[2], lines[1]
    return _join(lines)


def _resign_with_other_key(blob):
    """An attacker edits a record, rebuilds the manifest and signs with their own key."""
    records = [json.loads(line) for line in _lines(blob)[1:-1]]
    records[0]["strategy"] = "rm -rf /"
    return _bundle(records, seed=OTHER)


def _strip_signature(blob):
    return _join(_lines(blob)[:-1])


def _forge_signature(blob):
    lines = _lines(blob)
    sig = json.loads(lines[-1])
    sig["signature"] = "00" * 64
    lines[-1] = json.dumps(sig).encode()
    return _join(lines)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_tamper_record, "record 2 .* does not match its SHA-256"),
        (_tamper_manifest, "signature does not verify"),
        (_drop_record, "holds 2 records but its signed manifest lists 3"),
        (_add_record, "holds 4 records but its signed manifest lists 3"),
        (_swap_records, "record 1 .* does not match"),
        (_resign_with_other_key, "a key this bank does not trust"),
        (_strip_signature, "not signed|damaged"),
        (_forge_signature, "signature does not verify"),
        (lambda b: b[: len(b) // 2], "damaged|not signed|not valid JSON"),
        (lambda b: b"", "not a ReasoningBank bundle"),
    ],
    ids=[
        "record-edited", "manifest-edited", "record-removed", "record-added", "records-swapped",
        "resigned-by-other-key", "signature-stripped", "signature-forged", "truncated", "empty",
    ],
)  # fmt: skip
def test_tampered_bundles_are_refused(tamper, message):
    with pytest.raises(ImportFailed, match=message):
        read_bundle(tamper(_bundle()), trusted_keys=[public_key_of(SEED)])


def test_refused_bundle_stores_nothing(tmp_path):
    out = tmp_path / "evil.rbundle"
    out.write_bytes(_tamper_record(_bundle()))

    async def go():
        bank = await ReasoningBank.open(str(tmp_path / "b.db"))
        await bank.store_pattern(
            {"id": "mine", "task_description": "keep me", "task_category": "c", "strategy": "s",
             "success_score": 0.5}
        )  # fmt: skip
        with pytest.raises(ImportFailed, match="refusing"):
            await import_file(bank, out)
        ids = [p.id for p in await bank.all_patterns()]
        await bank.close()
        return ids

    assert run(go()) == ["mine"]


def test_newer_bundle_versions_are_refused_with_a_hint():
    lines = _lines(_bundle())
    lines[0] = lines[0].replace(b'"bundle_version":1', b'"bundle_version":9')
    with pytest.raises(ImportFailed, match="upgrade reasoningbank"):
        read_bundle(_join(lines))


def test_signature_is_domain_separated():
    """The signature covers a bundle-specific tag, so it cannot be replayed elsewhere."""
    blob = _bundle()
    sig = bytes.fromhex(json.loads(_lines(blob)[-1])["signature"])
    import hashlib

    from reasoningbank.bundle import ed25519_verify

    digest = hashlib.sha256(_lines(blob)[0]).digest()
    assert ed25519_verify(public_key_of(SEED), sig, BUNDLE_TAG + digest)
    assert not ed25519_verify(public_key_of(SEED), sig, digest)


def test_identity_is_stable_private_and_shared_with_the_bus(tmp_path):
    db = str(tmp_path / "a.db")
    first = identity(db)
    assert identity(db) == first
    key_file = Path(db + ".key")
    assert key_file.exists()
    if os.name == "posix":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    from reasoningbank.bus.keys import load_or_create_seed

    assert load_or_create_seed(db) == first
    assert public_key_of(first) in trusted_keys(db)


def test_export_jsonl_round_trips_through_import(tmp_path):
    src, dst, out = str(tmp_path / "a.db"), str(tmp_path / "b.db"), str(tmp_path / "a.jsonl")

    async def go():
        bank = await _bank_with_history(src)
        before = _snapshot(await bank.all_patterns())
        await export_jsonl(bank, out)
        await bank.close()
        target = await ReasoningBank.open(dst)
        report = await import_file(target, out)
        after = _snapshot(await target.all_patterns())
        await target.close()
        return before, after, report

    before, after, report = run(go())
    assert report.format == "jsonl"
    assert after == before  # our own JSONL keeps its vectors too


# -- CLI: export, import, trust --------------------------------------------------------------
def _cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_export_then_import_into_another_bank(tmp_path, capsys):
    src, dst, out = str(tmp_path / "a.db"), str(tmp_path / "b.db"), str(tmp_path / "a.rbundle")

    async def seed():
        bank = await _bank_with_history(src)
        await bank.close()

    run(seed())
    assert _cli(["export", out, "--db", src, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 12 and summary["format"] == "bundle"
    # another bank does not trust this key yet: refused, with the way out in the message
    assert _cli(["import", out, "--db", dst]) == 1
    err = capsys.readouterr().err
    assert "does not trust" in err and "trust add" in err and summary["public_key"] in err
    # the same bank trusts its own key: restoring a backup works
    assert _cli(["import", out, "--db", src]) == 0
    assert "skipped 12: already in the bank" in capsys.readouterr().out
    # explicit consent
    assert _cli(["import", out, "--db", dst, "--trust-signer"]) == 0
    assert "imported 12" in capsys.readouterr().out
    # or trust the key, as `reasoningbank trust add KEY` does
    from reasoningbank.bus.keys import TrustList

    third = str(tmp_path / "c.db")
    TrustList.load(third).add(bytes.fromhex(summary["public_key"]), label="a")
    assert _cli(["import", out, "--db", third]) == 0
    assert "imported 12" in capsys.readouterr().out


def test_cli_export_jsonl(tmp_path, capsys):
    src, out = str(tmp_path / "a.db"), tmp_path / "a.jsonl"

    async def seed():
        bank = await _bank_with_history(src)
        await bank.close()

    run(seed())
    assert _cli(["export", str(out), "--db", src, "--format", "jsonl"]) == 0
    assert "exported 12 patterns" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 12


def test_record_lines_are_the_bus_canonical_pattern_lines():
    """A bundle's records are byte-identical to the pattern lines of a neural-bus snapshot."""
    from reasoningbank.bus.provenance import canonical_json

    patterns = _varied_patterns()[:3]
    lines = _lines(_bundle(patterns))[1:-1]
    assert lines == [canonical_json(p) for p in patterns]


def test_exported_files_are_private_and_never_written_through_a_link(tmp_path, capsys):
    src = str(tmp_path / "a.db")

    async def seed():
        bank = await _bank_with_history(src)
        await bank.close()

    run(seed())
    for fmt, name in (("bundle", "a.rbundle"), ("jsonl", "a.jsonl")):
        out = tmp_path / name
        assert _cli(["export", str(out), "--db", src, "--format", fmt]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "link.rbundle").symlink_to(victim)
    assert _cli(["export", str(tmp_path / "link.rbundle"), "--db", src]) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "keep me"


def test_export_of_a_missing_bank_creates_nothing(tmp_path, capsys):
    assert _cli(["export", str(tmp_path / "out.rbundle"), "--db", str(tmp_path / "typo.db")]) == 1
    assert "no bank at" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []

"""Identity files (0600, created once), trust lists, key rotation statements."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from reasoningbank.bus.errors import LocalBusError
from reasoningbank.bus.keys import (
    TrustList,
    accept_rotation,
    identity_path,
    load_or_create_seed,
    parse_key,
    rotate_identity,
)
from reasoningbank.bus.signers import NaclSigner

from .helpers import VERIFIER


def test_identity_is_created_once_with_owner_only_rights(tmp_path):
    db = str(tmp_path / "bank.db")
    seed = load_or_create_seed(db)
    path = identity_path(db)
    assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_seed(db) == seed and len(seed) == 32


def test_memory_bank_gets_an_ephemeral_identity(tmp_path):
    assert identity_path(":memory:") is None
    assert load_or_create_seed(":memory:") == load_or_create_seed(":memory:")
    assert not list(tmp_path.iterdir())


def test_corrupt_identity_file_is_an_error_not_replaced(tmp_path):
    db = str(tmp_path / "bank.db")
    identity_path(db).write_text("not hex\n")
    with pytest.raises(LocalBusError):
        load_or_create_seed(db)
    assert identity_path(db).read_text() == "not hex\n"


def test_trust_list_persists(tmp_path):
    db = str(tmp_path / "bank.db")
    key = NaclSigner(bytes(32)).public_key
    trust = TrustList.load(db)
    assert trust.add(key, "alice", now=1.0) and not trust.add(key)
    again = TrustList.load(db)
    assert again.keys == {key.hex(): {"label": "alice", "added_at": 1.0}}
    assert again.as_set(own=b"\x01" * 32) == {key, b"\x01" * 32}
    assert again.remove(key) and not TrustList.load(db).keys


def test_bad_keys_and_trust_files_are_refused(tmp_path):
    with pytest.raises(LocalBusError):
        parse_key("abc")
    db = str(tmp_path / "bank.db")
    (tmp_path / "bank.db.trust.json").write_text("[]")
    with pytest.raises(LocalBusError):
        TrustList.load(db)


def test_rotation_statement_adds_the_new_key_for_peers_that_trust_the_old(tmp_path):
    alice_db, bob_db = str(tmp_path / "alice.db"), str(tmp_path / "bob.db")
    old = NaclSigner(load_or_create_seed(alice_db)).public_key
    bob_trust = TrustList.load(bob_db)
    bob_trust.add(old, "alice")
    statement = rotate_identity(alice_db, now=5.0)
    new = NaclSigner(load_or_create_seed(alice_db)).public_key
    assert statement["old"] == old.hex() and statement["new"] == new.hex() and new != old
    assert (tmp_path / "alice.db.key.1.old").exists()
    assert stat.S_IMODE(os.stat(identity_path(alice_db)).st_mode) == 0o600
    assert accept_rotation(json.loads(json.dumps(statement)), bob_trust, VERIFIER) == new
    assert {old, new} <= TrustList.load(bob_db).as_set()


def test_forged_or_unrelated_rotation_is_refused(tmp_path):
    db = str(tmp_path / "a.db")
    load_or_create_seed(db)
    statement = rotate_identity(db)
    trust = TrustList.load(str(tmp_path / "b.db"))
    with pytest.raises(LocalBusError):
        accept_rotation(statement, trust, VERIFIER)  # old key not trusted
    trust.add(bytes.fromhex(statement["old"]))
    forged = dict(statement, new=NaclSigner(b"\x05" * 32).public_key.hex())
    with pytest.raises(LocalBusError):
        accept_rotation(forged, trust, VERIFIER)
    with pytest.raises(LocalBusError):
        accept_rotation({"old": 1}, trust, VERIFIER)


def test_identity_and_trust_live_in_store_meta_for_fileless_banks():
    import asyncio

    from reasoningbank.bus.keys import save_store_trust, store_identity, store_trust

    class MetaStore:  # the Store protocol's meta half, as IndexedDB provides it
        def __init__(self):
            self.meta = {}

        async def get_meta(self, key):
            return self.meta.get(key)

        async def set_meta(self, key, value):
            self.meta[key] = value

    async def go():
        store = MetaStore()
        seed = await store_identity(store)
        assert await store_identity(store) == seed and len(seed) == 32
        trust = await store_trust(store)
        trust.add(NaclSigner(seed).public_key, "me", now=1.0)  # no file: save explicitly
        await save_store_trust(store, trust)
        again = await store_trust(store)
        assert again.as_set() == {NaclSigner(seed).public_key}
        store.meta["bus.trust"] = "{broken"
        with pytest.raises(LocalBusError):
            await store_trust(store)

    asyncio.run(go())


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_leaves_no_key_and_the_next_run_makes_one(tmp_path, monkeypatch):
    """The key is written whole or not at all: a failed write must not leave an empty file."""
    db = str(tmp_path / "bank.db")
    with monkeypatch.context() as m:
        m.setattr(os, "write", _no_space)
        with pytest.raises(LocalBusError, match="No space left on device"):
            load_or_create_seed(db)
    assert list(tmp_path.iterdir()) == []
    seed = load_or_create_seed(db)
    assert load_or_create_seed(db) == seed


def test_a_full_disk_during_rotation_keeps_the_old_key(tmp_path, monkeypatch):
    db = str(tmp_path / "bank.db")
    old = load_or_create_seed(db)
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", _no_space)
        with pytest.raises(LocalBusError, match="No space left on device"):
            rotate_identity(db)
    assert load_or_create_seed(db) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.db.key"]


def test_an_empty_key_file_is_a_clear_error_with_a_hint(tmp_path):
    db = str(tmp_path / "bank.db")
    identity_path(db).write_text("")
    with pytest.raises(LocalBusError, match="is empty .*move it aside"):
        load_or_create_seed(db)
    identity_path(db).write_bytes(b"\xff\xfe" * 40)
    with pytest.raises(LocalBusError, match="not an identity file"):
        load_or_create_seed(db)


def test_a_key_is_never_read_or_written_through_a_symlink(tmp_path):
    db = str(tmp_path / "bank.db")
    elsewhere = tmp_path / "elsewhere"
    identity_path(db).symlink_to(elsewhere)  # dangling: creating would write the target
    with pytest.raises(LocalBusError, match="symbolic link"):
        load_or_create_seed(db)
    assert not elsewhere.exists()
    elsewhere.write_text("ab" * 32 + "\n")  # someone else's key: not silently adopted
    with pytest.raises(LocalBusError, match="symbolic link"):
        load_or_create_seed(db)
    with pytest.raises(LocalBusError, match="symbolic link"):
        rotate_identity(db)
    assert elsewhere.read_text() == "ab" * 32 + "\n"


def test_identity_in_a_missing_folder_is_an_error_and_makes_no_folder(tmp_path):
    db = str(tmp_path / "missing" / "bank.db")
    with pytest.raises(LocalBusError, match="does not exist"):
        load_or_create_seed(db)
    assert not (tmp_path / "missing").exists()


def test_trust_list_is_owner_only_and_never_written_through_a_planted_symlink(tmp_path):
    db = str(tmp_path / "bank.db")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "bank.db.trust.json.tmp").symlink_to(victim)
    TrustList.load(db).add(b"\x01" * 32, "x")
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(os.stat(tmp_path / "bank.db.trust.json").st_mode) == 0o600
    link = tmp_path / "other.db.trust.json"
    link.symlink_to(victim)
    with pytest.raises(LocalBusError, match="symbolic link"):
        TrustList(link).add(b"\x02" * 32)
    assert victim.read_text() == "precious\n"


def test_a_deeply_nested_trust_file_is_refused_cleanly(tmp_path):
    db = str(tmp_path / "bank.db")
    (tmp_path / "bank.db.trust.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LocalBusError, match="not a trust list"):
        TrustList.load(db)

"""The bank file itself: private modes, no silent creation, full disks, read-only mounts."""

import os
import shutil
import sqlite3
import stat
import subprocess
import uuid

import pytest

from reasoningbank import NoBank, ReadOnlyBank, ReasoningBank, StorageError
from tests.conftest import pattern, run


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_bank_wal_and_shm_files_are_private(tmp_path):
    path = str(tmp_path / "bank.db")
    old = os.umask(0o022)
    try:

        async def go():
            bank = await ReasoningBank.open(path)
            await bank.store_pattern(pattern("private by default"))
            modes = {name: _mode(path + name) for name in ("", "-wal", "-shm")}
            await bank.close()
            return modes

        assert run(go()) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
    finally:
        os.umask(old)
    assert [n for n in os.listdir(tmp_path) if n.endswith(".new")] == []  # no temp left


def test_open_without_create_refuses_a_missing_bank_and_creates_nothing(tmp_path):
    path = str(tmp_path / "typo.db")
    with pytest.raises(NoBank, match="no bank at"):
        run(ReasoningBank.open(path, create=False))
    assert os.listdir(tmp_path) == []


def test_missing_parent_folder_is_an_error_not_created(tmp_path):
    path = str(tmp_path / "missing" / "bank.db")
    with pytest.raises(StorageError, match="does not exist"):
        run(ReasoningBank.open(path))
    assert not (tmp_path / "missing").exists()


def test_full_disk_says_disk_full_and_keeps_what_was_stored(tmp_path):
    path = str(tmp_path / "bank.db")

    async def fill() -> tuple[int, str]:
        bank = await ReasoningBank.open(path, dedup_threshold=None)
        stored = 0
        store = bank._store
        store._conn.execute(f"PRAGMA max_page_count = {store._pragma('page_count') + 4}")
        try:
            for i in range(10_000):
                await bank.store_pattern(pattern(f"filler task {i} " + "x" * 2000))
                stored += 1
        except StorageError as exc:
            return stored, str(exc)
        finally:
            await bank.close()
        raise AssertionError("the disk never filled")

    stored, message = run(fill())
    assert "disk full" in message and "rollback" not in message
    assert "\n" not in message

    async def count() -> int:
        async with await ReasoningBank.open(path) as bank:
            return (await bank.get_stats())["total_patterns"]

    assert run(count()) == stored > 0


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder holding a bank that cannot be written: a read-only mount when we are root
    (permissions do not stop root), else plain read-only permissions."""
    if os.geteuid() != 0:
        yield tmp_path, lambda: os.chmod(tmp_path, 0o555)
        os.chmod(tmp_path, 0o755)
        return
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here to make a read-only file system")
    try:

        def freeze() -> None:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)

        yield mount, freeze
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_bank_on_a_read_only_mount_opens_for_reads(read_only_folder):
    folder, freeze = read_only_folder
    path = str(folder / "bank.db")

    async def make() -> str:
        async with await ReasoningBank.open(path) as bank:
            return await bank.store_pattern(pattern("cache the session tokens"))

    pid = run(make())
    freeze()

    async def read():
        bank = await ReasoningBank.open(path)
        try:
            found = await bank.find_similar("session tokens")
            stats = await bank.get_stats()
            with pytest.raises(ReadOnlyBank, match="read-only"):
                await bank.store_pattern(pattern("anything new"))
            with pytest.raises(ReadOnlyBank):
                await bank.record_outcome(pid, success=True)
            return [m.pattern.id for m in found], stats["total_patterns"]
        finally:
            await bank.close()

    assert run(read()) == ([pid], 1)


def test_a_copy_of_a_bank_with_its_wal_opens_read_only(read_only_folder):
    """A bank copied with its -wal (as backups often are) onto read-only media still opens."""
    folder, freeze = read_only_folder
    src = str(folder.parent / f"src-{uuid.uuid4().hex}.db")

    async def make() -> None:
        bank = await ReasoningBank.open(src)
        await bank.store_pattern(pattern("kept in the write-ahead log"))
        shutil.copy(src, folder / "bank.db")
        for suffix in ("-wal", "-shm"):
            if os.path.exists(src + suffix):
                shutil.copy(src + suffix, str(folder / "bank.db") + suffix)
        await bank.close()

    run(make())
    freeze()

    async def read() -> int:
        async with await ReasoningBank.open(str(folder / "bank.db")) as bank:
            return (await bank.get_stats())["total_patterns"]

    assert run(read()) == 1
    conn = sqlite3.connect(str(folder / "bank.db"))
    try:
        with pytest.raises(sqlite3.Error):  # the file system really is read-only
            conn.execute("CREATE TABLE x (y)")
    finally:
        conn.close()

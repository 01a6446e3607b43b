"""The IndexedDB store's chunk layout inside Pyodide (Node with fake-indexeddb, Chromium,
Firefox): a batch is one value, updates and deletes of chunked records, changes() between
connections, compaction, upgrade of a schema-2 database, an aborted batch, and a bank
adopting the page's read-ahead."""

from __future__ import annotations

import uuid
from pathlib import Path

from test_pyodide_core import CHECKS

HERE = Path(__file__).parent
IDB = CHECKS + (HERE / "idb_checks.py").read_text(encoding="utf-8")
# The schema-2 idb.js (one value per record), kept to write databases in the old layout.
SCHEMA2_JS = (HERE / "idb_schema2.js").read_text(encoding="utf-8")


def run_idb(selenium, call: str):  # type: ignore[no-untyped-def]
    return selenium.run_async(IDB + f"\nawait {call}\n")


def name(selenium) -> str:  # type: ignore[no-untyped-def]
    return f"chunks-{selenium.browser}-{uuid.uuid4().hex[:8]}"


def test_chunked_batch_round_trip(rb):
    assert run_idb(rb, f"check_idb_chunked_round_trip({name(rb)!r})") == "ok"


def test_update_of_a_chunked_record(rb):
    assert run_idb(rb, f"check_idb_update_chunked({name(rb)!r})") == "ok"


def test_delete_of_a_chunked_record(rb):
    assert run_idb(rb, f"check_idb_delete_chunked({name(rb)!r})") == "ok"


def test_changes_across_connections_after_a_chunked_write(rb):
    assert run_idb(rb, f"check_idb_changes_after_chunked_write({name(rb)!r})") == "ok"


def test_migration_from_schema2(rb):
    assert run_idb(rb, f"check_idb_migration_from_schema2({name(rb)!r}, {SCHEMA2_JS!r})") == "ok"


def test_aborted_batch_leaves_nothing(rb):
    assert run_idb(rb, f"check_idb_aborted_batch({name(rb)!r})") == "ok"


def test_open_reads_the_numbers_in_js_as_python_would(rb):
    assert run_idb(rb, f"check_idb_open_reads_numbers_in_js({name(rb)!r})") == "ok"


def test_put_hands_over_what_the_chunk_indexes(rb):
    assert run_idb(rb, f"check_idb_put_heads_as_lines({name(rb)!r})") == "ok"


def test_a_bank_read_ahead_by_the_page_holds_what_was_committed_after(rb):
    assert run_idb(rb, f"check_idb_read_ahead({name(rb)!r})") == "ok"

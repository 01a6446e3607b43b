"""Ids the bank makes are time-ordered (version 7) UUIDs, ascending within a batch, so
SQLite's id b-tree appends instead of landing on a random page per store."""

import asyncio
import time
import uuid

from reasoningbank import ReasoningBank
from tests.conftest import pattern


def item(i: int) -> dict:
    return pattern(f"rotate tls certificates on host {i}", "ops", "staged rollout")


def test_made_ids_are_version_7_uuids_ascending_in_store_order(tmp_path):
    async def main():
        bank = await ReasoningBank.open(str(tmp_path / "b.db"), dedup_threshold=None)
        before = time.time_ns() // 1_000_000
        bulk = await bank.store_patterns([item(i) for i in range(500)])
        await asyncio.sleep(0.002)  # a later millisecond
        single = [await bank.store_pattern(item(i)) for i in range(3)]
        after = time.time_ns() // 1_000_000
        await bank.close()
        return bulk, single, before, after

    bulk, single, before, after = asyncio.run(main())
    for made in bulk + single:
        u = uuid.UUID(made)
        assert str(u) == made and u.version == 7 and u.variant == uuid.RFC_4122
        assert before <= u.int >> 80 <= after  # the Unix time in milliseconds
    assert bulk == sorted(bulk) and len(set(bulk)) == 500
    assert bulk[-1] < single[0]  # a later store's id sorts after
    assert len({u[14:] for u in bulk}) == 500  # 74 random bits apart from the time


def test_given_ids_are_kept(tmp_path):
    async def main():
        bank = await ReasoningBank.open(str(tmp_path / "b.db"))
        got = await bank.store_patterns([dict(item(1), id="zz-1"), dict(item(2), id="a")])
        await bank.close()
        return got

    assert asyncio.run(main()) == ["zz-1", "a"]


def test_a_single_store_id_draws_all_74_random_bits():
    """Every one of a version 7 UUID's random bits varies between ids (none masked out with
    the version and variant), and those stay fixed."""
    from reasoningbank.bank import _new_id

    values = [uuid.UUID(_new_id()).int for _ in range(2000)]
    varying = 0
    for bit in range(80):
        if len({v >> bit & 1 for v in values}) == 2:
            varying |= 1 << bit
    assert varying == 0xFFF << 64 | (1 << 62) - 1  # rand_a (12 bits), rand_b (62 bits)
    assert all(uuid.UUID(int=v).version == 7 and v >> 62 & 3 == 2 for v in values)

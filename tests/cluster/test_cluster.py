"""Hubs on a real 3-node NATS JetStream cluster: real nats-server processes, hubs as real
``reasoningbank hub --nats`` subprocesses, real bank sessions over WebSocket/WebTransport."""

from __future__ import annotations

import asyncio

from reasoningbank.bus.events import StreamDataReceived, StreamEnded, StreamOpened
from reasoningbank.bus.frames import FrameType

from .hubs import (
    HubProc,
    client,
    closed_with,
    converged_view,
    fresh_view,
    received,
    signed,
    wait_until,
)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 240))


def test_banks_on_two_hubs_see_each_others_patterns(nats_cluster):
    hub1, hub2 = HubProc(nats_cluster.urls), HubProc(nats_cluster.urls)
    try:
        assert "replicas 3" in "".join(hub1.lines)

        async def go():
            alice = await client(hub1.ws_url, "alice")
            bob = await client(hub2.ws_url, "bob")
            for n in range(20):
                alice.share(signed("alice", n))
                bob.share(signed("bob", n))
            await alice.sync(60)
            await bob.sync(60)
            mine_a = {f"alice-{n}" for n in range(20)}
            mine_b = {f"bob-{n}" for n in range(20)}
            # relayed live across hubs: each got the other's patterns without asking
            await wait_until(lambda: mine_b <= received(alice), what="bob's patterns on hub 1")
            await wait_until(lambda: mine_a <= received(bob), what="alice's patterns on hub 2")
            assert not mine_a & received(alice)  # a hub does not echo a push to its sender
            for view in (
                await fresh_view(hub1.ws_url, "carol"),
                await fresh_view(hub2.ws_url, "dave"),
            ):
                assert view == mine_a | mine_b
            hub1.stop()  # SIGTERM (as systemd stops it): its sessions are told, not dropped
            assert hub1.proc.returncode == 0
            await wait_until(lambda: alice.closed, what="the hub's goodbye")
            assert closed_with(alice).reason == "hub shutting down"
            await bob.close()

        run(go())
    finally:
        hub1.stop()
        hub2.stop()


def test_reasoning_streams_are_relayed_live_across_hubs(nats_cluster):
    hub1, hub2 = HubProc(nats_cluster.urls), HubProc(nats_cluster.urls)
    try:

        async def go():
            alice = await client(hub1.ws_url, "alice")
            bob = await client(hub2.ws_url, "bob")
            await asyncio.sleep(0.5)
            stream = alice.open_stream(FrameType.TOKEN, {"title": "thinking"})
            for i in range(5):
                alice.send_stream(stream, f"token {i} ".encode())
            alice.send_stream(stream, b"", end=True)
            await wait_until(
                lambda: any(isinstance(e, StreamEnded) for e in bob.events), what="stream end"
            )
            opened = next(e for e in bob.events if isinstance(e, StreamOpened))
            assert opened.meta["title"] == "thinking"
            assert opened.meta["origin"] == alice.peer.conn._signer.public_key.hex()
            data = b"".join(e.data for e in bob.events if isinstance(e, StreamDataReceived))
            assert data == b"".join(f"token {i} ".encode() for i in range(5))
            await alice.close()
            await bob.close()

        run(go())
    finally:
        hub1.stop()
        hub2.stop()


def test_killing_a_hub_mid_stream_loses_nothing_acknowledged(nats_cluster):
    hub1, hub2 = HubProc(nats_cluster.urls), HubProc(nats_cluster.urls)
    try:

        async def go():
            alice = await client(hub1.ws_url, "alice")
            bob = await client(hub1.ws_url, "bob")
            acknowledged: set[str] = set()
            shared: list[dict] = []
            n = 0
            while len(acknowledged) < 60:  # batches, each acknowledged by a completed sync
                batch = [signed("alice", n + i) for i in range(10)]
                n += 10
                for p in batch:
                    alice.share(p)
                shared += batch
                await alice.sync(60)
                acknowledged |= {p["id"] for p in batch}
            for i in range(40):  # mid-stream: pushes in flight, no sync acknowledged them
                p = signed("alice", n + i)
                shared.append(p)
                alice.share(p)
            hub1.kill()  # kill -9
            await wait_until(lambda: alice.closed and bob.closed, what="sessions to drop")
            # Nothing acknowledged is lost: a bank that never met hub 1 gets it all from hub 2.
            assert acknowledged <= await fresh_view(hub2.ws_url, "carol")
            # The peers reconnect to hub 2 and converge.
            alice = await client(hub2.ws_url, "alice")
            bob = await client(hub2.ws_url, "bob")
            for p in shared:
                alice.share(p)
            await alice.sync(60)
            await bob.sync(60)
            everything = {p["id"] for p in shared}
            assert everything <= received(bob)
            assert await fresh_view(hub2.ws_url, "dave") == everything
            await alice.close()
            await bob.close()

        run(go())
    finally:
        hub1.stop()
        hub2.stop()


def test_losing_one_nats_node_loses_nothing_and_it_rejoins(nats_cluster):
    hub1 = HubProc(nats_cluster.urls)
    hubs = [hub1]
    try:

        async def go():
            alice = await client(hub1.ws_url, "alice")
            for n in range(10):
                alice.share(signed("alice", n))
            await alice.sync(60)
            nats_cluster.nodes[0].kill()
            for n in range(10, 20):  # publishing goes on with two of three nodes
                alice.share(signed("alice", n))
            await alice.sync(60)
            # catch-up goes on: a hub started now folds the stream from the two live nodes
            hub2 = HubProc(nats_cluster.urls)
            hubs.append(hub2)
            assert "cluster: 20 patterns" in "".join(hub2.lines)
            assert len(await fresh_view(hub2.ws_url, "bob")) == 20
            # the node rejoins: once it is current, the cluster survives losing another one
            nats_cluster.nodes[0].start()
            await wait_current(nats_cluster, 3)
            nats_cluster.nodes[1].kill()
            for n in range(20, 30):
                alice.share(signed("alice", n))
            await alice.sync(60)
            assert len(await converged_view(hub2.ws_url, "carol", 30)) == 30
            await alice.close()

        run(go())
    finally:
        for hub in hubs:
            hub.stop()


async def wait_current(nats_cluster, replicas: int, timeout: float = 60.0) -> None:
    """Until the stream has ``replicas`` peers, all current (a restarted node caught up)."""
    import time

    import nats

    from reasoningbank.bus.aio.cluster import STREAM

    nc = await nats.connect(nats_cluster.urls.split(","), connect_timeout=2)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = await js.stream_info(STREAM)
                peers = [info.cluster.leader] + [r for r in info.cluster.replicas or []]
                current = [r for r in info.cluster.replicas or [] if r.current and not r.offline]
                if len(peers) == replicas and len(current) == replicas - 1:
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the restarted NATS node did not catch up")
            await asyncio.sleep(0.25)
    finally:
        await nc.close()


def test_with_nats_down_hubs_refuse_new_patterns_and_recover(nats_cluster, tmp_path):
    from reasoningbank.bus.errors import ErrorCode
    from reasoningbank.bus.journal import LOG_UNAVAILABLE

    from ..conftest import run_cli

    hub1, hub2 = HubProc(nats_cluster.urls), HubProc(nats_cluster.urls)
    try:

        async def before():
            alice = await client(hub1.ws_url, "alice")
            for n in range(5):
                alice.share(signed("alice", n))
            await alice.sync(60)
            await alice.close()

        run(before())
        for node in nats_cluster.nodes:
            node.kill()
        db = str(tmp_path / "bank.db")
        assert (
            run_cli(
                "--db",
                db,
                "store",
                "--task",
                "t",
                "--category",
                "c",
                "--strategy",
                "s",
                "--success",
            ).returncode
            == 0
        )

        async def down():
            await asyncio.sleep(2)
            # reading goes on from what the hub folded
            assert len(await fresh_view(hub2.ws_url, "bob")) == 5
            alice = await client(hub1.ws_url, "alice")
            alice.share(signed("alice", 5))
            await wait_until(lambda: alice.closed, what="the refusal")
            closed = closed_with(alice)
            assert closed is not None and closed.error_code == ErrorCode.OVERLOADED
            assert closed.reason == LOG_UNAVAILABLE

        run(down())
        cli = run_cli("--db", db, "sync", "--hub", hub2.ws_url)
        assert cli.returncode == 1
        assert cli.stderr.count("\n") == 1 and "NATS cluster is unreachable" in cli.stderr
        for node in nats_cluster.nodes:
            node.start()

        async def after():
            deadline = asyncio.get_running_loop().time() + 60
            while True:  # the hubs reconnect by themselves
                alice = await client(hub1.ws_url, "alice")
                alice.share(signed("alice", 5))
                try:
                    await alice.sync(60)
                    break
                except Exception:
                    assert asyncio.get_running_loop().time() < deadline, "no recovery"
                    await asyncio.sleep(1)
                finally:
                    await alice.close()
            assert len(await converged_view(hub2.ws_url, "carol", 6)) == 6

        run(after())
        assert run_cli("--db", db, "sync", "--hub", hub2.ws_url).returncode == 0
    finally:
        hub1.stop()
        hub2.stop()


def test_a_flood_through_two_hubs_stays_within_the_authors_quota(nats_cluster):
    import nats

    from reasoningbank.bus.aio.cluster import STREAM

    quota = ("--max-patterns-per-author", "10")
    hub1, hub2 = HubProc(nats_cluster.urls, *quota), HubProc(nats_cluster.urls, *quota)
    try:

        async def go():
            via1 = await client(hub1.ws_url, "mallory")
            via2 = await client(hub2.ws_url, "mallory")
            replayed = [signed("mallory", n) for n in range(6)]
            for p in replayed:  # the same patterns through both hubs: kept once
                via1.share(p)
                via2.share(p)
            for n in range(100, 130):  # then a flood, half through each hub
                (via1 if n % 2 else via2).share(signed("mallory", n))
            # over quota, mallory's syncs never settle: give them a moment, not a minute
            await asyncio.gather(via1.sync(5), via2.sync(5), return_exceptions=True)
            views = [
                await converged_view(hub1.ws_url, "carol", 10),
                await converged_view(hub2.ws_url, "dave", 10),
            ]
            assert len(views[0]) == 10 and views[0] == views[1]  # the same ten everywhere
            assert {p["id"] for p in replayed} <= views[0]
            # a hub started later folds the same stream into the same ten
            hub3 = HubProc(nats_cluster.urls, *quota)
            try:
                assert await fresh_view(hub3.ws_url, "erin") == views[0]
            finally:
                hub3.stop()
            nc = await nats.connect(nats_cluster.urls.split(","))
            info = await nc.jetstream().stream_info(STREAM)
            await nc.close()
            # the log itself holds the quota: replays deduplicated, over-quota pushes refused
            assert info.state.messages == 10, info.state.messages
            for c in (via1, via2):
                await c.close()

        run(go())
    finally:
        hub1.stop()
        hub2.stop()


def test_workers_share_one_port_and_are_supervised(nats_cluster):
    import os
    import re
    import signal

    hub = HubProc(nats_cluster.urls, "--workers", "2")
    try:
        banner = hub.wait_for_line(r"^workers: 2 processes")
        pids = [int(p) for p in re.search(r"pids ([\d, ]+)\)", banner).group(1).split(", ")]
        assert (
            hub.url and hub.cert_hash and hub.ws_url.rsplit(":", 1)[1] == hub.url.rsplit(":", 1)[1]
        )

        async def hub_keys(n: int) -> set[bytes]:
            keys = set()
            for i in range(n):  # each connection hashes to a worker by its 4-tuple
                c = await client(hub.ws_url, f"reader{i}")
                keys.add(c.peer.conn.peer_key)
                await c.close()
            return keys

        async def go():
            assert len(await hub_keys(16)) == 2  # both workers answer on the one port
            bob = await client(hub.ws_url, "bob")
            # QUIC connections (one pin for all workers) land on both workers, and each
            # stays on its worker: a connection moved to another would break mid-sync
            quic_keys = set()
            for i in range(12):
                alice = await client(hub.url, "alice", cert_hash=hub.cert_hash)
                quic_keys.add(alice.peer.conn.peer_key)
                alice.share(signed("alice", i))
                await alice.sync(60)
                await alice.close()
            assert len(quic_keys) == 2
            await wait_until(lambda: len(received(bob)) == 12, what="relay across workers")
            await bob.close()

        run(go())
        os.kill(pids[0], signal.SIGKILL)  # a dead worker is started again
        hub.wait_for_line(r"hub worker 1 restarted")
        hub.wait_for_line(r"^worker 1: hub key:")  # listening again
        assert len(run(hub_keys(16))) == 2
        pids.append(int(re.search(r"pid (\d+)", hub.wait_for_line("restarted")).group(1)))
        hub.stop(signal.SIGINT)  # Ctrl-C stops every worker
        assert hub.proc.returncode is not None
        for pid in pids:
            assert not _alive(pid), pid
    finally:
        hub.stop()


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too (its parent has not reaped it yet)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_need_nats():
    from ..conftest import run_cli

    out = run_cli("hub", "--workers", "2", "--open", "--port", "0")
    assert out.returncode == 1
    assert out.stderr == (
        "reasoningbank: error: --workers needs --nats: worker processes share their "
        "patterns through NATS\n"
    )


def test_hub_cluster_flags_fail_with_one_line(tmp_path):
    from ..conftest import run_cli
    from .natsnodes import free_ports

    cases = [
        (["--nats", "http://x"], "--nats http://x: give nats://HOST:PORT (comma-separated)"),
        (
            ["--nats", "nats://127.0.0.1:4222", "--store", str(tmp_path / "s.jsonl")],
            "--store and --nats: the NATS stream keeps the patterns; drop --store",
        ),
        (
            ["--nats", "nats://127.0.0.1:4222", "--workers", "0"],
            "--workers must be between 1 and 64",
        ),
        (["--budget", "0"], "--budget must be at least 1 spend unit per key per 60 s"),
    ]
    nobody = f"nats://127.0.0.1:{free_ports(1)[0]}"
    cases.append((["--nats", nobody], f"cannot reach NATS at {nobody}: no server answered in 10 s"))
    for flags, message in cases:
        out = run_cli("hub", "--open", "--port", "0", *flags)
        assert (out.returncode, out.stderr) == (1, f"reasoningbank: error: {message}\n"), flags


def test_one_nats_server_gets_a_single_replica_stream(nats_single):
    hub1, hub2 = HubProc(nats_single.urls), HubProc(nats_single.urls)
    try:
        assert "(replicas 1)" in "".join(hub1.lines)

        async def go():
            alice = await client(hub1.ws_url, "alice")
            alice.share(signed("alice", 1))
            await alice.sync(60)
            await alice.close()
            assert await converged_view(hub2.ws_url, "bob", 1) == {"alice-1"}

        run(go())
    finally:
        hub1.stop()
        hub2.stop()


class _Raw:
    """A WebSocket to a hub that sends exactly the bytes it is given."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.closed = False

    def feed(self, data: bytes) -> None:
        self.closed |= not data
        self.received += data

    def attach(self, write, close) -> None:
        self.write, self.close = write, close


def _events_from(received: bytes, name: str):
    import os
    import time

    from reasoningbank.bus.connection import Connection

    from ..bus.helpers import VERIFIER, signer_for

    conn = Connection(
        signer=signer_for(name), verifier=VERIFIER, is_client=True, nonce_source=os.urandom
    )
    conn.hello(time.time())
    conn.receive_data(bytes(received))
    events = []
    while (event := conn.next_event(time.time())) is not None:
        events.append(event)
    return events


def test_a_hello_recorded_on_one_hub_is_a_replay_on_another(nats_cluster):
    import os
    import time

    from reasoningbank.bus.aio.websocket import open_websocket
    from reasoningbank.bus.connection import Connection
    from reasoningbank.bus.errors import ErrorCode
    from reasoningbank.bus.events import HelloReceived, PeerClosed

    from ..bus.helpers import VERIFIER, signer_for

    hub1, hub2 = HubProc(nats_cluster.urls), HubProc(nats_cluster.urls)
    try:

        async def go():
            alice = Connection(
                signer=signer_for("alice"),
                verifier=VERIFIER,
                is_client=True,
                nonce_source=os.urandom,
            )
            alice.hello(time.time())
            recorded = alice.data_to_send()
            first = _Raw()
            await open_websocket(hub1.ws_url, first)
            first.write(recorded)
            await asyncio.sleep(1.0)  # hub 1 announces the HELLO it accepted
            replay = _Raw()
            await open_websocket(hub2.ws_url, replay)
            replay.write(recorded)
            await wait_until(lambda: replay.closed, what="hub 2 to refuse the replay")
            closed = [
                e for e in _events_from(replay.received, "alice") if isinstance(e, PeerClosed)
            ]
            assert closed and closed[0].error_code == ErrorCode.REPLAYED_NONCE, closed
            assert not first.closed  # the original session goes on
            events = _events_from(first.received, "alice")
            assert any(isinstance(e, HelloReceived) for e in events)
            first.close()

        run(go())
    finally:
        hub1.stop()
        hub2.stop()


def test_a_key_spending_on_one_hub_has_less_left_on_another(nats_cluster):
    """One spend budget per key for the whole cluster: what alice spent on hub 1 counts on
    hub 2, so she cannot multiply her budget by switching hubs."""
    import os
    import time

    from reasoningbank.bus.aio.websocket import open_websocket
    from reasoningbank.bus.connection import Connection
    from reasoningbank.bus.errors import ErrorCode
    from reasoningbank.bus.events import HelloReceived, PeerClosed

    from ..bus.helpers import VERIFIER, signer_for

    budget = 6  # units per 60 s: a HELLO and an empty gossip frame cost 1 each
    hub1 = HubProc(nats_cluster.urls, "--budget", str(budget))
    hub2 = HubProc(nats_cluster.urls, "--budget", str(budget))
    try:

        def alice() -> Connection:
            return Connection(
                signer=signer_for("alice"),
                verifier=VERIFIER,
                is_client=True,
                nonce_source=os.urandom,
            )

        async def spend(url: str, frames: int) -> _Raw:
            conn = alice()
            conn.hello(time.time())
            for _ in range(frames - 1):
                conn.send_json(time.time(), FrameType.GOSSIP, "gossip.insync", {})
            raw = _Raw()
            await open_websocket(url, raw)
            raw.write(conn.data_to_send())
            return raw

        async def go():
            first = await spend(hub1.ws_url, budget - 1)  # 5 of 6 units on hub 1
            await asyncio.sleep(1.5)  # hub 1 announces what it accepted
            assert not first.closed
            second = await spend(hub2.ws_url, 2)  # HELLO fits (6 of 6), the next does not
            await wait_until(lambda: second.closed, what="hub 2 to refuse alice's overspend")
            events = _events_from(second.received, "alice")
            assert any(isinstance(e, HelloReceived) for e in events)
            closed = [e for e in events if isinstance(e, PeerClosed)]
            assert closed and closed[0].error_code == ErrorCode.BUDGET_EXCEEDED, closed
            first.close()

        run(go())
    finally:
        hub1.stop()
        hub2.stop()

"""Cost of a hub cluster on paper: the sans-IO hubs of a cluster, simulated deterministically.

usage: python -m bench.hub_model [--hubs 10] [--sessions 100,500] [--patterns 20] [--json FILE]

``--hubs`` real ``Hub`` objects in cluster mode (``journal``), each with ``--sessions``
sessions (real client ``Connection``s: signed HELLOs both ways), share one in-memory log that
stands in for the NATS stream. A publisher on hub 0 shares ``--patterns`` signed patterns;
every hub folds each one from the log and relays it. Time is simulated and every random
choice is seeded, so the counts (signatures made and checked, frames encoded, writes and
bytes per hub and per session) are exact and repeat run to run; the CPU the hub logic takes
(no sockets) is measured on the side. Counts grow linearly with sessions, so two session
counts give the per-session slope used to extrapolate to 5,000 sessions per hub.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from reasoningbank.bus.connection import Connection
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.peer import BusPeer
from reasoningbank.bus.signers import NaclSigner, NaclVerifier

from .cluster import patterns as signed_patterns  # 20 authors

T0 = 1_800_000_000.0


class CountingSigner(NaclSigner):
    signs = 0

    def sign_sync(self, data: bytes) -> bytes:
        CountingSigner.signs += 1
        return super().sign_sync(data)


class CountingVerifier(NaclVerifier):
    checks = 0

    def verify_sync(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        CountingVerifier.checks += 1
        return super().verify_sync(public_key, signature, data)


def _key(rng: random.Random) -> CountingSigner:
    return CountingSigner(rng.randbytes(32))


class Cluster:
    """``hubs`` sans-IO hubs, their sessions, and the log between them."""

    def __init__(self, hubs: int, sessions: int, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.verifier = CountingVerifier()
        self.hubs = [
            Hub(
                signer=_key(self.rng),
                verifier=self.verifier,
                nonce_source=self.rng.randbytes,
                rng=random.Random(seed + h),
                journal=True,
            )
            for h in range(hubs)
        ]
        self.received = {(h, s): 0 for h in range(hubs) for s in range(sessions)}
        self.writes = dict.fromkeys(self.received, 0)
        for h, s in self.received:
            conn = Connection(
                signer=_key(self.rng),
                verifier=self.verifier,
                is_client=True,
                nonce_source=self.rng.randbytes,
            )
            self._handshake(self.hubs[h], (h, s), conn)
        self.publisher = BusPeer(
            signer=_key(self.rng),
            verifier=self.verifier,
            nonce_source=self.rng.randbytes,
            trusted=None,
            info={"authors": []},
        )
        self._handshake(self.hubs[0], "publisher", self.publisher.conn, self.publisher)
        self.log: list[bytes] = []

    def _handshake(self, hub: Hub, sid: Any, conn: Connection, peer: Any = None) -> None:
        hub.open_session(sid, T0)
        if peer is not None:
            peer.start(T0)
        else:
            conn.hello(T0)
        for _ in range(3):  # b"" would mean end of stream: only real bytes are fed
            if data := hub.data_to_send(sid):
                if peer is not None:
                    peer.receive_data(data, T0)
                else:
                    conn.receive_data(data)
                    while conn.next_event(T0) is not None:
                        pass
            if data := (peer.data_to_send() if peer is not None else conn.data_to_send()):
                hub.receive_data(sid, data, T0)
        assert not conn.closed, f"session {sid} did not open"
        hub.take_dirty()

    def share(self, pattern: dict[str, Any], now: float) -> float:
        """One pattern in through hub 0, out to every session; returns hub CPU seconds."""
        self.publisher.share(pattern, now)
        data = self.publisher.data_to_send()
        t0 = time.process_time()
        self.hubs[0].receive_data("publisher", data, now)
        for hub in self.hubs:
            self.log += [body for *_, body in hub.journal.take_publish()]  # type: ignore[union-attr]
        entry = json.loads(self.log[-1])
        for hub in self.hubs:
            hub.journal.fold(entry, now)  # type: ignore[union-attr]
            for sid in hub.take_dirty():
                out = hub.data_to_send(sid)
                if sid in self.received and out:
                    self.received[sid] += len(out)
                    self.writes[sid] += 1
        return time.process_time() - t0


def measure(hubs: int, sessions: int, patterns: int) -> dict[str, Any]:
    t0 = time.process_time()
    cluster = Cluster(hubs, sessions)
    setup_s = time.process_time() - t0
    signs0, checks0 = CountingSigner.signs, CountingVerifier.checks
    cpu = 0.0
    for i, pattern in enumerate(signed_patterns(patterns, "model")):
        cpu += cluster.share(pattern, T0 + 1 + i)
    n = hubs * sessions
    return {
        "hubs": hubs,
        "sessions_per_hub": sessions,
        "patterns": patterns,
        "log_entries_per_pattern": len(cluster.log) / patterns,
        "signatures_per_pattern": (CountingSigner.signs - signs0) / patterns,
        "checks_per_pattern": (CountingVerifier.checks - checks0) / patterns,
        "writes_per_session_per_pattern": sum(cluster.writes.values()) / n / patterns,
        "bytes_per_session_per_pattern": sum(cluster.received.values()) / n / patterns,
        "hub_logic_cpu_ms_per_pattern_per_hub": round(cpu * 1000 / patterns / hubs, 2),
        "handshake_cpu_ms_per_session": round(setup_s * 1000 / n, 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.hub_model")
    ap.add_argument("--hubs", type=int, default=10)
    ap.add_argument("--sessions", default="100,500")
    ap.add_argument("--patterns", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    runs = [measure(args.hubs, int(s), args.patterns) for s in args.sessions.split(",")]
    out: dict[str, Any] = {"runs": runs}
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        slope = (
            b["hub_logic_cpu_ms_per_pattern_per_hub"] - a["hub_logic_cpu_ms_per_pattern_per_hub"]
        ) / (b["sessions_per_hub"] - a["sessions_per_hub"])
        fixed = a["hub_logic_cpu_ms_per_pattern_per_hub"] - slope * a["sessions_per_hub"]
        out["hub_logic_us_per_session_per_pattern"] = round(slope * 1000, 2)
        out["hub_logic_fixed_ms_per_pattern"] = round(fixed, 3)
        out["at_5000_sessions_ms_per_pattern_per_hub"] = round(fixed + slope * 5000, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))

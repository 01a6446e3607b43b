"""Test helpers: deterministic keys and nonces, ``BusPair`` (two connections over a fake link)."""

from __future__ import annotations

import random
from typing import Any

from reasoningbank.bus.connection import Connection
from reasoningbank.bus.events import BusEvent
from reasoningbank.bus.intents import Policy
from reasoningbank.bus.signers import NaclSigner, NaclVerifier

T0 = 1_700_000_000.0  # a fixed "now" (seconds) for every scripted test
TICK = 0.05  # seconds


def seed_for(name: str) -> bytes:
    return random.Random(name).randbytes(32)


def signer_for(name: str) -> NaclSigner:
    return NaclSigner(seed_for(name))


VERIFIER = NaclVerifier()


def nonces(seed: int = 0) -> Any:
    rng = random.Random(seed)
    return rng.randbytes


class BusPair:
    """A client and a server connection joined by a perfect in-memory link."""

    def __init__(
        self,
        client_policy: Policy | None = None,
        server_policy: Policy | None = None,
        **kw: Any,
    ) -> None:
        self.client_signer = signer_for("client")
        self.server_signer = signer_for("server")
        self.client = Connection(
            signer=self.client_signer, verifier=VERIFIER, is_client=True,
            nonce_source=nonces(1), policy=client_policy, info={"role": "client"}, **kw,
        )  # fmt: skip
        self.server = Connection(
            signer=self.server_signer, verifier=VERIFIER, is_client=False,
            nonce_source=nonces(2), policy=server_policy, info={"role": "server"}, **kw,
        )  # fmt: skip

    def transfer(self, now: float) -> tuple[list[BusEvent], list[BusEvent]]:
        """Move bytes both ways until quiet; return (client events, server events)."""
        cev: list[BusEvent] = []
        sev: list[BusEvent] = []
        for _ in range(100):
            a = self.client.data_to_send()
            b = self.server.data_to_send()
            if a:
                self.server.receive_data(a)
            if b:
                self.client.receive_data(b)
            got = drain(self.server, now, sev) + drain(self.client, now, cev)
            if not a and not b and not got:
                break
        return cev, sev

    def open(self, now: float = T0) -> None:
        self.client.hello(now)
        self.server.hello(now)
        self.transfer(now)


def drain(conn: Connection, now: float, into: list[BusEvent]) -> int:
    n = 0
    while (ev := conn.next_event(now)) is not None:
        into.append(ev)
        n += 1
    return n

"""A hub keeps relayed patterns across restarts; kept lines are re-verified on load."""

from __future__ import annotations

import copy
import json

from reasoningbank.bus.events import InSync, PatternAccepted
from reasoningbank.bus.hub import Hub
from reasoningbank.bus.hubstore import HubStore
from reasoningbank.bus.peer import BusPeer
from reasoningbank.bus.provenance import sign_pattern

from .helpers import T0, VERIFIER, make_pattern, nonces, signer_for

AUTHOR = signer_for("author")


def pump(hub, sid, peer):
    events = []
    for _ in range(20):
        data = peer.data_to_send()
        if not data:
            break
        hub.receive_data(sid, data, T0)
        events += peer.receive_data(hub.data_to_send(sid), T0)
    return events


def test_patterns_survive_a_hub_restart_and_bad_lines_are_dropped(tmp_path):
    path = tmp_path / "hub.jsonl"
    store = HubStore(path)
    kept = []

    def keep(_sid, event):
        if isinstance(event, PatternAccepted):
            store.append(event.pattern)
            kept.append(event.pattern_id)

    hub = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=nonces(1), on_event=keep)
    hub.open_session("a", T0)
    author = BusPeer(
        signer=AUTHOR, verifier=VERIFIER, nonce_source=nonces(2), trusted={AUTHOR.public_key}
    )
    author.start(T0)
    patterns = [sign_pattern(make_pattern("a", i), AUTHOR, T0) for i in range(3)]
    for p in patterns:
        author.share(p, T0)
    pump(hub, "a", author)
    store.close()
    assert len(kept) == 3 and len(path.read_text().splitlines()) == 3

    forged = copy.deepcopy(patterns[0])
    forged["strategy"] = "tampered on disk"
    with open(path, "a") as fh:
        fh.write(json.dumps(forged) + "\n")
        fh.write('{"torn": ')  # a crash mid-write

    hub2 = Hub(signer=signer_for("hub"), verifier=VERIFIER, nonce_source=nonces(3))
    assert hub2.preload(HubStore(path).load()) == 3
    hub2.open_session("b", T0)
    late = BusPeer(
        signer=signer_for("late"),
        verifier=VERIFIER,
        nonce_source=nonces(4),
        trusted={AUTHOR.public_key},
    )
    late.start(T0)
    late.request_sync(T0)
    events = pump(hub2, "b", late)
    assert any(isinstance(e, InSync) for e in events)
    assert set(late.gossip.ids()) == set(kept)

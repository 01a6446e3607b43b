"""Gossip unit behaviour: dedup, fanout, hop limit, seen TTL, anti-entropy, lying senders."""

from __future__ import annotations

import copy
import random

from reasoningbank.bus.events import InSync, PatternAccepted, PatternRejected
from reasoningbank.bus.gossip import GossipConfig, GossipNode, SeenCache
from reasoningbank.bus.provenance import canonical_json, pattern_id, sign_pattern

from .helpers import T0, VERIFIER, make_pattern, signer_for

AUTHOR = signer_for("author")
TRUST = {AUTHOR.public_key}


def node(fanout=3, max_hops=4, peers=10, seed=1):
    n = GossipNode(
        trusted=TRUST,
        rng=random.Random(seed),
        config=GossipConfig(fanout=fanout, max_hops=max_hops),
    )
    for p in range(peers):
        n.add_peer(p)
    return n


def push(pattern, hops=1):
    return {"hops": hops, "pattern": pattern}


P = sign_pattern(make_pattern("g", 1), AUTHOR, T0)


def test_new_pattern_is_stored_and_forwarded_to_fanout_peers_except_sender():
    n = node(fanout=3)
    out = n.handle_message(0, "gossip.push", push(P), T0, VERIFIER)
    assert [type(e) for e in out.events] == [PatternAccepted]
    targets = [m[0] for m in out.messages]
    assert len(targets) == 3 and 0 not in targets
    assert all(m[2]["hops"] == 2 for m in out.messages)


def test_duplicates_are_dropped_before_verification():
    n = node()
    n.handle_message(0, "gossip.push", push(P), T0, VERIFIER)

    class Exploding:
        def verify_sync(self, *a):
            raise AssertionError("duplicate was verified again")

    out = n.handle_message(1, "gossip.push", push(P), T0 + 1, Exploding())
    assert out.events == [] and out.messages == []


def test_hop_limit_stops_forwarding():
    n = node(max_hops=4)
    out = n.handle_message(0, "gossip.push", push(P, hops=4), T0, VERIFIER)
    assert isinstance(out.events[0], PatternAccepted) and out.messages == []


def test_rejected_patterns_are_not_forwarded_and_are_remembered_for_ttl():
    n = node()
    forged = copy.deepcopy(P)
    forged["strategy"] = "evil"
    out = n.handle_message(0, "gossip.push", push(forged), T0, VERIFIER)
    assert out.events == [PatternRejected("forged", 0)] and out.messages == []
    assert n.handle_message(1, "gossip.push", push(forged), T0 + 1, VERIFIER).events == []  # seen
    again = n.handle_message(1, "gossip.push", push(forged), T0 + n.config.seen_ttl + 1, VERIFIER)
    assert again.events == [PatternRejected("forged", 1)]  # TTL expired: checked again


def test_a_lying_sender_cannot_suppress_the_real_pattern():
    """Ids are computed by the receiver: a forgery never shares the real pattern's id."""
    n = node()
    forged = copy.deepcopy(P)
    forged["metadata"]["provenance"]["signature"] = "00" * 64
    n.handle_message(0, "gossip.push", push(forged), T0, VERIFIER)
    out = n.handle_message(1, "gossip.push", push(P), T0, VERIFIER)
    assert isinstance(out.events[0], PatternAccepted) and pattern_id(P) in n.store


def test_malformed_messages_are_reported_not_raised():
    n = node()
    for op, body in [
        ("gossip.push", {"hops": "x", "pattern": P}),
        ("gossip.push", {"hops": 1}),
        ("gossip.bogus", {}),
        ("gossip.digest", {"buckets": []}),
        ("gossip.want", {"ids": 3}),
        ("gossip.have", {"buckets": None}),
    ]:
        out = n.handle_message(0, op, body, T0, VERIFIER)
        assert out.events and isinstance(out.events[0], PatternRejected)


def test_anti_entropy_catches_up_an_offline_peer():
    a, b = node(fanout=None, peers=0), node(fanout=None, peers=0)
    a.add_peer("b")
    b.add_peer("a")
    for i in range(30):
        a.publish(sign_pattern(make_pattern("g", 100 + i), AUTHOR, T0), VERIFIER)
    queue = list(b.anti_entropy(T0, "a").messages)
    rounds = 0
    in_sync = []
    while queue:
        rounds += 1
        dst, op, body = queue.pop(0)
        src, target = ("b", a) if dst == "a" else ("a", b)
        out = target.handle_message(src, op, body, T0, VERIFIER)
        in_sync += [e for e in out.events if isinstance(e, InSync)]
        queue += out.messages
    assert b.ids() == a.ids() and len(b.ids()) == 30 and rounds == 1 + 1 + 1 + 30
    assert a.digest() == b.digest()
    digest = b.anti_entropy(T0, "a").messages[0]
    assert a.handle_message("b", digest[1], digest[2], T0, VERIFIER).events == [InSync("b")]


def test_seen_cache_expires_in_order_and_is_bounded():
    cache = SeenCache(ttl=10, capacity=3)
    for i, key in enumerate("abcd"):
        cache.add(key, T0 + i)
    assert len(cache) <= 4
    assert not cache.seen("a", T0 + 11) and cache.seen("d", T0 + 11)


def test_store_cap_refuses_new_patterns_without_evicting():
    n = GossipNode(trusted=TRUST, rng=random.Random(0), config=GossipConfig(max_patterns=2))
    n.add_peer(0)
    ps = [sign_pattern(make_pattern("cap", i), AUTHOR, T0) for i in range(3)]
    for p in ps[:2]:
        n.handle_message(0, "gossip.push", push(p), T0, VERIFIER)
    out = n.handle_message(0, "gossip.push", push(ps[2]), T0, VERIFIER)
    assert out.events == [PatternRejected("full", 0)] and out.messages == []
    assert n.ids() == {pattern_id(p) for p in ps[:2]}
    assert n.publish(ps[2], VERIFIER).events == [PatternRejected("full", None)]


def test_a_peer_with_announced_authors_gets_only_their_patterns():
    other = signer_for("other author")
    n = GossipNode(trusted=None, rng=random.Random(0), config=GossipConfig(fanout=None))
    for p in ("picky", "all"):
        n.add_peer(p)
    n.set_interest("picky", frozenset({AUTHOR.public_key}))
    mine = sign_pattern(make_pattern("g", 50), AUTHOR, T0)
    theirs = sign_pattern(make_pattern("o", 51), other, T0)
    out = n.handle_message("src", "gossip.push", push(mine), T0, VERIFIER)
    assert sorted(m[0] for m in out.messages) == ["all", "picky"]
    out = n.handle_message("src", "gossip.push", push(theirs), T0, VERIFIER)
    assert [m[0] for m in out.messages] == ["all"]
    # catch-up: have lists and wants are filtered too
    have = n.handle_message("picky", "gossip.digest", {"buckets": {}}, T0, VERIFIER).messages[0][2]
    listed = {i for ids in have["buckets"].values() for i in ids}
    assert listed == {pattern_id(mine)}
    pushed = n.handle_message(
        "picky", "gossip.want", {"ids": [pattern_id(mine), pattern_id(theirs)]}, T0, VERIFIER
    )
    assert [m[2]["pattern"]["id"] for m in pushed.messages] == [mine["id"]]
    n.remove_peer("picky")
    assert "picky" not in n.interests


def _hub_with(n_patterns: int, **config) -> GossipNode:
    hub = GossipNode(trusted=None, rng=random.Random(0), config=GossipConfig(fanout=None, **config))
    for i in range(n_patterns):
        hub.publish(sign_pattern(make_pattern("many", i), AUTHOR, T0), VERIFIER)
    hub.add_peer("x")
    return hub


def test_aliased_bucket_keys_are_refused_without_work():
    """Regression: "05", " 5" and "+5" all parsed as bucket 5, so one ``have`` naming
    thousands of aliases made the node push bucket 5 thousands of times."""
    hub = _hub_with(300)
    bucket = next(iter(hub.digest()))
    aliases = {"0" + bucket: [], " " + bucket: [], "+" + bucket: [], bucket + " ": []}
    for key, value in aliases.items():
        for op in ("gossip.have", "gossip.digest"):
            out = hub.handle_message("x", op, {"buckets": {key: value}}, T0, VERIFIER)
            assert out.messages == [] and out.events == [PatternRejected("malformed", "x")]
    out = hub.handle_message("x", "gossip.have", {"buckets": {"256": []}}, T0, VERIFIER)
    assert out.events == [PatternRejected("malformed", "x")]
    out = hub.handle_message("x", "gossip.have", {"buckets": {bucket: []}}, T0, VERIFIER)
    pushes = [m for m in out.messages if m[1] == "gossip.push"]
    assert 0 < len(pushes) == len(hub._buckets[int(bucket)])


def test_one_have_is_answered_with_a_bounded_reply():
    hub = _hub_with(120, max_reply_bytes=20_000, max_ids_per_message=100)
    everything = {str(b): [] for b in range(256)}
    out = hub.handle_message("x", "gossip.have", {"buckets": everything}, T0, VERIFIER)
    size = sum(len(canonical_json(m[2]["pattern"])) for m in out.messages)
    assert 0 < size <= 20_000 and len(out.messages) < 120


def test_repeated_catch_up_requests_drain_the_peers_allowance():
    """A peer asking for everything over and over gets its burst, then only the refill."""
    hub = _hub_with(50, catchup_burst=60_000, catchup_rate=1_000)
    everything = {str(b): [] for b in range(256)}
    sent = 0
    for _ in range(20):
        out = hub.handle_message("x", "gossip.have", {"buckets": everything}, T0, VERIFIER)
        sent += sum(len(canonical_json(m[2]["pattern"])) for m in out.messages)
    assert 0 < sent <= 60_000
    out = hub.handle_message("x", "gossip.have", {"buckets": everything}, T0 + 30, VERIFIER)
    assert 0 < sum(len(canonical_json(m[2]["pattern"])) for m in out.messages) <= 30_000


def test_per_author_quotas_and_pattern_size_cap():
    hub = GossipNode(
        trusted=None,
        rng=random.Random(0),
        config=GossipConfig(max_patterns_per_author=2, max_pattern_bytes=2_000),
    )
    hub.add_peer(0)
    ps = [sign_pattern(make_pattern("quota", i), AUTHOR, T0) for i in range(3)]
    for p in ps[:2]:
        out = hub.handle_message(0, "gossip.push", push(p), T0, VERIFIER)
        assert isinstance(out.events[0], PatternAccepted)
    out = hub.handle_message(0, "gossip.push", push(ps[2]), T0, VERIFIER)
    assert out.events == [PatternRejected("quota", 0)] and len(hub.store) == 2
    other = signer_for("other")
    big = sign_pattern(make_pattern("big", 1, strategy="x" * 3_000), other, T0)
    out = hub.handle_message(0, "gossip.push", push(big), T0, VERIFIER)
    assert out.events == [PatternRejected("too-large", 0)]
    fine = sign_pattern(make_pattern("other", 1), other, T0)
    assert isinstance(hub.handle_message(0, "gossip.push", push(fine), T0, VERIFIER).events[0],
                      PatternAccepted)  # fmt: skip
    assert hub.author_usage[other.public_key][0] == 1


def test_byte_quota_per_author():
    hub = GossipNode(
        trusted=None, rng=random.Random(0), config=GossipConfig(max_bytes_per_author=1_500)
    )
    ps = [sign_pattern(make_pattern("bytes", i), AUTHOR, T0) for i in range(5)]
    reasons = [hub.publish(p, VERIFIER).events[0] for p in ps]
    kept = [e for e in reasons if isinstance(e, PatternAccepted)]
    assert 0 < len(kept) < 5 and PatternRejected("quota", None) in reasons
    assert hub.author_usage[AUTHOR.public_key][1] <= 1_500


def test_a_pattern_refused_as_untrusted_is_taken_once_its_author_is_trusted():
    """Patterns an author shared before a bank trusted it arrive when they are offered again
    after the trust change (not 10 minutes later, when the seen-cache forgets them)."""
    stranger = signer_for("stranger")
    theirs = sign_pattern(make_pattern("early", 7), stranger, T0)
    n = node(fanout=0)
    refused = n.handle_message(0, "gossip.push", push(theirs), T0, VERIFIER)
    assert [e.reason for e in refused.events] == ["untrusted"]
    n.trusted.add(stranger.public_key)
    n.trust_changed()
    again = n.handle_message(0, "gossip.push", push(theirs), T0 + 5, VERIFIER)
    assert [type(e) for e in again.events] == [PatternAccepted]


def test_an_untrusted_pattern_offered_again_is_not_verified_again():
    stranger = signer_for("stranger")
    theirs = sign_pattern(make_pattern("early", 7), stranger, T0)
    n = node(fanout=0)
    n.handle_message(0, "gossip.push", push(theirs), T0, VERIFIER)
    n.trust_changed()  # nothing new is trusted: the refusal stands
    assert n.handle_message(0, "gossip.push", push(theirs), T0 + 5, VERIFIER).events == []

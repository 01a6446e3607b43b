"""Deterministic simulation: hundreds of peers, seeded loss/reorder/dup/partitions, attackers."""

from __future__ import annotations

import copy
import random

from reasoningbank.bus.frames import Flags, Frame, FrameType, encode_frame
from reasoningbank.bus.gossip import GossipConfig
from reasoningbank.bus.intents import sign_frame
from reasoningbank.bus.provenance import canonical_json, pattern_id, sign_pattern

from .helpers import BusMesh, NetConfig, make_pattern, signer_for

N_PEERS = 200
N_AUTHORS = 20
PER_AUTHOR = 2


def _attack(mesh: BusMesh, attacker: int, victims: list[int], honest: list[dict], rng):
    """One round of hostile traffic from ``attacker`` to ``victims``."""
    node = mesh.nodes[attacker]
    outsider = signer_for(f"outsider-{rng.random()}")
    n = rng.randrange(1_000_000)
    # 1. a well-signed pattern by an untrusted author
    untrusted = sign_pattern(make_pattern("mallory", n), outsider, mesh.now)
    # 2. a pattern claiming a trusted author with a made-up signature
    forged = copy.deepcopy(honest[n % len(honest)])
    forged["id"] = f"forged-{n}"
    forged["metadata"]["provenance"]["signature"] = rng.randbytes(64).hex()
    # 3. an honest pattern with its content changed but its signature kept
    tampered = copy.deepcopy(honest[n % len(honest)])
    tampered["strategy"] = "exfiltrate the tokens"
    for victim in victims:
        for pattern in (untrusted, forged, tampered):
            mesh.send(attacker, victim, "gossip.push", {"hops": 0, "pattern": pattern})
        # 4. a frame whose own signature is garbage, carrying an honest-looking push
        good = sign_frame(
            node.signer,
            node.rng.randbytes(16),
            mesh.now,
            type=FrameType.GOSSIP,
            payload=canonical_json({"hops": 0, "pattern": untrusted}),
            op="gossip.push",
        )
        bad = Frame(
            type=good.type,
            payload=good.payload,
            flags=good.flags | Flags.NONE,
            intent=good.intent,
            signature=rng.randbytes(64),
        )
        mesh.send_raw(attacker, victim, encode_frame(bad))
    return {pattern_id(untrusted), pattern_id(forged), pattern_id(tampered)}


def test_two_hundred_peers_converge_and_forgeries_never_land():
    """Every honest peer ends with exactly the honest patterns despite loss, reordering,
    duplication, a partition and four kinds of forged traffic; no forgery is ever stored."""
    seed = 20261125
    rng = random.Random(seed)
    authors = [signer_for(f"author-{i}") for i in range(N_AUTHORS)]
    trusted = {a.public_key for a in authors}
    half = set(range(0, N_PEERS, 2))
    net = NetConfig(loss=0.1, dup=0.05, partitions=[(2.0, 12.0, half)])
    mesh = BusMesh(
        N_PEERS + 4, seed=seed, net=net, trusted=trusted, config=GossipConfig(fanout=3, max_hops=6)
    )
    attackers = list(range(N_PEERS, N_PEERS + 4))
    honest_nodes = list(range(N_PEERS))
    published: list[dict] = []
    bad_ids: set[str] = set()

    def publisher(author_idx: int, k: int):
        def go():
            p = make_pattern(f"a{author_idx}", k)
            signed = sign_pattern(p, authors[author_idx], mesh.now)
            published.append(signed)
            # the author runs on one honest node; nodes carry the author's key
            mesh.publish(author_idx * (N_PEERS // N_AUTHORS) + author_idx % 2, signed)

        return go

    def attack():
        if published:
            for a in attackers:
                bad_ids.update(_attack(mesh, a, rng.sample(honest_nodes, 6), published, rng))

    actions = [
        (rng.uniform(0, 15), publisher(i, k)) for i in range(N_AUTHORS) for k in range(PER_AUTHOR)
    ]
    actions += [(t / 2, attack) for t in range(1, 40)]
    during_partition: list[int] = []

    def snapshot_partition():
        # patterns published on one side must not have crossed yet
        sides = [
            {pid for i in half for pid in mesh.nodes[i].gossip.ids()},
            {pid for i in set(honest_nodes) - half for pid in mesh.nodes[i].gossip.ids()},
        ]
        during_partition.append(len(sides[0] ^ sides[1]))

    actions.append((11.9, snapshot_partition))
    mesh.run_until(30.0, anti_entropy=1.0, actions=actions)

    assert during_partition[0] > 0  # the partition really separated the halves
    expected = {pattern_id(p) for p in published}
    assert len(expected) == N_AUTHORS * PER_AUTHOR
    for i in honest_nodes:
        assert mesh.nodes[i].gossip.ids() == expected, f"peer {i} did not converge"
    assert bad_ids and not bad_ids & expected
    for node in mesh.nodes:
        assert not bad_ids & node.gossip.ids()
    # every attack was seen and refused for the right reason somewhere
    reasons = sum(
        (mesh.nodes[i].rejections for i in honest_nodes), start=type(mesh.nodes[0].rejections)()
    )
    assert reasons["untrusted"] > 0 and reasons["forged"] > 0
    assert mesh.frame_rejections["ForgedSignature"] > 0
    assert mesh.frame_rejections["ReplayedNonce"] > 0  # duplicated frames are replays


def test_simulation_is_deterministic():
    """Same seed, same network: identical traffic counts and stores."""

    def run():
        authors = [signer_for(f"author-{i}") for i in range(3)]
        mesh = BusMesh(
            30, seed=7, trusted={a.public_key for a in authors}, net=NetConfig(loss=0.2, dup=0.1)
        )
        actions = [
            (
                0.1 * i,
                (
                    lambda i=i: mesh.publish(
                        i, sign_pattern(make_pattern("d", i), authors[i], mesh.now)
                    )
                ),
            )
            for i in range(3)
        ]
        mesh.run_until(10.0, actions=actions)
        return mesh.sent, mesh.delivered, [sorted(n.gossip.ids()) for n in mesh.nodes]

    assert run() == run()

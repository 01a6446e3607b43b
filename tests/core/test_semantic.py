import socket

import pytest

from reasoningbank import ReasoningBank, cosine
from tests.conftest import pattern, run

pytest.importorskip("wordllama", reason="the [semantic] extra is installed by scripts/test.sh")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the semantic embedder tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_static_embedder_loads_offline_and_captures_meaning(no_network):
    from reasoningbank.semantic import StaticEmbedder

    embed = StaticEmbedder()
    a, b, c = (
        embed("refresh the oauth access token"),
        embed("renew authentication credentials"),
        embed("bake a chocolate cake"),
    )
    assert len(a) == 256
    assert abs(sum(x * x for x in a) - 1.0) < 1e-5
    assert cosine(a, b) > cosine(a, c) + 0.2


def finds_paraphrase_lexical_search_misses(embedder):
    """Shared with the browser asset's embedder (test_semantic_asset.py)."""

    async def go():
        async with await ReasoningBank.open(":memory:", embedder=embedder) as bank:
            await bank.store_patterns(
                [
                    pattern("renew expiring authentication credentials"),
                    pattern("bake a chocolate cake", category="kitchen"),
                    pattern("paint the fence", category="home"),
                ]
            )
            hits = await bank.find_similar("refresh oauth token", top_k=3)
            assert hits[0].pattern.task_description == "renew expiring authentication credentials"
            assert hits[0].parts["lexical"] == 0.0 and hits[0].parts["semantic"] > 0.2

    run(go())


def test_hybrid_bank_finds_paraphrases_lexical_search_misses(no_network):
    from reasoningbank.semantic import StaticEmbedder

    finds_paraphrase_lexical_search_misses(StaticEmbedder())

"""The browser's semantic embedder: pure-Python tokenizer, quantized asset, CLI, serving."""

import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from reasoningbank import ReasoningBank, cosine
from reasoningbank.errors import ReasoningBankError
from tests.conftest import pattern, run

pytest.importorskip("wordllama", reason="the [semantic] extra is installed by scripts/test.sh")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def asset() -> bytes:
    from reasoningbank.semantic import build_asset

    return build_asset()


@pytest.fixture(scope="module")
def embedder(asset):
    from reasoningbank.semantic_asset import AssetEmbedder

    return AssetEmbedder.from_bytes(asset)


def _texts() -> list[str]:
    """A few thousand varied strings: prose, code, markup, unicode, emoji, digits, whitespace
    runs, the tokenizer's special tokens, random characters."""
    out = [
        "", " ", "  ", "\n", "\t", "a", "<s>", "a<s>b", "</s></s>", "<unk>x", " <s> ", "▁",
        "▁▁a", "a▁b", "hello   world", "x\r\ny\n\n\nz", "emoji 😀👍🏽 family 👨‍👩‍👧",
        "日本語のテキスト", "Ünïcödé façade naïve", "12345 3.14159 1e-9 0xFF 1,000,000",
        "trailing   ", "   leading", "\u200b\u00a0nbsp", "<0x41>", "\x00nul", "x" * 300,
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
    ]  # fmt: skip
    words: list[str] = []
    for path in [ROOT / "README.md", *sorted((ROOT / "reasoningbank").glob("*.py"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            out.append(line)
            words += line.split()
    rng = random.Random(7)
    alphabet = [*"abcXYZ0189 .,;:!?'\"()[]{}<>/\\-_=+*&^%$#@~`|\t\n", "é", "ß", "中", "😀", "▁"]
    alphabet += ["\u0301", "<s>", "</s>", "<unk>", "  "]
    for _ in range(1500):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(0, 20))))
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))
    for _ in range(300):
        chars = "".join(chr(rng.randint(32, 0x2FFFF)) for _ in range(rng.randint(1, 12)))
        out.append(chars.encode("utf-8", "ignore").decode("utf-8"))
    out.append(base64.b64encode(rng.randbytes(3000)).decode())  # a long run without spaces
    return out


def test_tokenizer_gives_the_same_ids_as_tokenizers(embedder):
    from tokenizers import Tokenizer

    from reasoningbank.semantic import _files

    reference = Tokenizer.from_file(_files()[1])
    reference.no_padding()
    reference.no_truncation()
    texts = _texts()
    assert len(texts) > 3000
    wrong = [
        t
        for t in texts
        if embedder.tokenize(t) != reference.encode(t, add_special_tokens=False).ids
    ]
    assert not wrong, wrong[:5]


def test_tokenizing_long_runs_without_spaces_stays_fast(embedder):
    """Minified code, URLs or base64 are one BPE chunk: merging must not be quadratic."""
    blob = base64.b64encode(random.Random(3).randbytes(60_000)).decode()
    start = time.perf_counter()
    ids = embedder.tokenize(blob)
    assert time.perf_counter() - start < 3.0  # about 0.1 s; a quadratic merge takes minutes
    assert len(ids) > 20_000


def test_asset_round_trip(asset, embedder):
    from reasoningbank.semantic import ASSET_DIMS, _files, pack_asset
    from reasoningbank.semantic_asset import MAGIC, _parse

    assert asset.startswith(MAGIC) and len(asset) < 10_000_000
    header, vocab, merges, scales, table = _parse(asset)
    assert embedder.dims == header["dims"] == ASSET_DIMS
    assert embedder.name == f"wordllama-l2-supercat-{ASSET_DIMS}-int8"
    config = json.loads(Path(_files()[1]).read_text(encoding="utf-8"))["model"]
    assert {t: i for i, t in enumerate(vocab)} == config["vocab"]
    assert [f"{vocab[a]} {vocab[b]}" for a, b in merges] == config["merges"]
    header = {k: v for k, v in header.items() if k not in ("vocab", "merges")}
    assert pack_asset(header, vocab, merges, scales, table.tobytes()) == asset


def test_quantized_vectors_match_the_float_table(embedder):
    from reasoningbank.semantic import StaticEmbedder

    reference = StaticEmbedder()
    texts = [t for t in _texts()[:2000] if t.strip()]
    worst = min(cosine(embedder(t), reference(t)) for t in texts)
    assert worst >= 0.99, worst
    assert embedder("") == reference("")  # the fixed direction for empty text
    vec = embedder("refresh the oauth access token")
    assert len(vec) == 256 and abs(sum(x * x for x in vec) - 1.0) < 1e-9


def test_damaged_assets_are_refused_clearly(asset):
    from reasoningbank.semantic import pack_asset
    from reasoningbank.semantic_asset import AssetEmbedder, _parse

    header, vocab, merges, scales, table = _parse(asset)
    header = {k: v for k, v in header.items() if k not in ("vocab", "merges")}
    flipped = bytearray(asset)
    flipped[len(asset) // 2] ^= 0x40
    bad_merge = pack_asset(header, vocab, [(5, 6), *merges[1:]], scales, table.tobytes())
    for data in (
        b"",
        b"PK\x03\x04 a zip file",
        asset[:100],
        asset[:-1],
        asset + b"\0",
        bytes(flipped),
        bad_merge,  # valid checksum, but the merge makes no vocabulary token
    ):
        with pytest.raises(ReasoningBankError, match="semantic asset"):
            AssetEmbedder.from_bytes(data)


def test_cli_writes_the_asset(tmp_path, asset, capsys):
    from reasoningbank.cli import main

    out = tmp_path / "semantic.rbsem"
    assert main(["semantic-asset", str(out)]) == 0
    assert out.read_bytes() == asset
    assert "semantic.rbsem" in capsys.readouterr().out
    assert main(["semantic-asset", str(tmp_path / "small.rbsem"), "--dims", "64"]) == 0
    assert len((tmp_path / "small.rbsem").read_bytes()) < len(asset) // 3
    assert main(["semantic-asset", str(tmp_path / "x"), "--dims", "999"]) == 1


def test_embedder_needs_only_the_standard_library(tmp_path, asset, embedder):
    """As in Pyodide: no numpy, no tokenizers; same vectors as in this process."""
    path = tmp_path / "a.rbsem"
    path.write_bytes(asset)
    code = textwrap.dedent(f"""
        import json, sys
        for name in ("numpy", "tokenizers", "wordllama"):
            sys.modules[name] = None
        from reasoningbank.semantic_asset import AssetEmbedder
        e = AssetEmbedder.from_bytes(open({str(path)!r}, "rb").read())
        print(json.dumps(e("lazy load product images, then cache them")))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == embedder("lazy load product images, then cache them")


def test_hybrid_bank_with_the_asset_embedder_finds_paraphrases(embedder):
    from tests.core.test_semantic import finds_paraphrase_lexical_search_misses

    finds_paraphrase_lexical_search_misses(embedder)


def test_jsapi_semantic_option_opens_a_hybrid_bank(tmp_path, asset):
    from reasoningbank import jsapi

    path = tmp_path / "a.rbsem"
    path.write_bytes(asset)

    async def go():
        box = {}

        def done(key):
            return lambda out: box.update({key: json.loads(out)})

        async def invoke(handle, method, *args):
            box.clear()
            jsapi.dispatch(handle, method, json.dumps(args), done("ok"), done("err"))
            while not box:
                await asyncio.sleep(0)
            return box

        opened = await invoke(0, "open", {"db": ":memory:", "semantic": str(path)})
        handle = opened["ok"]
        texts = [pattern("renew expiring authentication credentials"), pattern("bake a cake")]
        await invoke(handle, "storePatterns", texts)
        found = (await invoke(handle, "findSimilar", "refresh oauth token", None, 2))["ok"]
        assert found[0]["pattern"]["task_description"].startswith("renew expiring")
        assert found[0]["parts"]["semantic"] > 0.2
        stats = (await invoke(handle, "getStats"))["ok"]
        assert stats["index"]["dense_dim"] == 256
        await invoke(handle, "close")
        missing = await invoke(0, "open", {"db": ":memory:", "semantic": str(tmp_path / "no")})
        assert missing["err"]["name"] == "ReasoningBankError"

    run(go())


def test_serve_builds_once_and_announces_the_asset(tmp_path, asset, monkeypatch):
    from reasoningbank import serve

    path = serve.semantic_asset(tmp_path)
    assert path is not None and path.read_bytes() == asset
    stamp = path.stat().st_mtime_ns
    assert serve.semantic_asset(tmp_path) == path and path.stat().st_mtime_ns == stamp
    try:
        serve.find_pyodide(fetch=False)
    except serve.ServeError:
        pytest.skip("no Pyodide runtime to serve (scripts/install-test-deps.sh)")
    monkeypatch.setattr(serve, "semantic_asset", lambda: path)
    server, url = serve.serve_in_thread(port=0)
    try:
        info = json.loads(urllib.request.urlopen(url + "build-info.json").read())
        assert info["semantic"].startswith("semantic/") and info["semantic"].endswith(".rbsem")
        assert not any("semantic" in p for p in info["precache"])
        assert urllib.request.urlopen(url + info["semantic"]).read() == asset
    finally:
        server.shutdown()
        server.server_close()
    server = serve.make_server(port=0, semantic=False)
    try:
        assert "semantic" not in json.loads(server.build_info)
    finally:
        server.server_close()


def test_no_semantic_extra_means_no_asset(monkeypatch, tmp_path):
    from reasoningbank import runtime, serve

    real = runtime.has_module
    monkeypatch.setattr(runtime, "has_module", lambda name: name != "wordllama" and real(name))
    assert serve.semantic_asset(tmp_path) is None
    assert not os.listdir(tmp_path)


def test_switching_embedders_keeps_every_pattern_and_vector(tmp_path, embedder):
    """A bank made without the embedder, reopened with it and then without it again: nothing
    is lost, old patterns stay findable (lexically), vectors stay stored."""
    db = str(tmp_path / "bank.db")

    async def go():
        async with await ReasoningBank.open(db) as bank:
            old = await bank.store_pattern(pattern("rotate tls certificates"))
        async with await ReasoningBank.open(db, embedder=embedder) as bank:
            new = await bank.store_pattern(pattern("renew expiring authentication credentials"))
            hits = {h.pattern.id: h for h in await bank.find_similar("rotate tls", top_k=5)}
            assert old in hits and "semantic" not in hits[old].parts
            hits = await bank.find_similar("refresh oauth token", top_k=1)
            assert hits[0].pattern.id == new and hits[0].parts["semantic"] > 0.2
        async with await ReasoningBank.open(db) as bank:
            assert (await bank.get_stats())["total_patterns"] == 2
            kept = await bank.get_pattern(new)
            assert kept is not None and kept.embedding is not None and len(kept.embedding) == 256
            assert (await bank.get_pattern(old)).embedding is None

    run(go())


def test_serve_goes_on_without_the_asset_when_it_cannot_be_built(monkeypatch, capsys):
    from reasoningbank import serve

    try:
        serve.find_pyodide(fetch=False)
    except serve.ServeError:
        pytest.skip("no Pyodide runtime to serve (scripts/install-test-deps.sh)")

    def broken() -> None:
        raise ReasoningBankError("wordllama is installed but lacks its weights")

    monkeypatch.setattr(serve, "semantic_asset", broken)
    server = serve.make_server(port=0)
    try:
        assert server.semantic is None and "semantic" not in json.loads(server.build_info)
    finally:
        server.server_close()
    assert "lacks its weights" in capsys.readouterr().err

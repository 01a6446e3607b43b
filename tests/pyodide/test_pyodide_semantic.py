"""The semantic embedder in Pyodide (Node, Chromium, Firefox): the asset parsed in pure Python
gives the CPython vectors, the hybrid bank ranks a paraphrase first, and the JS API's
``semantic`` option fetches the asset and opens a hybrid bank."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import semantic_checks
from web_modules import served_web_modules

pytest.importorskip("wordllama", reason="the asset is built from the [semantic] extra")

HERE = Path(__file__).resolve().parent
CHECKS = (HERE / "semantic_checks.py").read_text(encoding="utf-8")
ASSET = "rb-test-semantic.rbsem"


@pytest.fixture(scope="module")
def served_asset(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The asset, built from this installation, in the dist dir the test server serves (and
    reasoningbank.js beside it, for the JS API check); removed afterwards."""
    from reasoningbank.semantic import build_asset

    dist = Path(request.config.option.dist_dir)
    (dist / ASSET).write_bytes(build_asset())
    with served_web_modules(dist):
        yield dist / ASSET
    (dist / ASSET).unlink(missing_ok=True)


def reference(path: Path) -> dict:
    with ThreadPoolExecutor(1) as pool:
        coro = semantic_checks.check_semantic(str(path), ":memory:")
        return json.loads(pool.submit(asyncio.run, coro).result())


def test_asset_embedder_matches_cpython(rb, served_asset):
    loc = f"idb://sem-{rb.browser}-{uuid.uuid4().hex[:8]}"
    call = f"check_semantic({rb.base_url + '/' + ASSET!r}, {loc!r})"
    got = json.loads(rb.run_async(CHECKS + f"\nawait {call}\n"))
    want = reference(served_asset)
    print(f"\n{rb.browser}: ms {got['ms']} (CPython {want['ms']})", file=sys.stderr)
    assert got["name"] == want["name"] and got["dims"] == want["dims"] == 256
    assert got["tokens"] == want["tokens"]
    for a, b in zip(got["vectors"], want["vectors"], strict=True):
        assert len(a) == len(b) == 256
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6
    assert got["ranked"][0][0] == want["ranked"][0][0] == "p0"  # the paraphrase, no shared word
    assert got["ranked"][0][1] == 0.0 and got["ranked"][0][2] > 0.2
    assert [r[0] for r in got["ranked"]] == [r[0] for r in want["ranked"]]


@pytest.mark.browser_only
def test_js_api_semantic_option(rb, served_asset):
    out = rb.run_js(
        f"""
        const base = {rb.base_url!r};
        const wheels = {json.dumps([p.name for p in served_asset.parent.glob("reasoningbank-*.whl")])};
        const {{ ReasoningBank }} = await import(`${{base}}/reasoningbank.js`);
        const rb = await ReasoningBank.load({{
          db: ":memory:", semantic: "{ASSET}", pyodide,
          indexURL: `${{base}}/`, wheelURL: `${{base}}/${{wheels[0]}}`,
        }});
        await rb.storePatterns([
          {{ task_description: "renew expiring authentication credentials",
             task_category: "auth", strategy: "s", success_score: 0.8 }},
          {{ task_description: "bake a chocolate cake", task_category: "kitchen",
             strategy: "s", success_score: 0.8 }},
        ]);
        const hits = await rb.findSimilar("refresh oauth token", null, 2);
        const stats = await rb.getStats();
        // A second bank reuses the fetched asset and its parsed embedder.
        const again = await ReasoningBank.load({{ db: ":memory:", semantic: "{ASSET}" }});
        await again.storePattern({{ task_description: "x y", task_category: "c", strategy: "s",
                                   success_score: 1 }});
        const dims = (await again.getStats()).index.dense_dim;
        await rb.close();
        await again.close();
        let missing = null;
        try {{
          await ReasoningBank.load({{ db: ":memory:", semantic: "no-such-asset.rbsem" }});
        }} catch (e) {{
          missing = e.message;
        }}
        return JSON.stringify({{
          top: hits[0].pattern.task_description, parts: hits[0].parts,
          dims: stats.index.dense_dim, againDims: dims, missing,
        }});
        """
    )
    got = json.loads(out)
    assert got["top"] == "renew expiring authentication credentials"
    assert got["parts"]["lexical"] == 0.0 and got["parts"]["semantic"] > 0.2
    assert got["dims"] == got["againDims"] == 256
    assert "HTTP 404" in got["missing"]

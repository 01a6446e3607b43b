"""The JS API's call path in Chromium: what ``rb.findSimilar`` returns is exactly what the
Python API's matches say (pattern JSON, scores, parts), though the reply is packed (each
pattern's stored JSON spliced in, floats as float64 bytes); calls that wait on IndexedDB
and errors still arrive."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from browsers import launch
from test_browser_pwa import open_app

PATTERNS = [
    {
        "task_description": f"refresh oauth tokens for service {i}",
        "task_category": "backend" if i % 2 else "auth",
        "strategy": ["test-driven", "spike"][i % 2],
        "success_score": 0.1 + i / 50,
        "context": {"lang": "python"} if i % 3 == 0 else {},
        "metadata": {"tags": ["t"], "owner": "ünïcode \u2028 line"},
    }
    for i in range(30)
]

COMPARE = """
async ([patterns]) => {
  const rb = window.rb;
  const ids = await rb.storePatterns(patterns);   // waits on IndexedDB: the settle() path
  await rb.recordOutcome(ids[3], { success: false, score: 0.2 });
  const queries = [["refresh oauth tokens", "backend", 5, {}],
                   ["oauth service", null, 7, { strictCategory: false, context: { lang: "python" } }],
                   ["nothing matches this", null, 5, {}]];
  const out = [];
  for (const [text, cat, k, opts] of queries) {
    const viaJs = await rb.findSimilar(text, cat, k, opts);
    rb.pyodide.globals.set("q", JSON.stringify([rb._handle, text, cat, k, opts]));
    const viaPy = JSON.parse(await rb.pyodide.runPythonAsync(`
import json
from reasoningbank import jsapi
h, text, cat, k, opts = json.loads(q)
bank = jsapi.bank_for(h)
json.dumps([m.to_dict() for m in await bank.find_similar(text, cat, k,
    min_score=0.0, context=opts.get("context"), strict_category=opts.get("strictCategory", True))])
`));
    out.push([viaJs, viaPy]);
  }
  let error = null;
  try { await rb.findSimilar("x", null, -1); } catch (e) { error = [e.constructor.name, e.name, e.message]; }
  // findSimilar's own path (jsapi.find) against the general one (jsapi.call), same queries.
  const general = [];
  for (const [text, cat, k, opts] of queries) {
    general.push([await rb.findSimilar(text, cat, k, opts),
                  await rb._call("findSimilar", text, cat, k, opts)]);
  }
  // A second bank on the same IndexedDB stores a pattern: the first one's next search must
  // first read that change from IndexedDB (it cannot answer at once), then find it.
  const other = await rb.constructor.load({ db: rb.db });
  await other.storePattern({ task_description: "zebra migration plan", task_category: "ops",
                             strategy: "spike", success_score: 0.7 });
  const waited = rb.findSimilar("zebra migration", "ops", 3);
  const answeredLater = rb._rt.pending.size;
  const late = await waited;
  await other.close();
  return { out, error, general, answeredLater, late: late.map((m) => m.pattern.task_description) };
}
"""


def _strip_embedding(matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for m in matches:
        m["pattern"].pop("embedding", None)
    return matches


def test_find_similar_via_js_equals_python(playwright: Any, app_url: str) -> None:
    browser = launch(playwright, "chromium")
    try:
        page = browser.new_page()
        open_app(page, app_url, f"boot-{uuid.uuid4().hex[:6]}", "&nosw")
        got = page.evaluate(COMPARE, [PATTERNS])
    finally:
        browser.close()
    assert [len(js) for js, _ in got["out"]] == [5, 7, 0]
    for js, py in got["out"]:
        assert js == _strip_embedding(py)
        for m in js:
            assert set(m) == {"pattern", "score", "similarity", "parts"}
    lang = [m for m in got["out"][1][0] if m["pattern"]["context"]]
    assert lang and lang[0]["pattern"]["metadata"]["owner"] == "ünïcode \u2028 line"
    assert lang[0]["parts"]["context"] > 0
    assert got["error"][:2] == ["ReasoningBankError", "InvalidPattern"], got["error"]
    for fast, general in got["general"]:
        assert fast == general
    assert got["answeredLater"] == 1 and got["late"] == ["zebra migration plan"]
    json.dumps(got)  # plain JSON values throughout


SNAPSHOTS = """
caches.open('reasoningbank-v1').then((c) => c.keys())
  .then((ks) => ks.map((r) => r.url).filter((u) => u.endsWith('.snapshot')))
"""


# Whether the page's bank was opened from what the page read ahead while Pyodide started.
READ_AHEAD = """
window.rb.pyodide.runPython(
  `from reasoningbank import jsapi; jsapi.bank_for(${window.rb._handle})._store.read_ahead`)
"""


def _first_answer(page: Any, url: str, db: str, extra: str = "") -> dict[str, Any]:
    page.goto(f"{url}?db={db}&q=oauth%20token&nosw{extra}")
    page.wait_for_function(
        "(window.rbTimings && window.rbTimings.firstAnswer) || window.rbError", timeout=120_000
    )
    assert page.evaluate("window.rbError || null") is None
    timings: dict[str, Any] = page.evaluate("window.rbTimings")
    timings["results"] = page.eval_on_selector_all(
        "#results li .title", "ns => ns.map(n => n.textContent)"
    )
    timings["read_ahead"] = page.evaluate(READ_AHEAD)
    return timings


def _wait_for_snapshot(page: Any) -> list[str]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found: list[str] = page.evaluate(SNAPSHOTS)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("no Pyodide snapshot was cached")


def test_second_visit_boots_from_the_snapshot(playwright: Any, app_url: str) -> None:
    """The first visit boots plainly and leaves a snapshot beside the wheel; the next one
    restores it and answers the same; a corrupt snapshot is dropped and the page still boots;
    ``?nosnapshot`` boots plainly. Every time, the bank opens from what the page read from
    IndexedDB while Pyodide started."""
    browser = launch(playwright, "chromium")
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        db = f"snap-{uuid.uuid4().hex[:6]}"
        open_app(page, app_url, db, "&nosw")
        page.evaluate("ps => window.rb.storePatterns(ps)", PATTERNS[:6])
        first = _first_answer(page, app_url, db)
        assert first["boot"]["snapshot"] == "none" and first["read_ahead"] is True
        [snap] = _wait_for_snapshot(page)
        assert "/wheels/" in snap and snap.endswith(".snapshot")
        second = _first_answer(page, app_url, db)
        assert second["boot"]["snapshot"] == "restored" and second["read_ahead"] is True
        assert second["results"] == first["results"] and len(first["results"]) == 5
        plain = _first_answer(page, app_url, db, "&nosnapshot")
        assert plain["boot"]["snapshot"] == "none" and plain["results"] == first["results"]
        assert plain["read_ahead"] is True
        page.evaluate(
            "u => caches.open('reasoningbank-v1').then((c) => c.put(u, new Response(new Uint8Array(1000))))",
            snap,
        )
        broken = _first_answer(page, app_url, db)
        assert broken["boot"]["snapshot"] == "none"
        assert broken["results"] == first["results"]
    finally:
        browser.close()


SITE_PACKAGES = """
() => JSON.parse(window.rb.pyodide.runPython(`
import hashlib, json, os, site
root = site.getsitepackages()[0]
json.dumps({os.path.relpath(os.path.join(d, f), root):
            hashlib.sha256(open(os.path.join(d, f), 'rb').read()).hexdigest()
            for d, _, fs in os.walk(root) for f in fs})
`))
"""

UNZIP = """
async (b64) => {
  const { unzip } = await import('/boot.js');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const files = await unzip(bytes.buffer);
  return files.map(([name, data]) => [name, new TextDecoder().decode(data)]);
}
"""


def test_the_browser_unzips_the_wheel_as_zipfile_does(
    playwright: Any, app_url: str, app_server: Any
) -> None:
    """The page unzips the wheel itself (web/boot.js, while Pyodide starts): site-packages
    then holds exactly the wheel's files, byte for byte; stored and deflated entries both
    unzip, directory entries are skipped."""
    import base64
    import hashlib
    import io
    import zipfile

    wheel = zipfile.ZipFile(io.BytesIO(app_server.wheel))
    want = {i.filename: hashlib.sha256(wheel.read(i)).hexdigest() for i in wheel.infolist()}
    mixed = io.BytesIO()
    with zipfile.ZipFile(mixed, "w") as z:
        z.writestr("pkg/", "")
        z.writestr("pkg/stored.txt", "plain ü", compress_type=zipfile.ZIP_STORED)
        z.writestr("pkg/deflated.txt", "squeezed " * 50, compress_type=zipfile.ZIP_DEFLATED)
    browser = launch(playwright, "chromium")
    try:
        page = browser.new_page()
        open_app(page, app_url, f"unzip-{uuid.uuid4().hex[:6]}", "&nosw&nosnapshot")
        got = page.evaluate(SITE_PACKAGES)
        unzipped = page.evaluate(UNZIP, base64.b64encode(mixed.getvalue()).decode())
    finally:
        browser.close()
    assert got == want
    assert unzipped == [["pkg/stored.txt", "plain ü"], ["pkg/deflated.txt", "squeezed " * 50]]

"""The closed loop through the JS API in Pyodide (Node, Chromium, Firefox): ``learn`` with a JS
function as the LLM (sync, and returning a Promise), without one (heuristic), ``retrieve`` and
``memoryPrompt`` on an IndexedDB bank; a JS model that throws, rejects or talks nonsense is one
clear rejection and stores nothing. In the browsers also through ``web/reasoningbank.js``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_modules import served_web_modules

#: A scripted model in JS: the judge gets a failure verdict, the distillers one lesson each.
MODEL_JS = r"""
const prompts = [];
const answer = (p) => {
  prompts.push(p);
  if (p.includes('"success": true or false'))
    return '```json\n{"success": false, "score": 0.2, "reason": "the test still fails"}\n```';
  const kind = p.includes("SUCCEEDED") ? "Keep" : "Avoid";
  return JSON.stringify({ items: [{
    title: `${kind}: the login race`,
    description: "The session cookie expires during the test.",
    content: `${kind} relying on the real clock in login tests because expiry races the assertion.`,
  }] });
};
const syncModel = (p) => answer(p);
const promiseModel = (p) => Promise.resolve().then(() => answer(p));
"""

STEPS = [
    {
        "thought": "the login test fails one run in five",
        "action": "pytest tests/test_login.py",
        "observation": "1 failed, 12 passed: AssertionError: session cookie missing",
    }
]


def _scenario_via_dispatch(db: str) -> str:
    """JS driving ``reasoningbank.jsapi`` as web/reasoningbank.js does (dispatch, and the
    ``learn`` entry that carries the JS model)."""
    return f"""
    {MODEL_JS}
    const api = pyodide.pyimport("reasoningbank.jsapi");
    const settle = (resolve, reject) => [
      (out) => resolve(JSON.parse(out)), (err) => reject(JSON.parse(err))];
    const call = (h, method, args) => new Promise((resolve, reject) =>
      api.dispatch(h, method, JSON.stringify(args), ...settle(resolve, reject)));
    const learn = (h, args, llm) => new Promise((resolve, reject) =>
      api.learn(h, JSON.stringify(args), llm, ...settle(resolve, reject)));
    const failure = async (promise) => {{
      try {{ await promise; return null; }} catch (e) {{ return e.name + ": " + e.message; }}
    }};
    const steps = {json.dumps(STEPS)};
    const h = await call(0, "open", [{{ db: {db!r} }}]);
    const judged = await learn(h, ["fix the flaky login test", steps, {{ category: "testing" }}],
                               syncModel);
    const told = await learn(h, ["add a login page", "$ npm test\\n9 passing",
                                 {{ category: "testing", outcome: true }}], promiseModel);
    const heuristic = await call(h, "learn", ["migrate the user table",
      "Traceback (most recent call last):\\nOperationalError: no such table\\nexit code 1", {{}}]);
    const asked = prompts.length;
    const before = (await call(h, "getStats", [])).total_patterns;
    const errors = [
      await failure(learn(h, ["t", "ran it", {{}}], () => {{ throw new Error("model offline"); }})),
      await failure(learn(h, ["t", "ran it", {{}}], () => Promise.reject(new Error("quota")))),
      await failure(learn(h, ["t", "ran it", {{}}], () => "no idea, sorry")),
      await failure(call(h, "learn", ["t", "ran it", {{ llm: "x" }}])),
    ];
    const after = (await call(h, "getStats", [])).total_patterns;
    const items = await call(h, "retrieve", ["fix the flaky signup test",
                                              {{ category: "testing", k: 3, diversity: 0.3 }}]);
    const block = await call(h, "memoryPrompt", ["fix the flaky signup test", {{ k: 3 }}]);
    await call(h, "close", []);
    api.destroy();
    return JSON.stringify({{ judged, told, heuristic, asked, before, after, errors, items, block }});
    """


def test_learn_retrieve_memory_prompt_with_a_js_model(rb):
    db = f"loop-{rb.browser}-{uuid.uuid4().hex[:8]}"
    got = json.loads(rb.run_js(_scenario_via_dispatch(db)))
    judged, told, heuristic = got["judged"], got["told"], got["heuristic"]
    assert judged["verdict"] == {
        "success": False, "score": 0.2, "reason": "the test still fails", "judged_by": "llm"
    }  # fmt: skip
    assert [i["title"] for i in judged["items"]] == ["Avoid: the login race"]
    assert judged["items"][0]["kind"] == "failure"
    assert told["verdict"]["judged_by"] == "outcome"
    assert [i["kind"] for i in told["items"]] == ["success"]
    assert heuristic["verdict"]["judged_by"] == "heuristic"
    assert heuristic["verdict"]["success"] is False
    assert got["asked"] == 3  # judge + failure distiller, then the success distiller only
    stored = len(judged["ids"]) + len(told["ids"]) + len(heuristic["ids"])
    assert got["before"] == got["after"] == stored
    throws, rejects, garbage, bad_option = got["errors"]
    assert throws.startswith("LLMCallFailed") and "model offline" in throws
    assert rejects.startswith("LLMCallFailed") and "quota" in rejects
    assert garbage.startswith("LLMAnswerError")
    assert bad_option.startswith("InvalidPattern") and "llm" in bad_option
    titles = [i["title"] for i in got["items"]]
    assert "Avoid: the login race" in titles and all(
        i["category"] == "testing" for i in got["items"]
    )
    assert "Avoid relying on the real clock" in got["block"]


@pytest.fixture
def served_js(request: pytest.FixtureRequest) -> Iterator[Path]:
    """web/reasoningbank.js in the dist dir the test server serves; removed afterwards."""
    with served_web_modules(Path(request.config.option.dist_dir)) as dist:
        yield dist


@pytest.mark.browser_only
def test_reasoningbank_js_learn_retrieve_memory_prompt(rb, served_js):
    wheels = [p.name for p in served_js.glob("reasoningbank-*.whl")]
    db = f"loop-js-{uuid.uuid4().hex[:8]}"
    out = rb.run_js(
        f"""
        {MODEL_JS}
        const base = {rb.base_url!r};
        const {{ ReasoningBank }} = await import(`${{base}}/reasoningbank.js`);
        const bank = await ReasoningBank.load({{
          db: {db!r}, pyodide, indexURL: `${{base}}/`, wheelURL: `${{base}}/{wheels[0]}`,
        }});
        pyodide._module.enable_pyproxy_allocation_tracing();
        const proxies = pyodide._module.pyproxy_alloc_map.size;
        const report = await bank.learn("fix the flaky login test", {json.dumps(STEPS)},
                                        {{ category: "testing", llm: promiseModel }});
        const plain = await bank.learn("fix the build", "make: *** [all] Error 2",
                                       {{ category: "testing" }});
        const items = await bank.retrieve("fix the flaky signup test", {{ k: 2, diversity: 0.5 }});
        const block = await bank.memoryPrompt("fix the flaky signup test", {{ k: 2 }});
        let error = null;
        try {{
          await bank.learn("t", "ran it", {{ llm: () => {{ throw new Error("model offline"); }} }});
        }} catch (e) {{
          error = {{ name: e.name, message: e.message }};
        }}
        let notAFunction = null;
        try {{
          await bank.learn("t", "ran it", {{ llm: "gpt" }});
        }} catch (e) {{
          notAFunction = {{ name: e.name, field: e.field }};
        }}
        const leaked = pyodide._module.pyproxy_alloc_map.size - proxies;
        await bank.close();
        const isPlain = (x) => x === null || typeof x !== "object" ||
          ((Array.isArray(x) || Object.getPrototypeOf(x) === Object.prototype) &&
           Object.values(x).every(isPlain));
        return JSON.stringify({{ report, plain, items, block, error, notAFunction, leaked,
                                 allPlain: [report, plain, items].every(isPlain) }});
        """
    )
    got = json.loads(out)
    assert got["report"]["verdict"]["judged_by"] == "llm"
    assert [i["title"] for i in got["report"]["items"]] == ["Avoid: the login race"]
    assert got["plain"]["verdict"]["judged_by"] == "heuristic"
    assert got["items"] and got["allPlain"] is True
    assert "Avoid relying on the real clock" in got["block"]
    assert got["error"]["name"] == "LLMCallFailed" and "model offline" in got["error"]["message"]
    assert got["notAFunction"] == {"name": "InvalidPattern", "field": "llm"}
    assert got["leaked"] <= 1  # at most the cached learn entry

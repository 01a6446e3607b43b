"""Benchmarks of browsers on the bus, on one machine through a local hub (real sockets):

* propagation: a pattern stored in one browser's bank → signed (WebCrypto) → WebTransport →
  hub (verify, store, re-sign, relay) → WebTransport → verified in the other browser
  ("verified") and stored in its IndexedDB bank ("stored"). One pattern every ``GAP``
  seconds, so each sample is a
  latency, not a queueing delay. Clocks: both pages read the same system clock
  (``time.time()`` in Pyodide is ``Date.now()``: 1 ms resolution).
* token stream: a CPython agent (``agent.py``, WebTransport) streams ``TOKENS`` signed
  TOKEN frames; the hub relays them live; the browser verifies each frame with WebCrypto and
  counts it. Rate = tokens / (last token received − stream opened), measured in the browser.

The hub is ``reasoningbank hub`` in its own process and the agent is ``agent.py`` in
another, as deployed. The numbers are printed and written as JSON to ``RB_BENCH_OUT``
(default ``.browser-deps/artifacts/bus-bench.json``). The tests assert what must hold on any
machine (every pattern arrives, is verified before it is stored, every frame is counted); the
timings are measurements, compared with the goals in docs/benchmarks.md, never pass/fail.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SAMPLES = int(os.environ.get("RB_BENCH_SAMPLES", "200"))
GAP = 0.02
TOKENS = int(os.environ.get("RB_BENCH_TOKENS", "20000"))
RESULTS: dict[str, Any] = {}

HOOK = """
from reasoningbank.bus.events import PatternAccepted, StreamOpened, StreamDataReceived, StreamEnded
link = _link()
arrivals = {}
stream = {"opened": None, "first": None, "last": None, "n": 0, "ended": None}
original = link._on_events
async def hooked(events):
    await original(events)
    t = time.time()
    for e in events:
        if isinstance(e, PatternAccepted):
            arrivals[e.pattern["id"]] = t
link.client.listeners[link.client.listeners.index(original)] = hooked
verified = {}
def on_verified(events):  # runs first: the pattern is verified, not yet in IndexedDB
    t = time.time()
    for e in events:
        if isinstance(e, PatternAccepted):
            verified[e.pattern["id"]] = t
link.client.listeners.insert(0, on_verified)
def on_stream(e):
    t = time.time()
    if isinstance(e, StreamOpened):
        stream.update(opened=t, n=0, first=None, ended=None)
    elif isinstance(e, StreamDataReceived):
        stream["n"] += 1
        stream["first"] = stream["first"] or t
        stream["last"] = t
    elif isinstance(e, StreamEnded):
        stream["ended"] = t
link.stream_listeners.append(on_stream)
import builtins
builtins._bench = (arrivals, stream, verified)
True
"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def propagation(src: Any, dst: Any, prefix: str) -> dict[str, float]:
    sent = src.py(
        f"""
        import asyncio
        link = _link()
        sent = {{}}
        for i in range({SAMPLES}):
            pid = "{prefix}-%d" % i
            await bank.store_pattern({{"id": pid, "task_description": "bench pattern %d about topic %d" % (i, i * 7),
                                      "task_category": "bench", "strategy": "s%d" % (i % 5),
                                      "outcome": {{"success": True, "success_score": 0.5}}}})
            sent[pid] = time.time()
            await link.share([pid])
            await asyncio.sleep({GAP})
        sent
    """,
        timeout=120,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        got = dst.py("{k: v for k, v in __import__('builtins')._bench[0].items()}")
        if all(k in got for k in sent):
            break
        time.sleep(0.2)
    missing = [k for k in sent if k not in got]
    assert not missing, f"{len(missing)} patterns never arrived"
    ver = dst.py("{k: v for k, v in __import__('builtins')._bench[2].items()}")
    assert all(ver[k] <= got[k] for k in sent), "a pattern was stored before it was verified"
    stored = [1000.0 * (got[k] - sent[k]) for k in sent]
    checked = [1000.0 * (ver[k] - sent[k]) for k in sent]
    out: dict[str, float] = {"samples": len(stored)}
    for name, lat in (("verified", checked), ("stored", stored)):
        out[f"{name}_p50_ms"] = percentile(lat, 0.5)
        out[f"{name}_p90_ms"] = percentile(lat, 0.9)
        out[f"{name}_p99_ms"] = percentile(lat, 0.99)
        out[f"{name}_max_ms"] = max(lat)
    return out


def write_results() -> None:
    print(json.dumps(RESULTS, indent=1))
    out = Path(
        os.environ.get("RB_BENCH_OUT")
        or Path(os.environ.get("RB_BROWSER_DEPS", ".browser-deps")) / "artifacts" / "bus-bench.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=1))


@pytest.fixture()
def hub_process() -> Iterator[Any]:
    from harness import HubProcess

    hub = HubProcess()
    yield hub
    hub.stop()


def test_browser_to_browser_propagation(hub_process, open_bank):
    hub = hub_process
    chrome, fox = open_bank("chromium"), open_bank("firefox")
    chrome.link(hub, [fox.key])
    fox.link(hub, [chrome.key])
    for b in (chrome, fox):
        b.wait_status(lambda s: s["synced"], what="synced")
        assert b.py(HOOK) is True
    RESULTS["chromium_to_firefox"] = propagation(chrome, fox, "c2f")
    RESULTS["firefox_to_chromium"] = propagation(fox, chrome, "f2c")
    write_results()


def test_token_stream_from_a_cpython_agent_to_a_browser(hub_process, open_bank):
    from harness import AgentProcess

    hub = hub_process
    for engine in ("chromium", "firefox"):
        browser = open_bank(engine)  # alone on the hub with the agent
        browser.link(hub, [])
        browser.wait_status(lambda s: s["synced"], what="synced")
        assert browser.py(HOOK) is True
        for batch in (1, 8):
            agent = AgentProcess(hub, TOKENS, batch)
            try:
                sent = agent.go()
                deadline = time.time() + 120
                s: dict[str, Any] = {}
                while time.time() < deadline:
                    s = browser.py("__import__('builtins')._bench[1]")
                    if s["ended"]:
                        break
                    time.sleep(0.2)
            finally:
                agent.stop()
            assert s["ended"], f"{engine}: stream did not end: {s}"
            frames = TOKENS // batch
            assert s["n"] == frames, s
            RESULTS[f"tokens_to_{engine}_batch{batch}"] = {
                "tokens": frames * batch,
                "frames": frames,
                "tokens_per_s": frames * batch / (s["last"] - s["opened"]),
                "frames_per_s": frames / (s["last"] - s["opened"]),
                "agent_send_s": sent["sent_s"],
                "agent_to_browser_s": s["ended"] - sent["t0"],
            }
        browser.driver.context.close()
    write_results()

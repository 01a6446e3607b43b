"""The benchmark runs end to end at small sizes and reports the documented keys."""

from __future__ import annotations

from reasoningbank.bus.aio.loadgen import hub_load, verify_rate


def test_verify_rate_reports_rates():
    out = verify_rate(frames=500)
    assert out["frames"] == 500 and out["verified_per_s"] > 0 and out["signed_per_s"] > 0


def test_hub_load_delivers_every_message_to_every_session():
    out = hub_load(sessions=20, messages=3, interval=0.05)
    assert out["deliveries"] == 3 * 19 and out["delivery_ratio"] == 1.0
    assert out["fanout_p99_ms"] >= out["fanout_p50_ms"] > 0
    assert out["hub_rss_per_session_kib"] is not None


def test_hub_load_over_webtransport():
    out = hub_load(sessions=5, messages=2, interval=0.05, transport="webtransport")
    assert out["transport"] == "webtransport" and out["delivery_ratio"] == 1.0


def test_arun_works_inside_a_running_loop():
    import asyncio

    from reasoningbank.bus.aio.loadgen import arun

    out = asyncio.run(arun(frames=200, sessions=4, messages=1, quic_sessions=0))
    assert out["verify"]["frames"] == 200 and out["hub_websocket"]["delivery_ratio"] == 1.0

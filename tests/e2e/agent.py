"""A CPython agent in its own process (as agents are): connects to the hub and streams
``TOKENS`` tokens, ``BATCH`` per TOKEN frame, then prints one JSON line.

Usage: python agent.py URL CERT_HASH TOKENS BATCH
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

BURST = 32


async def main(url: str, cert_hash: str, tokens: int, batch: int) -> None:
    from reasoningbank.bus.aio import connect
    from reasoningbank.bus.frames import FrameType
    from reasoningbank.bus.signers import NaclSigner, NaclVerifier

    client = await connect(
        url,
        signer=NaclSigner(os.urandom(32)),
        verifier=NaclVerifier(),
        trusted=None,
        cert_hash=cert_hash,
    )
    print(json.dumps({"ready": True, "key": client.peer.conn._signer.public_key.hex()}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # go (the loop keeps running)
    sid = client.open_stream(FrameType.TOKEN, {"model": "bench", "batch": batch})
    t0 = time.time()
    chunk = b"tok " * batch
    conn, now = client.peer.conn, time.time
    for i in range(tokens // batch):
        # One signed TOKEN frame per chunk; the transport is flushed every BURST frames
        # (what a fast producer does anyway: many frames per QUIC packet, not one each).
        conn.send_stream(now(), sid, chunk)
        if i % BURST == BURST - 1:
            client.flush()
            await asyncio.sleep(0)
    client.send_stream(sid, b"", end=True)
    sent = time.time() - t0
    print(json.dumps({"t0": t0, "sent_s": sent}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # done
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))

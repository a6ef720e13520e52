"""Recovery under a stream: a numbered broadcast flows while the official clients' transports
are cut at random, over WebSocket and over long-polling; each client ends with every number
exactly once and in order (lost and duplicated are counted, printed, and must both be 0)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from .util import Serve, start

TOTAL = 400
CLIENTS = 6
CUTS = 12


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_every_packet_once_and_in_order_across_cuts(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve, connection_state_recovery={"max_disconnection_duration": 60})
    opts = {"transports": transports, "reconnectionDelay": 50, "reconnectionDelayMax": 50,
            "randomizationFactor": 0, "forceNew": True}
    cids = [f"c{i}" for i in range(CLIENTS)]
    for cid in cids:
        assert (await js.call({"cmd": "connect", "id": cid, "url": url, "opts": opts}))["ok"]
        await js.wait_event(cid, "connect")
    rng = random.Random(7)
    cut_at = sorted(rng.sample(range(20, TOTAL - 20), CUTS))

    async def stream() -> None:
        for n in range(TOTAL):
            io.emit("n", n)
            if cut_at and n == cut_at[0]:
                cut_at.pop(0)
                await js.call({"cmd": "close_engine", "id": rng.choice(cids)})
            await asyncio.sleep(0.004)

    await asyncio.wait_for(stream(), 30)

    def numbers(cid: str) -> list[int]:
        return [e["args"][0] for e in js.events.get(cid, []) if e.get("type") == "event" and e.get("event") == "n"]

    async with asyncio.timeout(20):  # every client back, and caught up
        while any(len(set(numbers(cid))) < TOTAL for cid in cids):
            await asyncio.sleep(0.05)
    lost = duplicated = 0
    recovered = sum(1 for cid in cids for e in js.events.get(cid, []) if e.get("type") == "connect"
                    and e.get("recovered"))
    for cid in cids:
        got = numbers(cid)
        lost += TOTAL - len(set(got))
        duplicated += len(got) - len(set(got))
        assert got == sorted(got), f"{cid} received out of order"
    print(f"\nrecovery under a stream ({'+'.join(transports)}): {CLIENTS} clients x {TOTAL} packets, "
          f"{recovered} recoveries: {lost} lost, {duplicated} duplicated")
    assert recovered >= 1
    assert (lost, duplicated) == (0, 0)
    for cid in cids:
        await js.call({"cmd": "disconnect", "id": cid})

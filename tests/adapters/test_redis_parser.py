"""The classic flavour with another parser than notepack's msgpack (Node's ``parser`` option),
here JSON on both kinds of node: broadcasts and broadcasts with acks cross both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
import redis.asyncio as aioredis
from mixed_cluster import Cluster, NodeNode, ask, connect_to, counted, emit, python_node, received


@pytest_asyncio.fixture
async def json_cluster(redis_url: str, cluster_key: str, serve: Any) -> AsyncIterator[Cluster]:
    client = aioredis.Redis.from_url(redis_url)
    python = python_node(client, cluster_key, "classic+json")
    url = await serve(python.io)
    node = await NodeNode.start(redis_url, cluster_key, flavour="classic+json")
    try:
        await counted(python.io.sockets.adapter, 2)
        yield Cluster(python, node, url, client, "classic+json")
    finally:
        await node.stop()
        await python.io.shutdown(timeout=1)
        await client.aclose()


async def test_json_parser_both_ways(js: Any, json_cluster: Cluster) -> None:
    for cid, url in (("py1", json_cluster.python_url), ("node1", json_cluster.node_url)):
        await connect_to(js, cid, url)
        assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
    await emit(js, "py1", "emit", "news", {"from": "python"})
    await emit(js, "node1", "emit", "news", {"from": "node"})
    for cid in ("py1", "node1"):
        got = [(await received(js, cid, "news"))[0]["from"] for _ in range(2)]
        assert sorted(got) == ["node", "python"]
    for asker in ("py1", "node1"):
        answer = await ask(js, asker, "emit_ack", None, 3000, "q")
        assert answer["err"] is None and sorted(answer["responses"]) == ["node1", "py1"]

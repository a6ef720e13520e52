"""Cluster requests in a mixed cluster (socketeer ``RedisAdapter`` + Node ``@socket.io/redis-adapter``
on a real Redis), each asked from either kind of node: broadcasts with acks (all answered, and
a timeout with partial answers), ``fetch_sockets`` with data and handshake, remote socket
``emit``/``join``/``leave``/``disconnect``, ``sockets_join``/``sockets_leave``/
``disconnect_sockets``, ``server_side_emit`` with acks, ``all_rooms``; and a counted node that
never answers (a subscriber that stays silent, as a frozen node does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from mixed_cluster import Cluster, ask, connect_to, counted, emit, received

from socketeer.adapters.cluster import request_channel

pytestmark = pytest.mark.parametrize("asker", ["python", "node"])

CLIENTS = ("py1", "py2", "node1", "node2")


async def connect_all(js: Any, cluster: Cluster, **opts: Any) -> dict[str, str]:
    """py1, py2 on the socketeer node, node1, node2 on the Node node; returns their sids."""
    sids = {}
    for cid in CLIENTS:
        url = cluster.python_url if cid.startswith("py") else cluster.node_url
        extra = {k: (v(cid) if callable(v) else v) for k, v in opts.items()}
        sids[cid] = await connect_to(js, cid, url, **extra)
    return sids


def first(asker: str) -> str:
    return "py1" if asker == "python" else "node1"


async def until(check: Any, what: str, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.02)


async def test_broadcast_acks_from_every_node(js: Any, cluster: Cluster, asker: str) -> None:
    await connect_all(js, cluster)
    for cid in CLIENTS:
        assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
    answer = await ask(js, first(asker), "emit_ack", None, 3000, "q", "x")
    assert answer["err"] is None
    assert sorted(answer["responses"]) == sorted(CLIENTS)
    for cid in ("py2", "node2"):
        await emit(js, cid, "join", "team", ack=True)
    answer = await ask(js, first(asker), "emit_ack", "team", 3000, "q", "to the team")
    assert answer["err"] is None
    assert sorted(answer["responses"]) == ["node2", "py2"]
    assert [await received(js, "node2", "q"), await received(js, "node2", "q")] == [["x"], ["to the team"]]


async def test_broadcast_ack_timeout_keeps_the_answers_that_came(js: Any, cluster: Cluster, asker: str) -> None:
    await connect_all(js, cluster)
    for cid in ("py1", "node1"):  # py2 and node2 never answer
        assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await ask(js, first(asker), "emit_ack", None, 600, "q")
    assert 0.55 < loop.time() - started < 2.5
    assert answer["err"]  # each kind words it its own way
    assert sorted(answer["responses"]) == ["node1", "py1"]


async def test_fetch_sockets_with_data_and_handshake(js: Any, cluster: Cluster, asker: str) -> None:
    sids = await connect_all(js, cluster, auth=lambda cid: {"token": cid}, query=lambda cid: {"who": cid})
    for cid in CLIENTS:
        await emit(js, cid, "set_data", {"name": cid, "n": [1, 2]}, ack=True)
    for cid in ("py2", "node2"):
        await emit(js, cid, "join", "team", ack=True)
    fetched = await ask(js, first(asker), "fetch", "team")
    assert [f["id"] for f in fetched] == sorted([sids["py2"], sids["node2"]])
    by_id = {f["id"]: f for f in fetched}
    for cid in ("py2", "node2"):
        got = by_id[sids[cid]]
        assert got["data"] == {"name": cid, "n": [1, 2]}
        assert got["rooms"] == sorted([sids[cid], "team"])
        assert got["auth"] == {"token": cid}
        assert got["query"]["who"] == cid
        assert got["address"].endswith("127.0.0.1")
        mine = cid.startswith("py") == (asker == "python")
        assert got["remote"] is not mine
    everyone = await ask(js, first(asker), "fetch", None)
    assert sorted(f["id"] for f in everyone) == sorted(sids.values())


async def test_remote_socket_methods_act_on_the_owning_node(js: Any, cluster: Cluster, asker: str) -> None:
    sids = await connect_all(js, cluster)
    # A socket of the other node, driven from the asker's node.
    victim = "node2" if asker == "python" else "py2"
    sid = sids[victim]
    assert await ask(js, first(asker), "remote", sid, "emit", "hi", {"from": asker}) is True
    assert await received(js, victim, "hi") == [{"from": asker}]

    async def rooms() -> list[str]:
        return await ask(js, victim, "rooms_of")  # type: ignore[no-any-return]

    assert await ask(js, first(asker), "remote", sid, "join", "vip") is True
    await until(lambda: _has(rooms, "vip"), "the remote join")
    assert await ask(js, first(asker), "remote", sid, "leave", "vip") is True
    await until(lambda: _lacks(rooms, "vip"), "the remote leave")

    owner = cluster.node.disconnects if victim.startswith("node") else cluster.python.disconnects
    assert await ask(js, first(asker), "remote", sid, "disconnect") is True
    got = await js.wait_event(victim, "disconnect")
    assert got["reason"] == "io server disconnect"
    await until(lambda: _true((sid, "server namespace disconnect") in owner), "the owner's record")


async def _has(rooms: Any, room: str) -> bool:
    return room in await rooms()


async def _lacks(rooms: Any, room: str) -> bool:
    return room not in await rooms()


async def _true(value: bool) -> bool:
    return value


async def test_sockets_join_leave_and_disconnect_across_nodes(js: Any, cluster: Cluster, asker: str) -> None:
    await connect_all(js, cluster)
    for cid in ("py2", "node2"):
        await emit(js, cid, "join", "team", ack=True)
    await emit(js, first(asker), "sockets_join", "team", ["club", "vip"], ack=True)
    for cid in ("py2", "node2"):
        await until(lambda cid=cid: _has(lambda: ask(js, cid, "rooms_of"), "club"), f"{cid} in club")
        assert "vip" in await ask(js, cid, "rooms_of")
    for cid in ("py1", "node1"):
        assert "club" not in await ask(js, cid, "rooms_of")
    await emit(js, first(asker), "sockets_leave", "club", ["vip"], ack=True)
    for cid in ("py2", "node2"):
        await until(lambda cid=cid: _lacks(lambda: ask(js, cid, "rooms_of"), "vip"), f"{cid} out of vip")
    if not (asker == "node" and cluster.flavour != "classic"):  # Node's ClusterAdapter has no allRooms
        all_rooms = await ask(js, first(asker), "all_rooms")
        assert {"team", "club"} <= set(all_rooms) and "vip" not in all_rooms
    await emit(js, first(asker), "disconnect_sockets", "club", False, ack=True)
    for cid in ("py2", "node2"):
        assert (await js.wait_event(cid, "disconnect"))["reason"] == "io server disconnect"
    # The others stay.
    assert await ask(js, "py1", "rooms_of") and await ask(js, "node1", "rooms_of")


async def test_server_side_emit_with_ack(js: Any, cluster: Cluster, asker: str) -> None:
    await connect_all(js, cluster)
    answer = await ask(js, first(asker), "ss_ack", "question", 42, {"k": "v"})
    other = "node" if asker == "python" else "python"
    assert answer == {"err": None, "responses": [{"node": other, "args": [42, {"k": "v"}]}]}


@pytest_asyncio.fixture
async def frozen(cluster: Cluster, cluster_key: str) -> AsyncIterator[None]:
    """A third subscriber of the request channel that never answers: counted, silent."""
    pubsub = cluster.redis.pubsub()
    if cluster.flavour.startswith("sharded"):
        await pubsub.ssubscribe(f"{cluster_key}#/#")
    elif cluster.flavour.startswith("streams"):
        await pubsub.subscribe(f"{cluster_key}#/#")
    else:
        await pubsub.subscribe(request_channel(cluster_key, "/"))
    try:
        await counted(cluster.python.io.sockets.adapter, 3)
        yield
    finally:
        await pubsub.aclose()


async def test_a_silent_node_makes_requests_time_out_with_partial_answers(
        js: Any, cluster: Cluster, frozen: None, asker: str) -> None:
    await connect_all(js, cluster)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await ask(js, first(asker), "ss_ack", "question", 1)
    # Both nodes' requests timeout is 2 s here; Node's ClusterAdapter waits a fixed 5 s.
    wait = 5 if asker == "node" and cluster.flavour != "classic" else 2
    assert wait - 0.1 < loop.time() - started < wait + 2
    other = "node" if asker == "python" else "python"
    # Node's words, from both kinds of node.
    assert answer["err"] == "timeout reached: only 1 responses received out of 2"
    assert answer["responses"] == [{"node": other, "args": [1]}]
    # A broadcast with acks: every client answered, but one counted node never reported.
    for cid in CLIENTS:
        assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
    answer = await ask(js, first(asker), "emit_ack", None, 500, "q")
    assert answer["err"]
    assert sorted(answer["responses"]) == sorted(CLIENTS)


async def test_python_node_alone_answers_locally(redis_url: str, cluster_key: str, serve: Any, js: Any,
                                                  asker: str) -> None:
    """One node on the key: requests do not wait for anyone."""
    if asker == "node":
        pytest.skip("one case is enough")
    from mixed_cluster import python_node

    client = aioredis.Redis.from_url(redis_url)
    node = python_node(client, cluster_key)
    url = await serve(node.io)
    try:
        await connect_to(js, "solo", url)
        assert (await js.call({"cmd": "on_ack", "id": "solo", "event": "q", "reply": ["solo"]}))["ok"]
        assert await ask(js, "solo", "ss_ack", "question") == {"err": None, "responses": []}
        assert (await ask(js, "solo", "emit_ack", None, 3000, "q"))["responses"] == ["solo"]
        assert len(await ask(js, "solo", "fetch", None)) == 1
    finally:
        await node.io.shutdown(timeout=1)
        await client.aclose()

"""A mixed cluster on a real Redis: a socketeer node (``RedisAdapter``) and a Node.js node
(``@socket.io/redis-adapter``), official clients on both; what one node broadcasts reaches the
other node's clients, rooms and ``except_`` are honoured on both, ``local`` stays local, and
server-side events cross in both directions."""

from __future__ import annotations

from typing import Any

from mixed_cluster import Cluster, connect_to, emit, names, received


async def test_broadcasts_cross_both_ways(js: Any, cluster: Cluster) -> None:
    py, node = cluster.python_url, cluster.node_url
    for cid, url in (("py1", py), ("py2", py), ("node1", node), ("node2", node)):
        await connect_to(js, cid, url)
    # From the Python node to everyone, binary included.
    await emit(js, "py1", "emit", "news", "from python", {"n": 1}, b"\x00\x01\xff")
    for cid in ("py1", "py2", "node1", "node2"):
        assert await received(js, cid, "news") == ["from python", {"n": 1}, b"\x00\x01\xff"]
    # From the Node node to everyone.
    await emit(js, "node1", "emit", "news2", "from node", [1, 2])
    for cid in ("py1", "py2", "node1", "node2"):
        assert await received(js, cid, "news2") == ["from node", [1, 2]]


async def test_rooms_and_except_on_both_nodes(js: Any, cluster: Cluster) -> None:
    py, node = cluster.python_url, cluster.node_url
    for cid, url in (("py1", py), ("py2", py), ("node1", node), ("node2", node)):
        await connect_to(js, cid, url)
    await emit(js, "py2", "join", "team", ack=True)
    await emit(js, "node2", "join", "team", ack=True)
    await emit(js, "node1", "emit_to", "team", "for_team", "n")  # Node node, one room
    await emit(js, "py1", "emit_to", "team", "for_team", "p")  # Python node, one room
    for cid in ("py2", "node2"):  # no order between two nodes' broadcasts
        got = [await received(js, cid, "for_team"), await received(js, cid, "for_team")]
        assert sorted(x[0] for x in got) == ["n", "p"]
    await emit(js, "py1", "emit_except", "team", "not_team", 1)
    await emit(js, "node1", "emit_except", "team", "not_team", 2)
    for cid in ("py1", "node1"):
        got = [await received(js, cid, "not_team"), await received(js, cid, "not_team")]
        assert sorted(x[0] for x in got) == [1, 2]
    # A marker broadcast to all, after the others: a wrong delivery would have arrived first.
    await emit(js, "py1", "emit", "marker")
    for cid in ("py1", "py2", "node1", "node2"):
        await received(js, cid, "marker")
    assert names(js, "py2") == names(js, "node2") == {"for_team": 2, "marker": 1}
    assert names(js, "py1") == names(js, "node1") == {"not_team": 2, "marker": 1}


async def test_local_stays_local(js: Any, cluster: Cluster) -> None:
    py, node = cluster.python_url, cluster.node_url
    for cid, url in (("py1", py), ("node1", node)):
        await connect_to(js, cid, url)
    await emit(js, "py1", "emit_local", "only_python")
    await emit(js, "node1", "emit_local", "only_node")
    assert await received(js, "py1", "only_python") == []
    assert await received(js, "node1", "only_node") == []
    # Then something both see, so that a leaked local emit would have arrived by now.
    await emit(js, "py1", "emit", "after")
    await received(js, "node1", "after")
    await received(js, "py1", "after")
    assert names(js, "py1") == {"only_python": 1, "after": 1}
    assert names(js, "node1") == {"only_node": 1, "after": 1}


async def test_server_side_events_cross_both_ways(js: Any, cluster: Cluster) -> None:
    py, node = cluster.python_url, cluster.node_url
    for cid, url in (("py1", py), ("node1", node)):
        await connect_to(js, cid, url)
    await emit(js, "py1", "server_side", "hello", "from python", 1)
    assert await received(js, "node1", "from_server_side") == ["hello", "from python", 1]
    await emit(js, "node1", "server_side", "hello", "from node", 2)
    assert await received(js, "py1", "from_server_side") == ["hello", "from node", 2]
    assert await emit(js, "py1", "server_count", ack=True) == [2]
    assert await emit(js, "node1", "server_count", ack=True) == [2]


async def test_other_namespaces_cross_and_stay_apart(js: Any, cluster: Cluster) -> None:
    py, node = cluster.python_url, cluster.node_url
    for cid, url in (("py_chat", py), ("node_chat", node)):
        reply = await js.call({"cmd": "connect", "id": cid, "url": url + "/chat",
                               "opts": {"transports": ["websocket"], "forceNew": True}})
        assert reply["ok"], reply
        await js.wait_event(cid, "connect")
    for cid, url in (("py_main", py), ("node_main", node)):
        await connect_to(js, cid, url)
    await emit(js, "py_chat", "emit", "in_chat", "p")
    await emit(js, "node_chat", "emit", "in_chat", "n")
    for cid in ("py_chat", "node_chat"):
        assert sorted([(await received(js, cid, "in_chat"))[0], (await received(js, cid, "in_chat"))[0]]) == ["n", "p"]
    await emit(js, "py_main", "emit", "marker")
    for cid in ("py_main", "node_main"):
        await received(js, cid, "marker")
        assert names(js, cid) == {"marker": 1}

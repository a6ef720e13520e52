"""Proves the interop harness itself against the Node reference server.

If these fail, interop failures elsewhere say nothing about socketeer.
"""

from __future__ import annotations

import pytest
from jsclient import from_js, to_js

BLOB = bytes([0, 1, 2, 253, 254, 255])
PAYLOAD = ["hello", {"n": 42, "list": [1, "two", None], "ok": True}, BLOB]


def test_binary_codec_round_trip():
    nested = {"a": [b"\x00", {"b": bytearray(b"xy")}], "s": "$bin"}
    encoded = to_js(nested)
    assert encoded == {"a": [{"$bin": "AA=="}, {"b": {"$bin": "eHk="}}], "s": "$bin"}
    assert from_js(encoded) == {"a": [b"\x00", {"b": b"xy"}], "s": "$bin"}


@pytest.mark.parametrize(
    "opts, first, final",
    [
        ({}, "polling", "websocket"),
        ({"transports": ["websocket"]}, "websocket", "websocket"),
        ({"transports": ["polling"]}, "polling", "polling"),
    ],
    ids=["default", "websocket-only", "polling-only"],
)
async def test_connect_echo_ack(js, ref_server, opts, first, final):
    url = await ref_server()
    reply = await js.call({"cmd": "connect", "id": "c1", "url": url + "/", "opts": opts})
    assert reply["ok"] is True

    connected = await js.wait_event("c1", "connect")
    assert isinstance(connected["sid"], str) and len(connected["sid"]) == 20
    if first != final:
        # On loopback the upgrade may finish before the namespace CONNECT
        # reply, so only the upgrade event proves polling came first.
        upgraded = await js.wait_event("c1", "upgrade")
        assert upgraded["transport"] == "websocket"
    else:
        assert connected["transport"] == first

    state = await js.call({"cmd": "state", "id": "c1"})
    assert state["ok"] is True
    assert state["connected"] is True
    assert state["id"] == connected["sid"]
    assert state["transport"] == final

    await js.call({"cmd": "emit", "id": "c1", "event": "echo", "args": PAYLOAD})
    echoed = await js.wait_event("c1", "event", "echo")
    assert echoed["args"] == [
        "hello",
        {"n": 42, "list": [1, "two", None], "ok": True},
        b"\x00\x01\x02\xfd\xfe\xff",
    ]
    assert echoed["ack"] is False
    if first == final:
        assert [e for e in js.events["c1"] if e["type"] == "upgrade"] == []

    acked = await js.call({"cmd": "emit", "id": "c1", "event": "ack", "args": [{"bin": BLOB}, 7], "ack": True})
    assert acked == {"req": acked["req"], "ok": True, "ack": [{"bin": BLOB}, 7]}

    await js.call({"cmd": "disconnect", "id": "c1"})
    gone = await js.wait_event("c1", "disconnect")
    assert gone["reason"] == "io client disconnect"


async def test_admin_refused_without_token(js, ref_server):
    url = await ref_server()
    await js.call({"cmd": "connect", "id": "a", "url": url + "/admin"})
    err = await js.wait_event("a", "connect_error")
    assert err["message"] == "Not authorized"
    assert err["data"] == {"reason": "token"}
    state = await js.call({"cmd": "state", "id": "a"})
    assert state["connected"] is False
    assert state["active"] is False


async def test_admin_accepted_with_token(js, ref_server):
    url = await ref_server()
    await js.call({"cmd": "connect", "id": "a", "url": url + "/admin", "opts": {"auth": {"token": "ok"}}})
    await js.wait_event("a", "connect")
    acked = await js.call({"cmd": "emit", "id": "a", "event": "ack", "args": ["admin"], "ack": True})
    assert acked["ack"] == ["admin"]
    assert [e["type"] for e in js.events["a"]].count("connect_error") == 0


async def test_ack_timeout_and_bad_commands(js, ref_server):
    url = await ref_server()
    await js.call({"cmd": "connect", "id": "c1", "url": url})
    await js.wait_event("c1", "connect")

    # The server never acks "noop", so the client-side timeout must fire.
    late = await js.call({"cmd": "emit", "id": "c1", "event": "noop", "args": [], "ack": True, "timeout": 150})
    assert late["ok"] is False and late["error"] == "timeout"

    assert (await js.call({"cmd": "bogus"}))["error"] == 'unknown cmd "bogus"'
    assert (await js.call({"cmd": "emit", "id": "nope", "event": "x"}))["ok"] is False
    reserved = await js.call({"cmd": "emit", "id": "c1", "event": "connect"})
    assert reserved["error"] == '"connect" is a reserved event name'

    # The driver survived all of that.
    acked = await js.call({"cmd": "emit", "id": "c1", "event": "ack", "args": [1], "ack": True})
    assert acked["ack"] == [1]


async def test_server_to_client_ack(js, ref_server):
    url = await ref_server()
    await js.call({"cmd": "connect", "id": "c1", "url": url})
    await js.wait_event("c1", "connect")
    await js.call({"cmd": "on_ack", "id": "c1", "event": "question", "reply": ["answer", BLOB]})

    result = await js.call({"cmd": "emit", "id": "c1", "event": "call_client", "args": ["question", 5], "ack": True})
    assert result["ack"] == [{"reply": ["answer", BLOB]}]
    asked = await js.wait_event("c1", "event", "question")
    assert asked["args"] == [5]
    assert asked["ack"] is True


async def test_rooms_and_shared_manager(js, ref_server):
    url = await ref_server()
    # Two namespaces multiplexed over one engine.io connection.
    await js.call({"cmd": "connect", "id": "root", "url": url + "/", "manager": "m1"})
    await js.call({"cmd": "connect", "id": "dyn", "url": url + "/dyn-7", "manager": "m1"})
    await js.call({"cmd": "connect", "id": "other", "url": url + "/dyn-7", "opts": {"forceNew": True}})
    for cid in ("root", "dyn", "other"):
        await js.wait_event(cid, "connect")

    await js.call({"cmd": "emit", "id": "dyn", "event": "join", "args": ["r"], "ack": True})
    await js.call({"cmd": "emit", "id": "other", "event": "broadcast", "args": ["r", "news", "hi", BLOB], "ack": True})
    news = await js.wait_event("dyn", "event", "news")
    assert news["args"] == ["hi", BLOB]
    # Rooms belong to a namespace: "/" and the sender (not in "r") hear nothing.
    assert not any(e.get("event") == "news" for e in js.events["root"] + js.events["other"])


async def test_transport_loss_reconnects(js, ref_server):
    url = await ref_server()
    await js.call(
        {"cmd": "connect", "id": "c1", "url": url, "opts": {"reconnectionDelay": 50, "reconnectionDelayMax": 50}}
    )
    first = await js.wait_event("c1", "connect")
    await js.call({"cmd": "close_engine", "id": "c1"})
    lost = await js.wait_event("c1", "disconnect")
    assert lost["reason"] == "forced close"
    attempt = await js.wait_event("c1", "reconnect_attempt")
    assert attempt["attempt"] == 1
    again = await js.wait_event("c1", "connect")
    assert again["sid"] != first["sid"]
    assert again["recovered"] is False


async def test_msgpack_parser(js, ref_server):
    url = await ref_server({"parser": "msgpack"})
    await js.call({"cmd": "connect", "id": "c1", "url": url, "opts": {"parser": "msgpack"}})
    await js.wait_event("c1", "connect")
    await js.call({"cmd": "emit", "id": "c1", "event": "echo", "args": [{"x": BLOB}, 1.5]})
    echoed = await js.wait_event("c1", "event", "echo")
    assert echoed["args"] == [{"x": BLOB}, 1.5]


async def test_raw_engineio_socket(js, ref_server):
    url = await ref_server()
    await js.call(
        {"cmd": "eio_open", "id": "e1", "url": url, "opts": {"path": "/socket.io/", "transports": ["polling"]}}
    )
    hs = await js.wait_event("e1", "handshake")
    assert hs["data"]["upgrades"] == ["websocket"]
    assert hs["data"]["pingInterval"] == 25000
    assert hs["data"]["pingTimeout"] == 20000
    opened = await js.wait_event("e1", "open")
    assert opened["transport"] == "polling"

    # A Socket.IO CONNECT packet for "/" over the raw engine.io connection.
    await js.call({"cmd": "eio_send", "id": "e1", "data": "0"})
    msg = await js.wait_event("e1", "message")
    assert msg["data"].startswith('0{"sid":"')

    await js.call({"cmd": "eio_close", "id": "e1"})
    closed = await js.wait_event("e1", "close")
    assert closed["reason"] == "forced close"

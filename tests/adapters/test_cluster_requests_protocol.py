"""The classic Redis adapter's requests and answers, Sans-I/O: written byte for byte as
``@socket.io/redis-adapter`` writes them (JSON by ``JSON.stringify``, msgpack by ``notepack.io``,
both run here in Node on objects built as the adapter builds them), decoded from Node's bytes,
malformed ones refused with ``ClusterMessageError`` only, and the table of pending requests
(completion, deadlines, partial answers)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.adapters.base import BroadcastOptions, RemoteSocketDetails
from socketeer.adapters.cluster import (
    ClusterResponse,
    PendingRequest,
    RequestTable,
    RequestType,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from socketeer.exceptions import ClusterMessageError
from socketeer.socketio.packets import Packet, PacketType

INTEROP = Path(__file__).resolve().parent.parent / "interop"

# Each JavaScript expression builds its object as the adapter's source does (lib/index.ts).
NODE_SCRIPT = r"""
const msgpack = require("notepack.io");
const out = [
  JSON.stringify({ uid: "N1", requestId: "R1", type: 0, rooms: [...new Set(["a", "b"])] }),
  JSON.stringify({ uid: "N1", requestId: "R1", type: 1 }),
  JSON.stringify({ uid: "N1", type: 2, opts: { rooms: ["a"], except: ["b"] }, rooms: ["x", "y"] }),
  JSON.stringify({ uid: "N1", type: 3, opts: { rooms: [], except: [] }, rooms: ["x"] }),
  JSON.stringify({ uid: "N1", type: 4, opts: { rooms: ["a"], except: [] }, close: true }),
  JSON.stringify({ uid: "N1", requestId: "R1", type: 5, opts: { rooms: ["a"], except: [] } }),
  JSON.stringify({ uid: "N1", type: 6, data: ["ev", 1, { k: "é" }] }),
  JSON.stringify({ uid: "N1", requestId: "R1", type: 6, data: ["ev"] }),
  msgpack.encode({ uid: "N1", requestId: "R1", type: 7,
    packet: { type: 2, data: ["q", Buffer.from([1, 2])], nsp: "/", id: 3 },
    opts: { rooms: ["a"], except: [], flags: { timeout: 1500 } } }).toString("hex"),
  JSON.stringify({ type: 8, requestId: "R1", clientCount: 2 }),
  msgpack.encode({ type: 9, requestId: "R1", packet: ["answer", Buffer.from([9])] }).toString("hex"),
  JSON.stringify({ type: 6, requestId: "R1", data: { node: "n" } }),
  JSON.stringify({ requestId: "R1", sockets: ["s1", "s2"] }),
  JSON.stringify({ requestId: "R1", rooms: ["a"] }),
];
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_bytes() -> list[bytes]:
    done = subprocess.run(["node", "-e", NODE_SCRIPT], cwd=INTEROP, capture_output=True, text=True,
                          timeout=30, check=True)
    values = json.loads(done.stdout)
    binary = {8, 10}
    return [bytes.fromhex(v) if i in binary else v.encode() for i, v in enumerate(values)]


OPTS_A = BroadcastOptions(rooms=frozenset({"a"}))


def ours() -> list[bytes]:
    return [
        encode_request("N1", RequestType.SOCKETS, "R1", rooms=["a", "b"]),
        encode_request("N1", RequestType.ALL_ROOMS, "R1"),
        encode_request("N1", RequestType.REMOTE_JOIN, opts=BroadcastOptions(rooms=frozenset({"a"}),
                                                                             except_rooms=frozenset({"b"})),
                       rooms=["x", "y"]),
        encode_request("N1", RequestType.REMOTE_LEAVE, opts=BroadcastOptions(), rooms=["x"]),
        encode_request("N1", RequestType.REMOTE_DISCONNECT, opts=OPTS_A, close=True),
        encode_request("N1", RequestType.REMOTE_FETCH, "R1", opts=OPTS_A),
        encode_request("N1", RequestType.SERVER_SIDE_EMIT, data=["ev", 1, {"k": "é"}]),
        encode_request("N1", RequestType.SERVER_SIDE_EMIT, "R1", data=["ev"]),
        encode_request("N1", RequestType.BROADCAST, "R1",
                       packet=Packet(PacketType.EVENT, "/", ["q", b"\x01\x02"], 3),
                       opts=BroadcastOptions(rooms=frozenset({"a"}), timeout=1.5)),
        encode_response("R1", RequestType.BROADCAST_CLIENT_COUNT, clientCount=2),
        encode_response("R1", RequestType.BROADCAST_ACK, packet=["answer", b"\x09"]),
        encode_response("R1", RequestType.SERVER_SIDE_EMIT, data={"node": "n"}),
        encode_response("R1", RequestType.SOCKETS, sockets=["s1", "s2"]),
        encode_response("R1", RequestType.ALL_ROOMS, rooms=["a"]),
    ]


def test_written_as_node_writes_them(node_bytes: list[bytes]) -> None:
    for mine, theirs in zip(ours(), node_bytes, strict=True):
        assert mine == theirs


def test_requests_from_node_decoded(node_bytes: list[bytes]) -> None:
    sockets = decode_request(node_bytes[0])
    assert (sockets.uid, sockets.type, sockets.request_id, sockets.rooms) == ("N1", RequestType.SOCKETS, "R1",
                                                                              ["a", "b"])
    join = decode_request(node_bytes[2])
    assert join.type is RequestType.REMOTE_JOIN and join.request_id is None
    assert join.opts == BroadcastOptions(rooms=frozenset({"a"}), except_rooms=frozenset({"b"}))
    assert join.rooms == ["x", "y"]
    disconnect = decode_request(node_bytes[4])
    assert disconnect.close is True and disconnect.opts == OPTS_A
    fetch = decode_request(node_bytes[5])
    assert fetch.type is RequestType.REMOTE_FETCH and fetch.opts == OPTS_A
    emit = decode_request(node_bytes[6])
    assert emit.data == ["ev", 1, {"k": "é"}] and emit.request_id is None
    assert decode_request(node_bytes[7]).request_id == "R1"
    broadcast = decode_request(node_bytes[8])
    assert broadcast.packet == Packet(PacketType.EVENT, "/", ["q", b"\x01\x02"], 3)
    assert broadcast.opts == BroadcastOptions(rooms=frozenset({"a"}), timeout=1.5)


def test_answers_from_node_decoded(node_bytes: list[bytes]) -> None:
    count = decode_response(node_bytes[9])
    assert (count.request_id, count.type, count.raw["clientCount"]) == ("R1", RequestType.BROADCAST_CLIENT_COUNT, 2)
    ack = decode_response(node_bytes[10])
    assert ack.type is RequestType.BROADCAST_ACK and ack.raw["packet"] == ["answer", b"\x09"]
    assert decode_response(node_bytes[12]).type is None


@pytest.mark.parametrize("message", [
    b"", b"{", b"[]", b'{"uid": 1, "type": 0, "requestId": "r"}', b'{"uid": "u", "type": 10}',
    b'{"uid": "u", "type": true, "requestId": "r"}', b'{"uid": "u", "type": "0", "requestId": "r"}',
    b'{"uid": "u", "type": 0}', b'{"uid": "u", "type": 0, "requestId": "r", "rooms": "a"}',
    b'{"uid": "u", "type": 2, "opts": {"rooms": 5}}', b'{"uid": "u", "type": 2}',
    b'{"uid": "u", "type": 5, "requestId": "r"}', b'{"uid": "u", "type": 6, "data": []}',
    b'{"uid": "u", "type": 6, "data": "e"}', b'{"uid": "u", "type": 7, "requestId": "r", "opts": {}}',
    b'{"uid": "u", "type": 8, "requestId": "r"}', b'{"uid": "u", "type": 6, "data": ["e"], "requestId": [1]}',
])
def test_malformed_requests_refused(message: bytes) -> None:
    with pytest.raises(ClusterMessageError):
        decode_request(message)


@pytest.mark.parametrize("message", [b"", b"{}", b'{"requestId": null}', b'{"requestId": "r", "type": 99}',
                                     b"\x91\x01", b'{"requestId": {}}'])
def test_malformed_answers_refused(message: bytes) -> None:
    with pytest.raises(ClusterMessageError):
        decode_response(message)


def answer(raw: dict[str, Any]) -> ClusterResponse:
    return decode_response(orjson.dumps(raw))


def test_table_completes_when_every_counted_node_answered() -> None:
    table, done = RequestTable(), []
    table.add(PendingRequest("r", RequestType.SOCKETS, 10.0, expected=3, received=1, result={"local"},
                             on_done=done.append))
    assert table.answer(answer({"requestId": "r", "sockets": ["a"]}))
    assert not done and "r" in table
    assert not table.answer(answer({"requestId": "other", "sockets": ["x"]}))  # someone else's
    assert table.answer(answer({"requestId": "r", "sockets": ["b", "a"]}))
    assert done == [{"local", "a", "b"}] and len(table) == 0


def test_table_expires_with_what_came() -> None:
    table, expired = RequestTable(), []
    table.add(PendingRequest("r1", RequestType.REMOTE_FETCH, 5.0, expected=3, received=1, result=[],
                             on_expire=expired.append))
    table.add(PendingRequest("r2", RequestType.ALL_ROOMS, 9.0, expected=2, received=1, result=set()))
    table.answer(answer({"requestId": "r1", "sockets": [{"id": "s", "handshake": {"auth": {}}, "rooms": ["s"],
                                                         "data": {"x": 1}}]}))
    assert table.next_deadline() == 5.0
    assert table.expire(4.9) == []
    assert [r.request_id for r in table.expire(5.0)] == ["r1"]
    assert expired == [[RemoteSocketDetails("s", {"auth": {}}, frozenset({"s"}), {"x": 1})]]
    assert table.next_deadline() == 9.0


def test_table_relays_broadcast_counts_and_acks_until_the_deadline() -> None:
    table, counts, acks = RequestTable(), [], []
    table.add(PendingRequest("b", RequestType.BROADCAST, 3.0, on_count=counts.append, on_ack=acks.append))
    table.answer(answer({"type": 8, "requestId": "b", "clientCount": 2}))
    table.answer(decode_response(encode_response("b", RequestType.BROADCAST_ACK, packet=b"\x00")))
    assert counts == [2] and acks == [b"\x00"] and "b" in table
    with pytest.raises(ClusterMessageError):
        table.answer(answer({"type": 8, "requestId": "b", "clientCount": -1}))
    with pytest.raises(ClusterMessageError):
        table.answer(answer({"requestId": "b", "sockets": []}))
    table.expire(3.0)
    assert not table.answer(answer({"type": 8, "requestId": "b", "clientCount": 1}))
    assert counts == [2]


def test_nobody_else_to_ask_completes_at_once() -> None:
    table, done = RequestTable(), []
    table.add(PendingRequest("r", RequestType.ALL_ROOMS, 1.0, expected=1, received=1, result={"a"},
                             on_done=done.append))
    assert done == [{"a"}] and len(table) == 0


@pytest.mark.parametrize("raw", [
    {"requestId": "r", "sockets": "s"}, {"requestId": "r", "sockets": [1]},
    {"requestId": "r", "sockets": [{"handshake": {}}]}, {"requestId": "r", "sockets": [{"id": "s", "handshake": 1}]},
    {"requestId": "r", "sockets": [{"id": "s", "rooms": [{}]}]},
])
def test_malformed_fetch_answers_refused(raw: dict[str, Any]) -> None:
    table = RequestTable()
    table.add(PendingRequest("r", RequestType.REMOTE_FETCH, 1.0, expected=2, received=1, result=[]))
    with pytest.raises(ClusterMessageError):
        table.answer(answer(raw))


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=10)
objects = st.fixed_dictionaries({}, optional={
    "uid": json_values, "type": st.integers(-1, 11) | json_values, "requestId": json_values, "rooms": json_values,
    "opts": json_values, "data": json_values, "packet": json_values, "sid": json_values, "close": json_values,
    "sockets": json_values, "clientCount": json_values})


@settings(max_examples=300, deadline=None)
@given(objects, st.booleans())
def test_random_messages_never_raise_anything_else(obj: dict[str, Any], as_msgpack: bool) -> None:
    data = bytes(msgpack.packb(obj)) if as_msgpack else orjson.dumps(obj)
    try:
        decode_request(data)
    except ClusterMessageError:
        pass
    table = RequestTable()
    for kind in (RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH,
                 RequestType.SERVER_SIDE_EMIT, RequestType.BROADCAST):
        table.add(PendingRequest(f"r{kind}", kind, 1.0, expected=5, result=[] if kind in (
            RequestType.REMOTE_FETCH, RequestType.SERVER_SIDE_EMIT) else set()))
    try:
        response = decode_response(data)
        table.answer(ClusterResponse(f"r{RequestType(response.type or 0)}", response.type, response.raw))
    except ClusterMessageError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    for decode in (decode_request, decode_response):
        try:
            decode(data)
        except ClusterMessageError:
            pass

"""socket.io-adapter's ClusterAdapter dialect (sharded and streams flavours), Sans-I/O: what
this side writes decodes back to the same request, malformed messages and stream entries are
refused with ``ClusterMessageError`` and nothing else (fuzzed). The bytes against Node's are
checked where Node writes them, in test_redis_sharded.py and test_redis_streams_recovery.py."""

from __future__ import annotations

import base64
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.adapters.base import BroadcastOptions
from socketeer.adapters.cluster import RequestType
from socketeer.adapters.cluster_adapter import (
    MessageType,
    decode_message,
    decode_stream_entry,
    request_body,
    request_message,
    response_message,
    stream_fields,
)
from socketeer.exceptions import ClusterMessageError
from socketeer.socketio.packets import Packet, PacketType

OPTS = BroadcastOptions(rooms=frozenset({"a"}), except_rooms=frozenset({"b"}))
REQUESTS: list[tuple[RequestType, str | None, dict[str, Any]]] = [
    (RequestType.BROADCAST, None, {"packet": Packet(PacketType.EVENT, "/x", ["e", b"\x01"]), "opts": OPTS}),
    (RequestType.BROADCAST, "r1", {"packet": Packet(PacketType.EVENT, "/x", ["e"], 4), "opts": OPTS}),
    (RequestType.REMOTE_JOIN, None, {"opts": OPTS, "rooms": ["c"]}),
    (RequestType.REMOTE_LEAVE, None, {"opts": OPTS, "rooms": ["c"]}),
    (RequestType.REMOTE_DISCONNECT, None, {"opts": OPTS, "close": True}),
    (RequestType.REMOTE_FETCH, "r2", {"opts": OPTS}),
    (RequestType.SERVER_SIDE_EMIT, None, {"data": ["ev", 1]}),
    (RequestType.SERVER_SIDE_EMIT, "r3", {"data": ["ev", b"\x02"]}),
]


@pytest.mark.parametrize(("kind", "request_id", "fields"), REQUESTS)
def test_requests_round_trip_in_both_encodings(kind: RequestType, request_id: str | None,
                                               fields: dict[str, Any]) -> None:
    _, data = request_message("U1", "/x", kind, request_id, **fields)
    mtype, body = request_body(kind, request_id, **fields)
    entry = {k.encode(): v.encode() for k, v in stream_fields("U1", "/x", mtype, body).items()}
    for message in (decode_message(data), decode_stream_entry(entry)):
        assert (message.uid, message.nsp, message.type) == ("U1", "/x", mtype)
        request = message.request
        assert request is not None and request.type is kind and request.request_id == request_id
        if "packet" in fields:
            assert request.packet == fields["packet"]
        if "opts" in fields:
            assert request.opts == BroadcastOptions(rooms=OPTS.rooms, except_rooms=OPTS.except_rooms)
        if "data" in fields:
            assert request.data == fields["data"]


def test_answers_round_trip() -> None:
    for kind, fields, mtype in (
            (RequestType.REMOTE_FETCH, {"sockets": [{"id": "s", "rooms": ["s"], "data": None, "handshake": {}}]},
             MessageType.FETCH_SOCKETS_RESPONSE),
            (RequestType.SERVER_SIDE_EMIT, {"data": {"ok": b"\x00"}}, MessageType.SERVER_SIDE_EMIT_RESPONSE),
            (RequestType.BROADCAST_CLIENT_COUNT, {"clientCount": 3}, MessageType.BROADCAST_CLIENT_COUNT),
            (RequestType.BROADCAST_ACK, {"packet": [1, "x"]}, MessageType.BROADCAST_ACK)):
        for msgpack_always in (False, True):
            message = decode_message(response_message("U2", "/", "R", kind, msgpack_always=msgpack_always, **fields))
            assert message.type is mtype and message.response is not None and message.response.request_id == "R"


def test_binary_chooses_msgpack_and_plain_data_json() -> None:
    _, plain = request_message("U", "/", RequestType.SERVER_SIDE_EMIT, data=["e", 1])
    _, binary = request_message("U", "/", RequestType.SERVER_SIDE_EMIT, data=["e", b"\x00"])
    assert plain.startswith(b'{"type":9,"data":{"packet":["e",1]},"uid":"U","nsp":"/"}')
    assert binary[:1] != b"{"
    fields = stream_fields("U", "/", MessageType.SERVER_SIDE_EMIT, {"packet": ["e", b"\x00"]})
    assert msgpack.unpackb(base64.b64decode(fields["data"])) == {"packet": ["e", b"\x00"]}
    text = stream_fields("U", "/", MessageType.SERVER_SIDE_EMIT, {"packet": ["e", b"\x00"]}, only_plaintext=True)
    assert text["data"] == '{"packet":["e",{"type":"Buffer","data":[0]}]}'  # JSON.stringify of a Buffer


@pytest.mark.parametrize("fields", [
    {}, {b"type": b"x"}, {b"type": b"3", b"uid": b"u"}, {b"type": b"3", b"uid": b"u", b"nsp": b"/"},
    {b"type": b"3", b"uid": b"u", b"nsp": b"/", b"data": b"{bad"}, {b"type": b"3", b"uid": b"u", b"nsp": b"/",
                                                                      b"data": b"!!notbase64"},
    {b"type": b"99", b"uid": b"u", b"nsp": b"/"}, {b"type": b"1", b"uid": b"\xff", b"nsp": b"/"},
])
def test_malformed_entries_refused(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(ClusterMessageError):
        decode_stream_entry(fields)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=10)
bodies = st.fixed_dictionaries({}, optional={k: json_values for k in (
    "packet", "opts", "requestId", "rooms", "close", "sockets", "clientCount")})
messages = st.fixed_dictionaries({"type": st.integers(0, 14) | json_values}, optional={
    "uid": json_values | st.just("u"), "nsp": json_values | st.just("/"), "data": bodies | json_values})


@settings(max_examples=300, deadline=None)
@given(messages, st.booleans())
def test_random_messages_never_raise_anything_else(message: dict[str, Any], as_msgpack: bool) -> None:
    data = bytes(msgpack.packb(message)) if as_msgpack else orjson.dumps(message)
    try:
        decode_message(data)
    except ClusterMessageError:
        pass
    entry: dict[bytes, bytes] = {}
    for key in ("type", "uid", "nsp"):
        if key in message:
            entry[key.encode()] = str(message[key]).encode()
    if "data" in message:
        raw = orjson.dumps(message["data"])
        entry[b"data"] = raw if as_msgpack else base64.b64encode(msgpack.packb(message["data"]))
    try:
        decode_stream_entry(entry)
    except ClusterMessageError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.dictionaries(st.sampled_from([b"type", b"uid", b"nsp", b"data"]),
                                                st.binary(max_size=40)))
def test_random_bytes_never_raise_anything_else(data: bytes, fields: dict[bytes, bytes]) -> None:
    try:
        decode_message(data)
    except ClusterMessageError:
        pass
    try:
        decode_stream_entry(fields)
    except ClusterMessageError:
        pass

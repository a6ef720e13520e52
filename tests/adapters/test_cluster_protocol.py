"""The classic Redis adapter's broadcast message, byte for byte as ``@socket.io/redis-adapter``
writes it (its msgpack is ``notepack.io``, run here in Node), decoded from Node's bytes, and
every malformed message refused with ``ClusterMessageError`` and nothing else."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.adapters.base import BroadcastOptions
from socketeer.adapters.cluster import (
    RequestType,
    broadcast_channel,
    decode_broadcast,
    encode_broadcast,
    request_channel,
    response_channel,
)
from socketeer.exceptions import ClusterMessageError
from socketeer.limits import Limits
from socketeer.socketio.packets import Packet, PacketType

INTEROP = Path(__file__).resolve().parent.parent / "interop"


def notepack(values: list[Any]) -> list[bytes]:
    """Each value as Node's adapter encodes it (bytes go as {"$bin": hex})."""
    def to_json(value: Any) -> Any:
        if isinstance(value, bytes):
            return {"$bin": value.hex()}
        if isinstance(value, list):
            return [to_json(v) for v in value]
        if isinstance(value, dict):
            return {k: to_json(v) for k, v in value.items()}
        return value

    done = subprocess.run(["node", str(INTEROP / "notepack_encode.js")], input=json.dumps(to_json(values)),
                          capture_output=True, text=True, timeout=30, check=True)
    return [bytes.fromhex(line) for line in done.stdout.split()]


CASES = [
    # (packet, opts, the object Node's adapter publishes for them)
    (Packet(PacketType.EVENT, "/", ["hello", 1, 2.5, True, None, {"k": [1, "x"]}]), BroadcastOptions(),
     ["NODE01", {"type": 2, "data": ["hello", 1, 2.5, True, None, {"k": [1, "x"]}], "nsp": "/"},
      {"rooms": [], "except": [], "flags": {}}]),
    (Packet(PacketType.EVENT, "/chat", ["bin", b"\x01\x02\x03"]),
     BroadcastOptions(rooms=frozenset({"r1"}), except_rooms=frozenset({"r2", "r3"}), volatile=True),
     ["NODE01", {"type": 2, "data": ["bin", b"\x01\x02\x03"], "nsp": "/chat"},
      {"rooms": ["r1"], "except": ["r2", "r3"], "flags": {"volatile": True}}]),
    (Packet(PacketType.EVENT, "/", ["q"], 7), BroadcastOptions(timeout=5.0),
     ["NODE01", {"type": 2, "data": ["q"], "nsp": "/", "id": 7},
      {"rooms": [], "except": [], "flags": {"timeout": 5000}}]),
    (Packet(PacketType.EVENT, "/", ["big", 4294967296, -1, -200, 70000, "é€𝄞" * 20]),
     BroadcastOptions(compress=False, local=True),
     ["NODE01", {"type": 2, "data": ["big", 4294967296, -1, -200, 70000, "é€𝄞" * 20], "nsp": "/"},
      {"rooms": [], "except": [], "flags": {"compress": False, "local": True}}]),
]


def test_encoded_as_node_encodes_it() -> None:
    expected = notepack([node for _, _, node in CASES])
    ours = [encode_broadcast("NODE01", packet, opts) for packet, opts, _ in CASES]
    assert ours == expected


def test_decodes_what_node_sends() -> None:
    for (packet, opts, _), data in zip(CASES, notepack([node for _, _, node in CASES]), strict=True):
        got = decode_broadcast(data)
        assert got.uid == "NODE01"
        assert got.packet == packet
        assert got.opts == opts


def test_node_leaves_undefined_flags_out_and_may_omit_the_namespace() -> None:
    (data,) = notepack([["N", {"type": 2, "data": ["e", 1]}, {"rooms": ["a", "b"], "except": []}]])
    got = decode_broadcast(data)
    assert got.packet == Packet(PacketType.EVENT, "/", ["e", 1])
    assert got.opts.rooms == frozenset({"a", "b"}) and not got.opts.volatile and got.opts.timeout is None


def test_channels() -> None:
    assert broadcast_channel("socket.io", "/") == "socket.io#/#"
    assert broadcast_channel("socket.io", "/chat", frozenset({"room 1"})) == "socket.io#/chat#room 1#"
    assert broadcast_channel("socket.io", "/", frozenset({"a", "b"})) == "socket.io#/#"
    assert request_channel("socket.io", "/") == "socket.io-request#/#"
    assert response_channel("socket.io", "/") == "socket.io-response#/#"
    assert response_channel("socket.io", "/", "abc") == "socket.io-response#/#abc#"
    assert [t.value for t in RequestType] == list(range(10))


def pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


GOOD = ["u", {"type": 2, "data": ["e"], "nsp": "/"}, {"rooms": [], "except": [], "flags": {}}]


@pytest.mark.parametrize("message", [
    b"", b"\xc1", b"\x93\xa1u", pack("just a string"), pack([1, 2]), pack([None, GOOD[1], GOOD[2]]),
    pack(["u", "packet", {}]), pack(["u", {"type": 0, "data": ["e"], "nsp": "/"}, {}]),
    pack(["u", {"type": 2, "data": [], "nsp": "/"}, {}]), pack(["u", {"type": 2, "data": [1], "nsp": "/"}, {}]),
    pack(["u", {"type": 2, "data": ["e"], "nsp": 3}, {}]), pack(["u", {"type": 2, "data": ["e"], "nsp": "x"}, {}]),
    pack(["u", {"type": 2, "data": ["e"], "nsp": "/", "id": -1}, {}]),
    pack(["u", GOOD[1], {"rooms": "r"}]), pack(["u", GOOD[1], {"rooms": [["nested"]]}]),
    pack(["u", GOOD[1], {"flags": []}]), pack(["u", GOOD[1], {"flags": {"timeout": "soon"}}]),
    b"\x93\xa1u\xd4\x05\x00\x80",  # an extension type Node never writes
], ids=lambda m: m[:12].hex() or "empty")
def test_malformed_messages_are_refused(message: bytes) -> None:
    with pytest.raises(ClusterMessageError):
        decode_broadcast(message)


def test_limits() -> None:
    data = encode_broadcast("u", Packet(PacketType.EVENT, "/", ["e", "x" * 2000]), BroadcastOptions())
    with pytest.raises(ClusterMessageError, match="max_payload"):
        decode_broadcast(data, Limits(max_payload=1000))
    deep: Any = "leaf"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ClusterMessageError, match="nested"):
        decode_broadcast(pack(["u", {"type": 2, "data": ["e", deep], "nsp": "/"}, {}]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    try:
        decode_broadcast(data)
    except ClusterMessageError:
        pass

"""Packet encode/decode: socketeer vs python-socketio + python-engineio, in the same run.

Each side does what its server does per message, engine layer included, so the ratio is
the one a user would see: python-socketio's server wraps each ``socketio.packet.Packet``
encoding in an ``engineio.packet.Packet`` (and unwraps on receipt), while socketeer's
session prefixes or strips the ``"4"`` itself. For polling, a message is wrapped when it
is sent and the payload is joined when the poll is answered; both steps are timed, because
both are paid once per message. A POSTed body arrives as bytes on both sides, so decoding
starts from bytes (python-engineio decodes UTF-8 before ``Payload``; socketeer's
``decode_payload`` does it inside).

Before anything is timed both libraries' outputs are compared: identical wire text where
the formats agree (they do, for all three cases), identical decoded data otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import engineio.packet as eio_packet  # type: ignore[import-untyped]
import engineio.payload as eio_payload  # type: ignore[import-untyped]
import socketio.packet as sio_packet  # type: ignore[import-untyped]

from bench._timing import best_time, environment, format_rate, print_table
from socketeer.engineio.packets import PacketType as EioType
from socketeer.engineio.payload import decode_payload, encode_payload
from socketeer.socketio.packets import Packet, PacketType
from socketeer.socketio.parser import Decoder, encode_event

Wire = list[str | bytes]

CHAT_ARGS: list[Any] = ["chat", {"user": "alice", "text": "hello world", "ts": 1700000000}]
FILE_ARGS: list[Any] = ["file", {"name": "a.bin", "data": bytes(range(256)) * 4}]
#: What a poll carries: ten small Socket.IO events, as Engine.IO message data.
POLL_MESSAGES: list[str] = [
    f'2["chat",{{"user":"alice","text":"hello world","ts":{1700000000 + i}}}]' for i in range(10)
]


# -- socketeer ------------------------------------------------------------------------------


def _sk_engine_ws(data: str | bytes) -> str | bytes:
    """What ``Session.send`` queues: text gets the MESSAGE type, binary goes bare."""
    return data if isinstance(data, bytes) else "4" + data


def sk_encode(args: list[Any]) -> Wire:
    return [_sk_engine_ws(part) for part in encode_event("/", args)]


def sk_decode(wire: Wire, decoder: Decoder) -> Packet | None:
    """The session's hot path (strip ``"4"``) feeding the Socket.IO reassembler."""
    packet = None
    for message in wire:
        if isinstance(message, bytes):
            packet = decoder.feed_binary(message)
        elif message[:1] == "4":
            packet = decoder.feed_text(message[1:])
    return packet


def sk_encode_payload(messages: list[str]) -> str:
    return encode_payload([_sk_engine_ws(m) for m in messages])


def sk_decode_payload(body: bytes) -> list[tuple[int, str | bytes | None]]:
    return [(p.type, p.data) for p in decode_payload(body)]


# -- python-socketio / python-engineio ------------------------------------------------------


def ps_encode(args: list[Any]) -> Wire:
    """``Server._send_packet`` then ``engineio`` ``Socket.send`` and the writer's ``encode``."""
    encoded = sio_packet.Packet(sio_packet.EVENT, namespace="/", data=args).encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, data=part).encode() for part in parts]


def ps_decode(wire: Wire) -> Any:
    """engineio's ``Packet(encoded_packet=...)`` then ``Server._handle_eio_message``."""
    pending = None
    for message in wire:
        data = eio_packet.Packet(encoded_packet=message).data
        if pending is not None:
            if pending.add_attachment(data):
                return pending
            continue
        packet = sio_packet.Packet(encoded_packet=data)
        if packet.attachment_count:
            pending = packet
        else:
            return packet
    return pending


def ps_encode_payload(messages: list[str]) -> str:
    packets = [eio_packet.Packet(eio_packet.MESSAGE, data=m) for m in messages]
    result: str = eio_payload.Payload(packets=packets).encode()
    return result


def ps_decode_payload(body: bytes) -> list[tuple[int, str | bytes | None]]:
    payload = eio_payload.Payload(encoded_payload=body.decode("utf-8"))
    return [(p.packet_type, p.data) for p in payload.packets]


# -- the cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    case: str
    operation: str
    #: Socket.IO (or, for polling, Engine.IO) packets handled per call.
    packets: int
    socketeer: Callable[[], object]
    python_socketio: Callable[[], object]


def _check_event(args: list[Any]) -> Wire:
    """Both libraries agree on the wire and on what it decodes to; returns the wire."""
    wire = sk_encode(args)
    theirs = ps_encode(args)
    assert wire == theirs, f"wire differs:\n  socketeer:       {wire!r}\n  python-socketio: {theirs!r}"
    ours = sk_decode(wire, Decoder())
    decoded = ps_decode(wire)
    assert ours is not None and ours.data == args == decoded.data, (ours, decoded.data)
    assert ours.namespace == (decoded.namespace or "/") and ours.id == decoded.id is None
    expected_type = PacketType.BINARY_EVENT if len(wire) > 1 else PacketType.EVENT
    assert ours.type is expected_type and decoded.packet_type == int(expected_type)
    return wire


def _check_payload(messages: list[str]) -> bytes:
    text = sk_encode_payload(messages)
    assert text == ps_encode_payload(messages), "payload text differs"
    body = text.encode("utf-8")
    ours = sk_decode_payload(body)
    assert ours == ps_decode_payload(body) == [(int(EioType.MESSAGE), m) for m in messages]
    return body


def build_measurements() -> list[Measurement]:
    chat_wire = _check_event(CHAT_ARGS)
    file_wire = _check_event(FILE_ARGS)
    assert isinstance(chat_wire[0], str) and chat_wire[0].startswith('42["chat",')
    assert file_wire[0] == '451-["file",{"name":"a.bin","data":{"_placeholder":true,"num":0}}]'
    body = _check_payload(POLL_MESSAGES)
    decoder = Decoder()
    n = len(POLL_MESSAGES)
    return [
        Measurement("small EVENT", "encode", 1, lambda: sk_encode(CHAT_ARGS), lambda: ps_encode(CHAT_ARGS)),
        Measurement("small EVENT", "decode", 1, lambda: sk_decode(chat_wire, decoder), lambda: ps_decode(chat_wire)),
        Measurement("EVENT + 1 KiB binary", "encode", 1, lambda: sk_encode(FILE_ARGS), lambda: ps_encode(FILE_ARGS)),
        Measurement(
            "EVENT + 1 KiB binary", "decode", 1, lambda: sk_decode(file_wire, decoder), lambda: ps_decode(file_wire)
        ),
        Measurement(
            f"polling payload x{n}",
            "encode",
            n,
            lambda: sk_encode_payload(POLL_MESSAGES),
            lambda: ps_encode_payload(POLL_MESSAGES),
        ),
        Measurement(
            f"polling payload x{n}",
            "decode",
            n,
            lambda: sk_decode_payload(body),
            lambda: ps_decode_payload(body),
        ),
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench core", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timing loop (default 0.3)")
    parser.add_argument("--repeat", type=int, default=5, help="timing loops per measurement, best kept (default 5)")
    opts = parser.parse_args(argv)

    print(environment("socketeer", "python-socketio", "python-engineio", "orjson"))
    measurements = build_measurements()
    print("outputs checked: identical wire text and decoded data in all cases\n")
    rows = []
    for m in measurements:
        ours = m.packets / best_time(m.socketeer, opts.min_time, opts.repeat)
        theirs = m.packets / best_time(m.python_socketio, opts.min_time, opts.repeat)
        rows.append([m.case, m.operation, format_rate(ours), format_rate(theirs), f"{ours / theirs:.2f}x"])
    print_table(
        ["case", "operation", "socketeer pkt/s", "python-socketio pkt/s", "ratio"],
        rows,
        right=[False, False, True, True, True],
    )
    print(
        "\npkt/s counts Socket.IO packets (the binary case's attachment is part of its packet);"
        " for the polling payload, Engine.IO packets. ratio = socketeer / python-socketio."
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

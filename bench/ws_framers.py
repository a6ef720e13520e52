"""WebSocket framing candidates for the server: frames/s and MB/s on the same workloads.

The server's framer is ours to write, and this settles how: pure-Python framing with the
masking in C (websockets.speedups.apply_mask), or in pure Python, against the framers we
could adopt instead (websockets' Sans-I/O protocol, wsproto, picows). Every candidate sits
on an established server-side connection and gets the same bytes, as a socket would hand
them over; each must return the same payloads (text as ``str``, so UTF-8 decoding is
always paid) or the same frame bytes, checked before anything is timed.

The parser below is deliberately the one a server would ship, not a toy: it rejects what
RFC 6455 says to reject (reserved bits, unmasked client frames, non-minimal or 63-bit
lengths, bad control frames, stray continuations, bad UTF-8), because checks cost time and
a framer that skips them would win a benchmark it should not.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.speedups import apply_mask

from bench._timing import best_time, environment, format_rate, print_table

# -- our own framing ------------------------------------------------------------------------

_HEAD2 = struct.Struct("!BB")
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")

Unmask = Callable[[memoryview, bytearray], bytes]


def unmask_python(data: memoryview, mask: bytearray) -> bytes:
    """XOR as one big integer: the fastest pure-Python way, and still O(n) per frame."""
    n = len(data)
    if not n:
        return b""
    key = (mask * ((n + 3) // 4))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class ProtocolViolation(Exception):
    """The peer broke RFC 6455; the connection closes with ``code`` (1002, 1007 or 1009)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class FrameParser:
    """Server side: turns client bytes into whole messages (``str`` for text, ``bytes`` for binary).

    Control frames go to ``control`` as ``(opcode, payload)`` for the caller to answer. The
    hot path (a whole text or binary frame) is one header test and one append; everything
    else takes ``_slow_frame``.
    """

    __slots__ = ("_buffer", "_fragment_opcode", "_fragments", "_max_size", "_unmask", "control")

    def __init__(self, unmask: Unmask = apply_mask, max_size: int = 2**20) -> None:
        self._buffer = bytearray()
        self._unmask = unmask
        self._max_size = max_size
        self._fragment_opcode = 0  # the opcode of the message being continued; 0 when none
        self._fragments: list[bytes] = []
        self.control: list[tuple[int, bytes]] = []

    def feed(self, data: bytes) -> list[str | bytes]:
        buffer = self._buffer
        buffer += data
        messages: list[str | bytes] = []
        pos = 0
        end = len(buffer)
        unmask = self._unmask
        max_size = self._max_size
        with memoryview(buffer) as view:
            while end - pos >= 2:  # enough to judge a header; the payload check covers the mask
                b0 = buffer[pos]
                b1 = buffer[pos + 1]
                length = b1 & 0x7F
                start = pos + 6
                if length >= 126:
                    if length == 126:
                        start = pos + 8
                        if end < start:
                            break
                        length = _U16.unpack_from(buffer, pos + 2)[0]
                        if length < 126:
                            raise ProtocolViolation(1002, "non-minimal 16-bit length")
                    else:
                        start = pos + 14
                        if end < start:
                            break
                        length = _U64.unpack_from(buffer, pos + 2)[0]
                        if length < 65536 or length >> 63:
                            raise ProtocolViolation(1002, "non-minimal or 64-bit length")
                # Checked before waiting for the payload, so an oversized frame is never buffered.
                if b0 & 0x70 or not b1 & 0x80 or length > max_size or (b0 & 0x08 and (length > 125 or b0 < 0x80)):
                    _reject_header(b0, b1, length, max_size)
                stop = start + length
                if stop > end:
                    break
                payload = unmask(view[start:stop], buffer[start - 4 : start])
                pos = stop
                if self._fragment_opcode == 0:
                    if b0 == 0x81:
                        try:
                            messages.append(payload.decode())
                        except UnicodeDecodeError:
                            raise ProtocolViolation(1007, "invalid UTF-8 in a text message") from None
                        continue
                    if b0 == 0x82:
                        messages.append(payload)
                        continue
                self._slow_frame(b0, payload, messages)
        if pos:
            del buffer[:pos]
        return messages

    def _slow_frame(self, b0: int, payload: bytes, messages: list[str | bytes]) -> None:
        opcode = b0 & 0x0F
        if opcode >= 8:
            if opcode > 10:
                raise ProtocolViolation(1002, f"reserved opcode {opcode}")
            self.control.append((opcode, payload))
            return
        if opcode == 0:
            if not self._fragment_opcode:
                raise ProtocolViolation(1002, "continuation frame with no message to continue")
            self._fragments.append(payload)
            if sum(map(len, self._fragments)) > self._max_size:
                raise ProtocolViolation(1009, "message too big")
        elif opcode <= 2:
            if self._fragment_opcode:
                raise ProtocolViolation(1002, "new message before the last one was finished")
            self._fragment_opcode = opcode
            self._fragments = [payload]
        else:
            raise ProtocolViolation(1002, f"reserved opcode {opcode}")
        if b0 & 0x80:
            whole = b"".join(self._fragments)
            text = self._fragment_opcode == 1
            self._fragment_opcode = 0
            self._fragments = []
            try:
                messages.append(whole.decode() if text else whole)
            except UnicodeDecodeError:
                raise ProtocolViolation(1007, "invalid UTF-8 in a text message") from None


def _reject_header(b0: int, b1: int, length: int, max_size: int) -> None:
    if b0 & 0x70:
        raise ProtocolViolation(1002, "reserved bits set without an extension")
    if not b1 & 0x80:
        raise ProtocolViolation(1002, "client frame not masked")
    if b0 & 0x08 and (length > 125 or b0 < 0x80):
        raise ProtocolViolation(1002, "control frame fragmented or over 125 bytes")
    raise ProtocolViolation(1009, f"frame of {length} bytes over the limit of {max_size}")


def build_frame(opcode: int, payload: bytes) -> bytes:
    """A whole, unmasked server frame."""
    n = len(payload)
    if n < 126:
        return _HEAD2.pack(0x80 | opcode, n) + payload
    if n < 65536:
        return _HEAD16.pack(0x80 | opcode, 126, n) + payload
    return _HEAD64.pack(0x80 | opcode, 127, n) + payload


def build_client_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """What a browser sends; only used to make the workloads."""
    n = len(payload)
    if n < 126:
        head = _HEAD2.pack(0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = _HEAD16.pack(0x80 | opcode, 0x80 | 126, n)
    else:
        head = _HEAD64.pack(0x80 | opcode, 0x80 | 127, n)
    return head + mask + apply_mask(payload, mask)


# -- the candidates -------------------------------------------------------------------------


class Candidate(Protocol):
    label: str

    def parse(self, chunks: list[bytes]) -> list[str | bytes]: ...

    def build_text(self, texts: list[str]) -> list[bytes]: ...


class OwnFraming:
    def __init__(self, label: str, unmask: Unmask) -> None:
        self.label = label
        self.parser = FrameParser(unmask)

    def parse(self, chunks: list[bytes]) -> list[str | bytes]:
        feed = self.parser.feed
        out: list[str | bytes] = []
        for chunk in chunks:
            out += feed(chunk)
        return out

    def build_text(self, texts: list[str]) -> list[bytes]:
        return [build_frame(1, text.encode()) for text in texts]


class WebsocketsSansIO:
    """An OPEN ``ServerProtocol``, as after the handshake; frames, not messages, come out."""

    def __init__(self) -> None:
        self.label = "(iii) websockets ServerProtocol"
        self.protocol = ServerProtocol(state=State.OPEN, max_size=2**20)

    def parse(self, chunks: list[bytes]) -> list[str | bytes]:
        protocol = self.protocol
        out: list[str | bytes] = []
        for chunk in chunks:
            protocol.receive_data(chunk)
            for event in protocol.events_received():
                if isinstance(event, Frame):
                    if event.opcode is Opcode.TEXT:
                        out.append(str(event.data, "utf-8"))
                    elif event.opcode is Opcode.BINARY:
                        out.append(bytes(event.data))
        return out

    def build_text(self, texts: list[str]) -> list[bytes]:
        protocol = self.protocol
        out: list[bytes] = []
        for text in texts:
            protocol.send_text(text.encode())
            out += protocol.data_to_send()
        return out


def wsproto_candidate() -> Candidate | str:
    """An established ``wsproto.connection.Connection`` (what ``WSConnection`` wraps after the handshake)."""
    try:
        from wsproto.connection import Connection, ConnectionType
        from wsproto.events import BytesMessage, TextMessage
    except ImportError as exc:
        return f"wsproto not installed ({exc}); pip install wsproto"

    class Wsproto:
        label = "(iv) wsproto"

        def __init__(self) -> None:
            self.connection = Connection(ConnectionType.SERVER)
            self.text_parts: list[str] = []
            self.binary_parts: list[bytes] = []

        def parse(self, chunks: list[bytes]) -> list[str | bytes]:
            # wsproto hands out whatever part of a message has arrived; join the parts.
            connection = self.connection
            out: list[str | bytes] = []
            for chunk in chunks:
                connection.receive_data(chunk)
                for event in connection.events():
                    if isinstance(event, TextMessage):
                        if event.message_finished and not self.text_parts:
                            out.append(event.data)
                        else:
                            self.text_parts.append(event.data)
                            if event.message_finished:
                                out.append("".join(self.text_parts))
                                self.text_parts = []
                    elif isinstance(event, BytesMessage):
                        self.binary_parts.append(bytes(event.data))
                        if event.message_finished:
                            out.append(b"".join(self.binary_parts))
                            self.binary_parts = []
            return out

        def build_text(self, texts: list[str]) -> list[bytes]:
            send = self.connection.send
            return [send(TextMessage(data=text)) for text in texts]

    return Wsproto()


_HANDSHAKE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    b"Host: localhost\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


class _NoSocket:
    """Enough of a socket for picows' ``connection_made``; nothing is ever sent through it."""

    def setsockopt(self, *args: object) -> None:
        pass

    def getsockopt(self, *args: object) -> int:
        return 0

    def fileno(self) -> int:
        return -1


class _SinkTransport:
    """Collects what picows writes.

    A non-zero write-buffer size keeps picows off its fast path, which would ``send()`` on
    the file descriptor directly; it then hands every frame to ``write`` as bytes.
    """

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.write = self.written.append

    def get_extra_info(self, name: str, default: object = None) -> object:
        return _NoSocket() if name == "socket" else default

    def get_write_buffer_size(self) -> int:
        return 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def picows_candidate() -> Candidate | str:
    """picows has no Sans-I/O API; its ``WSProtocol`` is driven as asyncio would, without a socket.

    ``WSProtocol`` is not exported (``picows.picows`` internals), so this can break on a
    picows upgrade; it then reports why and the table goes on without it.
    """
    try:
        from picows import WSAutoPingStrategy, WSFrame, WSListener, WSMsgType, WSTransport

        ws_protocol_class: Any = importlib.import_module("picows.picows").WSProtocol
    except (ImportError, AttributeError) as exc:
        return f"picows not usable ({exc}); pip install picows"

    class Collector(WSListener):
        def __init__(self) -> None:
            self.messages: list[str | bytes] = []

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                self.messages.append(frame.get_payload_as_utf8_text())
            elif frame.msg_type == WSMsgType.BINARY:
                self.messages.append(frame.get_payload_as_bytes())

    def feed(protocol: Any, data: bytes) -> None:
        # What asyncio's recv_into does: copy into the buffer picows lends, as often as needed.
        view = memoryview(data)
        while view:
            target = protocol.get_buffer(-1)
            n = min(len(target), len(view))
            target[:n] = view[:n]
            protocol.buffer_updated(n)
            view = view[n:]

    class Picows:
        label = "(v) picows WSProtocol"

        def __init__(self) -> None:
            self.collector = Collector()
            self.sink = _SinkTransport()
            self.loop = asyncio.new_event_loop()  # WSProtocol wants a running loop to be created
            self.protocol = self.loop.run_until_complete(self._open())
            assert self.sink.written and self.sink.written[0].startswith(b"HTTP/1.1 101"), self.sink.written
            self.transport: WSTransport = self.protocol.transport

        async def _open(self) -> Any:
            protocol = ws_protocol_class(
                None,  # host:port (client only)
                None,  # path (client only)
                False,  # is_client_side
                lambda request: self.collector,
                logging.getLogger("bench.picows"),
                True,  # disconnect_on_exception
                None,  # handshake timeout: none, so no timer is left on the loop
                False,  # auto ping
                20,
                20,
                WSAutoPingStrategy.PING_WHEN_IDLE,
                True,  # auto pong
                2**20,  # max_frame_size, as for the others
                None,  # extra headers
                16 * 1024,  # initial read buffer, picows' default
            )
            protocol.connection_made(self.sink)
            feed(protocol, _HANDSHAKE)
            return protocol

        def parse(self, chunks: list[bytes]) -> list[str | bytes]:
            protocol = self.protocol
            out: list[str | bytes] = []
            self.collector.messages = out
            for chunk in chunks:
                feed(protocol, chunk)
            return out

        def build_text(self, texts: list[str]) -> list[bytes]:
            send = self.transport.send
            text_type = WSMsgType.TEXT
            self.sink.written.clear()
            for text in texts:
                send(text_type, text.encode())
            return list(self.sink.written)

    try:
        return Picows()
    except Exception as exc:  # an internal API moved: say so rather than fail the run
        return f"picows {type(exc).__name__}: {exc}"


# -- the workloads --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    frames: int
    payload_bytes: int
    run: Callable[[Candidate], object]
    check: Callable[[Candidate], None]


def _chunks(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def make_workloads(rng: random.Random, small: int, big: int, chunk_size: int) -> list[Workload]:
    texts: list[str] = []
    for i in range(small):
        head = f'42["chat",{{"n":{i},"text":"'
        texts.append((head + "hello world! " * 5)[:57] + '"}]')
    assert all(len(t) == 60 for t in texts)
    text_stream = b"".join(build_client_frame(1, t.encode(), rng.randbytes(4)) for t in texts)
    text_chunks = _chunks(text_stream, chunk_size)

    blobs = [rng.randbytes(65536) for _ in range(big)]
    binary_stream = b"".join(build_client_frame(2, b, rng.randbytes(4)) for b in blobs)
    binary_chunks = _chunks(binary_stream, chunk_size)

    expected_server_frames = b"".join(b"\x81\x3c" + t.encode() for t in texts)

    def check_parse(chunks: list[bytes], expected: list[str] | list[bytes]) -> Callable[[Candidate], None]:
        def check(candidate: Candidate) -> None:
            got = candidate.parse(chunks)
            assert got == expected, f"{candidate.label}: {len(got)} messages, first {got[:1]!r}"

        return check

    def check_build(candidate: Candidate) -> None:
        got = b"".join(candidate.build_text(texts))
        assert got == expected_server_frames, f"{candidate.label}: built frames differ"

    kib = chunk_size // 1024
    return [
        Workload(
            f"parse {small:,} masked 60 B text frames ({kib} KiB reads) -> str",
            small,
            60 * small,
            lambda c: c.parse(text_chunks),
            check_parse(text_chunks, texts),
        ),
        Workload(
            f"build {small:,} unmasked 60 B text frames from str",
            small,
            60 * small,
            lambda c: c.build_text(texts),
            check_build,
        ),
        Workload(
            f"parse {big} masked 64 KiB binary frames ({kib} KiB reads)",
            big,
            65536 * big,
            lambda c: c.parse(binary_chunks),
            check_parse(binary_chunks, blobs),
        ),
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ws_framers", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timing loop (default 0.3)")
    parser.add_argument("--repeat", type=int, default=5, help="timing loops per measurement, best kept (default 5)")
    parser.add_argument("--chunk", type=int, default=16 * 1024, help="bytes per simulated socket read (default 16384)")
    opts = parser.parse_args(argv)

    print(environment("websockets", "wsproto", "picows"))
    candidates: list[Candidate] = [
        OwnFraming("(i) own framing + C unmask", apply_mask),
        OwnFraming("(ii) own framing + Python unmask", unmask_python),
        WebsocketsSansIO(),
    ]
    for make in (wsproto_candidate, picows_candidate):
        made = make()
        if isinstance(made, str):
            print(f"skipped: {made}")
        else:
            candidates.append(made)

    workloads = make_workloads(random.Random(1234), small=10_000, big=200, chunk_size=opts.chunk)
    for workload in workloads:
        for candidate in candidates:
            workload.check(candidate)
    print(f"outputs checked: all {len(candidates)} candidates agree on every workload")

    for workload in workloads:
        print(f"\n{workload.name}")
        rows = []
        baseline = 0.0
        for candidate in candidates:
            seconds = best_time(partial(workload.run, candidate), opts.min_time, opts.repeat)
            frames = workload.frames / seconds
            baseline = baseline or frames
            rows.append(
                [
                    candidate.label,
                    format_rate(frames),
                    f"{workload.payload_bytes / seconds / 1e6:,.1f}",
                    f"{seconds / workload.frames * 1e6:.2f}",
                    f"{frames / baseline:.2f}x",
                ]
            )
        print_table(
            ["candidate", "frames/s", "MB/s", "us/frame", "vs (i)"], rows, right=[False, True, True, True, True]
        )
    print("\nMB/s counts payload bytes (10^6 per MB); headers and masks are not counted.")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

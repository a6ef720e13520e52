"""``LocalClusterAdapter``: the nodes of one machine (the workers of ``socketeer run
--workers``, or any processes) in a cluster without Redis, as Node's
``@socket.io/cluster-adapter`` joins the workers of one machine over IPC.

A ``LocalHub`` listens on a Unix socket and relays; each namespace adapter of each node holds
one connection to it. What travels is the ``ClusterAdapter`` dialect of
``adapters/cluster_adapter.py`` (the same messages as the sharded and streams flavours), so the
node logic is ``ClusterAdapterNode``'s and nothing here knows what a broadcast is.

Frames, both ways: a 4-byte big-endian length, then the frame. A node's first frame is
``H <nsp>\\n<uid>``; then ``* <message>`` goes to every other node of the namespace and
``<uid> <message>`` to that node only. The hub sends each node ``# <count>`` whenever the
namespace's membership changes (the server count, this node included), and relays messages
as they came. A frame over ``max_frame`` bytes ends that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import TYPE_CHECKING, Any

from ..exceptions import ClusterMessageError
from ..socketio.packets import Packet
from .base import BroadcastOptions
from .cluster import ClusterBroadcast, ClusterRequest, RequestType
from .cluster_adapter import MessageType, decode_message, request_message, response_message
from .clustered import ClusterAdapterNode

if TYPE_CHECKING:
    from ..server.namespace import Namespace

__all__ = ["LocalClusterAdapter", "LocalHub", "LocalNamespaceAdapter"]

logger = logging.getLogger("socketeer.adapter.local")

_LENGTH = struct.Struct(">I")
#: Largest frame the hub or a node accepts (a message is at most one ``max_payload`` packet
#: with its envelope).
MAX_FRAME = 16 * 1024 * 1024


async def _read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    (size,) = _LENGTH.unpack(await reader.readexactly(4))
    if size > limit:
        raise ClusterMessageError(f"a frame of {size} bytes is over {limit}")
    return await reader.readexactly(size)


def _frame(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


class LocalHub:
    """The relay, on the Unix socket ``path``: ``await hub.start()``, ``await hub.close()``."""

    def __init__(self, path: str, *, max_frame: int = MAX_FRAME, max_buffer: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.max_frame = max_frame
        #: Bytes that may wait for one node that reads slowly before it is disconnected.
        self.max_buffer = max_buffer
        #: nsp -> uid -> writer
        self._members: dict[str, dict[str, asyncio.StreamWriter]] = {}
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for members in self._members.values():
                for writer in members.values():
                    writer.close()
            await self._server.wait_closed()
            self._server = None

    def _relay(self, nsp: str, uid: str, out: asyncio.StreamWriter, frame: bytes) -> None:
        if out.transport.get_write_buffer_size() > self.max_buffer:
            logger.error("node %s of %s reads too slowly (%d bytes wait for it): disconnected", uid, nsp,
                         out.transport.get_write_buffer_size())
            out.close()
            return
        out.write(frame)

    def _count(self, nsp: str) -> None:
        members = self._members.get(nsp, {})
        frame = _frame(f"# {len(members)}".encode())
        for writer in members.values():
            writer.write(frame)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nsp = uid = None
        try:
            hello = await _read_frame(reader, self.max_frame)
            if not hello.startswith(b"H ") or b"\n" not in hello:
                raise ClusterMessageError("a node's first frame is its hello")
            head, _, raw_uid = hello[2:].partition(b"\n")
            nsp, uid = head.decode(), raw_uid.decode()
            members = self._members.setdefault(nsp, {})
            members[uid] = writer
            self._count(nsp)
            while True:
                frame = await _read_frame(reader, self.max_frame)
                target, _, message = frame.partition(b" ")
                relayed = _frame(message)
                if target == b"*":
                    for other, out in list(members.items()):
                        if other != uid:
                            self._relay(nsp, other, out, relayed)
                else:
                    name = target.decode(errors="replace")
                    one = members.get(name)
                    if one is not None:
                        self._relay(nsp, name, one, relayed)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (ClusterMessageError, UnicodeDecodeError) as exc:
            logger.warning("closed a hub connection: %s", exc)
        finally:
            if nsp is not None and uid is not None:
                members = self._members.get(nsp, {})
                if members.get(uid) is writer:
                    del members[uid]
                    self._count(nsp)
            writer.close()


class LocalClusterAdapter:
    """``socketeer.Server(adapter=LocalClusterAdapter("/run/app/hub.sock"))``: the node joins the
    cluster of every other node connected to the same ``LocalHub``."""

    def __init__(self, path: str, *, requests_timeout: float = 5.0, max_pending_publishes: int = 10_000,
                 max_frame: int = MAX_FRAME) -> None:
        self.path = path
        self.requests_timeout = requests_timeout
        self.max_pending_publishes = max_pending_publishes
        self.max_frame = max_frame

    def __call__(self, nsp: Namespace) -> LocalNamespaceAdapter:
        return LocalNamespaceAdapter(nsp, self)


class LocalNamespaceAdapter(ClusterAdapterNode):
    """One namespace's adapter, over one connection to the hub."""

    def __init__(self, nsp: Namespace, config: LocalClusterAdapter) -> None:
        super().__init__(nsp, requests_timeout=config.requests_timeout,
                         max_pending_publishes=config.max_pending_publishes)
        self.config = config
        self._writer: asyncio.StreamWriter | None = None
        self._count = 1
        self._counted = asyncio.Event()

    async def init(self) -> None:
        reader, writer = await asyncio.open_unix_connection(self.config.path)
        writer.write(_frame(f"H {self.port.name}\n{self.uid}".encode()))
        self._writer = writer
        self.start_task(self._read(reader))
        self.start_publisher()
        with contextlib.suppress(TimeoutError):  # the hub counts this node before anything is asked
            await asyncio.wait_for(self._counted.wait(), 5)

    async def close(self) -> None:
        await super().close()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    async def server_count(self) -> int:
        return self._count

    # -- out ---------------------------------------------------------------------------------
    def send_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        _, data = request_message(self.uid, self.port.name, RequestType.BROADCAST, packet=packet, opts=opts)
        self.queue(b"*", data)

    def send_request(self, kind: RequestType, request_id: str | None = None, **fields: Any) -> None:
        _, data = request_message(self.uid, self.port.name, kind, request_id, **fields)
        self.queue(b"*", data)

    def send_response(self, request: ClusterRequest, kind: RequestType, **fields: Any) -> None:
        if request.request_id is None or request.uid is None:
            return
        if kind not in (RequestType.REMOTE_FETCH, RequestType.SERVER_SIDE_EMIT, RequestType.BROADCAST_CLIENT_COUNT,
                        RequestType.BROADCAST_ACK):
            return  # not answered in this dialect
        self.queue(request.uid.encode(), response_message(self.uid, self.port.name, request.request_id, kind,
                                                          **fields))

    async def publish(self, *item: Any) -> None:
        target, data = item
        if self._writer is None:
            raise ConnectionError("not connected to the hub")
        self._writer.write(_frame(target + b" " + data))
        await self._writer.drain()

    # -- in ----------------------------------------------------------------------------------
    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                frame = await _read_frame(reader, self.config.max_frame)
                if frame.startswith(b"# "):
                    self._count = int(frame[2:])
                    self._counted.set()
                    continue
                try:
                    self._on_message(frame)
                except Exception:  # a bug here must not stop the reading
                    logger.exception("handling a cluster message failed")
        except (asyncio.IncompleteReadError, ConnectionError):
            logger.error("the hub of %s went away: this node serves alone", self.port.name)
            self._count = 1
        except ClusterMessageError as exc:
            logger.error("the hub connection of %s broke: %s", self.port.name, exc)
            self._count = 1

    def _on_message(self, data: bytes) -> None:
        try:
            message = decode_message(data)
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed message from the hub: %s", exc)
            return
        if message.uid == self.uid or message.nsp != self.port.name:
            return
        if message.response is not None:
            self.on_response(message.response)
        elif message.request is not None:
            request = message.request
            if message.type is MessageType.BROADCAST and request.request_id is None:
                assert request.packet is not None and request.opts is not None
                self.on_broadcast(ClusterBroadcast(message.uid, request.packet, request.opts))
            else:
                self.on_request(request)

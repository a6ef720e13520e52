"""``RedisStreamsAdapter``: ``@socket.io/redis-streams-adapter``'s flavour: what must survive a
disconnection goes through one Redis stream, so that connection state recovery works across
nodes: a client that drops on one node and comes back on another gets its session and every
packet it missed.

Transport, as Node's (version 0.3): broadcasts and room operations are entries of the stream
``stream_name`` (fields ``uid, nsp, type, data``, ``adapters/cluster_adapter.stream_fields``),
trimmed to about ``max_len`` entries; the stream entry id is the offset a recoverable packet
carries. What need not outlive the moment (broadcasts with acks, server-side emits,
``fetch_sockets``) is published as msgpack on ``<prefix>#<nsp>#``, answers on the asking
node's ``<prefix>#<nsp>#<uid>#``. ``server_count`` is ``PUBSUB NUMSUB`` of the public channel.
A disconnected session is stored under ``<session_key_prefix><pid>`` (base64 of msgpack
``{sid, pid, rooms, data}``) for ``max_disconnection_duration``; restoring it takes it (GETDEL)
and reads the stream after the client's offset.

One reader task per adapter object reads the stream for all its namespaces (``XREAD BLOCK``,
``read_count`` entries at a time). With recovery on, this node delivers its own broadcast to
its own clients once Redis has given the broadcast its offset, as Node does; without it, at
once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from typing import TYPE_CHECKING, Any

from ..exceptions import ClusterMessageError
from ..socketio.packets import Packet, PacketType
from .base import BroadcastOptions, PersistedSession, RestoredSession
from .cluster import ClusterRequest, RequestType, msgpack_module
from .cluster_adapter import (
    ClusterMessage,
    MessageType,
    decode_message,
    decode_stream_entry,
    encode_message,
    request_body,
    response_message,
    stream_fields,
)
from .clustered import ClusterAdapterNode
from .recovery import is_recoverable, reaches
from .redis_client import Subscription, check_client, count_subscribers, ready

if TYPE_CHECKING:
    from ..server.namespace import Namespace

__all__ = ["RedisStreamsAdapter", "StreamsNamespaceAdapter"]

logger = logging.getLogger("socketeer.adapter.redis")

_OFFSET = re.compile(r"^[0-9]+-[0-9]+$")
#: Node reads at most this many pages of the stream when restoring a session.
_RESTORE_PAGES = 100
_XADD, _PUBLISH, _SET = "xadd", "publish", "set"


class RedisStreamsAdapter:
    """``socketeer.Server(adapter=RedisStreamsAdapter(redis.asyncio.Redis.from_url(url)),
    connection_state_recovery=True)``.

    The options are Node's, in Python spelling; ``block_time`` is in seconds."""

    def __init__(self, redis: Any, *, stream_name: str = "socket.io", max_len: int = 10_000, read_count: int = 100,
                 block_time: float = 5.0, channel_prefix: str = "socket.io",
                 session_key_prefix: str = "sio:session:", only_plaintext: bool = False,
                 requests_timeout: float = 5.0, max_pending_publishes: int = 10_000) -> None:
        self.redis = check_client(redis)
        self.stream_name = stream_name
        self.max_len = max_len
        self.read_count = read_count
        self.block_time = block_time
        self.channel_prefix = channel_prefix
        self.session_key_prefix = session_key_prefix
        self.only_plaintext = only_plaintext
        self.requests_timeout = requests_timeout
        self.max_pending_publishes = max_pending_publishes
        self._adapters: dict[str, StreamsNamespaceAdapter] = {}
        self._reader: asyncio.Task[None] | None = None

    def __call__(self, nsp: Namespace) -> StreamsNamespaceAdapter:
        return StreamsNamespaceAdapter(nsp, self)

    # -- the stream's one reader ------------------------------------------------------------------
    async def attach(self, adapter: StreamsNamespaceAdapter) -> None:
        self._adapters[adapter.port.name] = adapter
        if self._reader is None:
            start = await self._last_id()
            self._reader = asyncio.get_running_loop().create_task(self._read(start))

    async def detach(self, adapter: StreamsNamespaceAdapter) -> None:
        if self._adapters.get(adapter.port.name) is adapter:
            del self._adapters[adapter.port.name]
        if not self._adapters and self._reader is not None:
            reader, self._reader = self._reader, None
            reader.cancel()
            await asyncio.wait([reader], timeout=2.0)

    async def _last_id(self) -> str:
        """Where reading starts: after the newest entry (Node's ``$``, without its gap
        between two reads)."""
        newest = await self.redis.xrevrange(self.stream_name, "+", "-", count=1)
        if newest:
            entry_id = newest[0][0]
            return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        return "0-0"

    async def _read(self, offset: str) -> None:
        block = max(1, int(self.block_time * 1000))
        while True:
            try:
                reply = await self.redis.xread({self.stream_name: offset}, count=self.read_count, block=block)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("reading the stream %s failed (%s); retrying", self.stream_name, exc)
                await asyncio.sleep(1.0)
                continue
            for _, entries in _streams(reply):
                for raw_id, fields in entries:
                    entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                    offset = entry_id
                    try:
                        message = decode_stream_entry(fields)
                    except ClusterMessageError as exc:
                        logger.warning("dropped a malformed entry %s of %s: %s", entry_id, self.stream_name, exc)
                        continue
                    adapter = self._adapters.get(message.nsp)
                    if adapter is not None:
                        try:
                            adapter.on_stream_message(message, entry_id)
                        except Exception:  # a bug here must not stop the reader
                            logger.exception("handling a stream entry failed")


def _streams(reply: Any) -> list[tuple[Any, list[Any]]]:
    """XREAD's reply, RESP2 (a list) or RESP3 (a mapping), as (stream, entries) pairs."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(reply.items())
    return [(item[0], item[1]) for item in reply]


class StreamsNamespaceAdapter(ClusterAdapterNode):
    """One namespace's adapter in the streams flavour."""

    def __init__(self, nsp: Namespace, config: RedisStreamsAdapter) -> None:
        super().__init__(nsp, requests_timeout=config.requests_timeout,
                         max_pending_publishes=config.max_pending_publishes)
        self.config = config
        self.recovery = None  # sessions and packets live in Redis, not in this process
        self._recovering = self.port.recovery is not None
        self.public_channel = f"{config.channel_prefix}#{self.port.name}#"
        self.private_channel = f"{self.public_channel}{self.uid}#"
        self._subscription: Subscription | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def init(self) -> None:
        await ready(self.config.redis)
        subscription = Subscription(self.config.redis)
        await subscription.pubsub.subscribe(self.public_channel, self.private_channel)
        self._subscription = subscription
        self.start_task(subscription.read(self._on_pubsub))
        self.start_publisher()
        await self.config.attach(self)

    async def close(self) -> None:
        await self.config.detach(self)
        await super().close()
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.close()

    async def server_count(self) -> int:
        return await count_subscribers(self.config.redis, "NUMSUB", self.public_channel)

    # -- out ---------------------------------------------------------------------------------
    def _fields(self, mtype: MessageType, body: dict[str, Any]) -> dict[str, str]:
        return stream_fields(self.uid, self.port.name, mtype, body, self.config.only_plaintext)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if opts.local:
            self.deliver_local(self.encode(packet), opts)
            return
        mtype, body = request_body(RequestType.BROADCAST, packet=packet, opts=opts)
        if self._recovering and is_recoverable(packet, opts):
            # Delivered here once the stream gave it its offset, in order (the publisher's).
            self.queue(_XADD, self._fields(mtype, body), (packet, opts))
        else:
            self.queue(_XADD, self._fields(mtype, body), None)
            self.deliver_local(self.encode(packet), opts)

    def send_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:  # broadcast() does it all
        raise AssertionError("unreachable")

    def send_request(self, kind: RequestType, request_id: str | None = None, **fields: Any) -> None:
        mtype, body = request_body(kind, request_id, **fields)
        ephemeral = (mtype is MessageType.BROADCAST and request_id is not None) or mtype in (
            MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS)
        if ephemeral:
            self.queue(_PUBLISH, self.public_channel,
                       encode_message(self.uid, self.port.name, mtype, body, msgpack_always=True))
        else:
            self.queue(_XADD, self._fields(mtype, body), None)

    def send_response(self, request: ClusterRequest, kind: RequestType, **fields: Any) -> None:
        if request.request_id is None or request.uid is None:
            return
        if kind not in (RequestType.REMOTE_FETCH, RequestType.SERVER_SIDE_EMIT, RequestType.BROADCAST_CLIENT_COUNT,
                        RequestType.BROADCAST_ACK):
            return  # not answered in this dialect
        data = response_message(self.uid, self.port.name, request.request_id, kind, msgpack_always=True, **fields)
        self.queue(_PUBLISH, f"{self.public_channel}{request.uid}#", data)

    async def publish(self, *item: Any) -> None:
        kind = item[0]
        redis = self.config.redis
        if kind == _PUBLISH:
            await redis.publish(item[1], item[2])
        elif kind == _SET:
            await redis.set(item[1], item[2], px=item[3])
        else:
            fields, local = item[1], item[2]
            try:
                offset = await redis.xadd(self.config.stream_name, fields, maxlen=self.config.max_len,
                                          approximate=True)
            except Exception:
                if local is not None:  # this node's clients still get it, without an offset
                    packet, opts = local
                    self.deliver_local(self.encode(packet), opts)
                raise
            if local is not None:
                packet, opts = local
                entry_id = offset.decode() if isinstance(offset, bytes) else str(offset)
                stamped = Packet(packet.type, packet.namespace, [*packet.data, entry_id], None)
                self.deliver_local(self.encode(stamped), opts)

    # -- in ----------------------------------------------------------------------------------
    def _on_pubsub(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message" or not isinstance(message.get("data"), bytes):
            return
        try:
            decoded = decode_message(message["data"])
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed message on %s: %s", message.get("channel"), exc)
            return
        self._on_cluster_message(decoded, None)

    def on_stream_message(self, message: ClusterMessage, entry_id: str) -> None:
        self._on_cluster_message(message, entry_id)

    def _on_cluster_message(self, message: ClusterMessage, offset: str | None) -> None:
        if message.uid == self.uid or message.nsp != self.port.name:
            return
        if message.response is not None:
            self.on_response(message.response)
            return
        request = message.request
        if request is None:
            return
        if message.type is MessageType.BROADCAST and request.request_id is None:
            assert request.packet is not None and request.opts is not None
            packet = request.packet
            if self._recovering and offset is not None and is_recoverable(packet, request.opts):
                packet = Packet(packet.type, packet.namespace, [*packet.data, offset], None)
            self.deliver_local(self.encode(packet), request.opts)
        else:
            self.on_request(request)

    # -- connection state recovery -----------------------------------------------------------
    def persist_session(self, session: PersistedSession) -> None:
        recovery = self.port.recovery
        if recovery is None:
            return
        raw = {"sid": session.sid, "pid": session.pid, "rooms": session.rooms, "data": session.data}
        try:
            value = base64.b64encode(msgpack_module().packb(raw, use_bin_type=True))
        except (TypeError, ValueError):
            logger.warning("socket %s: its data cannot be stored, so its session is kept without it", session.sid)
            raw["data"] = None
            value = base64.b64encode(msgpack_module().packb(raw, use_bin_type=True))
        ttl = max(1, round(recovery.max_disconnection_duration * 1000))
        self.queue(_SET, self.config.session_key_prefix + session.pid, value, ttl)

    def restore_session(self, pid: str, offset: str) -> Any:
        if self.port.recovery is None:
            return None
        return self._restore(pid, offset)

    async def _restore(self, pid: str, offset: str) -> RestoredSession | None:
        if not _OFFSET.match(offset):
            return None
        redis = self.config.redis
        stream = self.config.stream_name
        async with redis.pipeline(transaction=True) as pipe:
            pipe.get(self.config.session_key_prefix + pid)
            pipe.delete(self.config.session_key_prefix + pid)
            pipe.xrange(stream, offset, offset)
            raw_session, _, at_offset = await pipe.execute()
        if not raw_session or not at_offset:
            return None
        try:
            session = msgpack_module().unpackb(base64.b64decode(raw_session), raw=False, strict_map_key=False)
        except Exception:
            logger.warning("the stored session %s is not readable", pid)
            return None
        if not isinstance(session, dict) or not isinstance(session.get("sid"), str):
            return None
        rooms = [r for r in session.get("rooms") or [] if isinstance(r, str)]
        missed: list[Packet] = []
        start = offset
        for _ in range(_RESTORE_PAGES):
            entries = await redis.xrange(stream, _next(start), "+", count=1000)
            if not entries:
                break
            for raw_id, fields in entries:
                start = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                try:
                    message = decode_stream_entry(fields)
                except ClusterMessageError:
                    continue
                request = message.request
                if (message.nsp != self.port.name or message.type is not MessageType.BROADCAST or request is None
                        or request.packet is None or request.opts is None or request.request_id is not None):
                    continue
                if is_recoverable(request.packet, request.opts) and reaches(rooms, request.opts):
                    missed.append(Packet(PacketType.EVENT, self.port.name, [*request.packet.data, start]))
        return RestoredSession(session["sid"], pid, rooms, session.get("data"), missed)


def _next(offset: str) -> str:
    """The smallest stream id after ``offset`` (Node's ``nextOffset``)."""
    millis, sequence = offset.split("-")
    return f"{millis}-{int(sequence) + 1}"


"""``RedisAdapter``: a socketeer node in a cluster of ``@socket.io/redis-adapter`` nodes (the
classic pub/sub flavour), Python and Node.js alike, over one Redis.

What the nodes say is ``adapters/cluster.py`` (Sans-I/O); this module only carries it:
a subscription per namespace (``<key>#<nsp>#*`` for broadcasts, the request and response
channels), and one publisher task per namespace that sends what ``broadcast`` queued, in
order, so a broadcast stays a synchronous call as in the reference.

Implemented so far: broadcasts both ways (rooms, ``except_``, binary, ``local``),
``server_side_emit`` both ways (with acks answered for other nodes), the SOCKETS, ALL_ROOMS and
REMOTE_JOIN/LEAVE/DISCONNECT (by options) requests of other nodes, and ``server_count``.
Not yet: this node's own cluster requests (``fetch_sockets`` across nodes, broadcast acks
across nodes, ``server_side_emit_with_ack`` from here), REMOTE_FETCH and BROADCAST-with-ack
requests of other nodes (a Node node waits out its timeout for them).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from typing import TYPE_CHECKING, Any

import orjson

from ..exceptions import ClusterMessageError
from ..socketio.packets import Packet
from .base import BroadcastOptions, InMemoryAdapter
from .cluster import (
    RequestType,
    broadcast_channel,
    decode_broadcast,
    encode_broadcast,
    request_channel,
    response_channel,
)

if TYPE_CHECKING:
    from ..server.namespace import Namespace

__all__ = ["RedisAdapter"]

logger = logging.getLogger("socketeer.adapter.redis")

_ALPHABET = string.ascii_letters + string.digits


def _node_uid() -> str:
    """Six characters, as Node's ``uid2(6)``."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


class RedisAdapter:
    """``socketeer.Server(adapter=RedisAdapter(redis.asyncio.Redis.from_url(url)))``.

    ``redis`` is a ``redis.asyncio`` client (redis-py, with hiredis) made without
    ``decode_responses`` (messages are bytes). ``key`` is the channel prefix Node's adapter
    calls ``key``; ``max_pending_publishes`` bounds what waits to be published while Redis is
    slow or away (beyond it a broadcast is not sent to other nodes, with a logged error).
    """

    def __init__(self, redis: Any, *, key: str = "socket.io", requests_timeout: float = 5.0,
                 publish_on_specific_response_channel: bool = False, max_pending_publishes: int = 10_000) -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the Redis client must not decode responses: messages are msgpack bytes")
        self.redis = redis
        self.key = key
        self.requests_timeout = requests_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.max_pending_publishes = max_pending_publishes

    def __call__(self, nsp: Namespace) -> RedisNamespaceAdapter:
        return RedisNamespaceAdapter(nsp, self)


class RedisNamespaceAdapter(InMemoryAdapter):
    """One namespace's adapter in the cluster."""

    def __init__(self, nsp: Namespace, config: RedisAdapter) -> None:
        super().__init__(nsp)
        self.config = config
        self.uid = _node_uid()
        name = self.port.name
        self.channel = broadcast_channel(config.key, name)
        self.request_channel = request_channel(config.key, name)
        self.response_channel = response_channel(config.key, name)
        self.specific_response_channel = response_channel(config.key, name, self.uid)
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(config.max_pending_publishes)
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def init(self) -> None:
        pubsub = self.config.redis.pubsub()
        await pubsub.psubscribe(self.channel + "*")
        await pubsub.subscribe(self.request_channel, self.response_channel, self.specific_response_channel)
        self._pubsub = pubsub
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read(pubsub)), loop.create_task(self._publish())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            try:
                await pubsub.aclose() if hasattr(pubsub, "aclose") else await pubsub.close()
            except Exception:
                logger.debug("closing the subscription of %s failed", self.port.name, exc_info=True)

    async def server_count(self) -> int:
        """Subscribers of the request channel, as Node counts them (``PUBSUB NUMSUB``)."""
        reply = await self.config.redis.execute_command("PUBSUB", "NUMSUB", self.request_channel)
        return int(reply[1]) if len(reply) > 1 else 0

    # -- out ---------------------------------------------------------------------------------
    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if not opts.local:
            self._queue(broadcast_channel(self.config.key, self.port.name, opts.rooms),
                        encode_broadcast(self.uid, packet, opts))
        super().broadcast(packet, opts)

    def server_side_emit(self, args: list[Any], on_count: Any = None, on_ack: Any = None) -> None:
        if on_count is not None:
            # Waiting for other nodes' answers from here is not implemented yet: say so at once.
            logger.warning("server_side_emit_with_ack across Redis is not implemented yet; no answers awaited")
            on_count(0)
        self._queue(self.request_channel, orjson.dumps(
            {"uid": self.uid, "type": int(RequestType.SERVER_SIDE_EMIT), "data": args}))

    def _queue(self, channel: str, data: bytes) -> None:
        try:
            self._outbox.put_nowait((channel, data))
        except asyncio.QueueFull:
            logger.error("not sent to the other nodes (%d messages already wait for Redis): %s",
                         self.config.max_pending_publishes, channel)

    async def _publish(self) -> None:
        redis = self.config.redis
        while True:
            channel, data = await self._outbox.get()
            try:
                await redis.publish(channel, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("publishing to %s failed: %s", channel, exc)

    # -- in ----------------------------------------------------------------------------------
    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("reading from Redis failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            try:
                self._on_message(message)
            except Exception:  # a bug here must not stop the subscription
                logger.exception("handling a cluster message failed")

    def _on_message(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes | str) or not isinstance(data, bytes):
            return
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if message.get("type") == "pmessage":
            self._on_broadcast(channel, data)
        elif channel == self.request_channel:
            self._on_request(data)
        # Responses to this node's requests: none are sent yet (see the module's docstring).

    def _on_broadcast(self, channel: str, data: bytes) -> None:
        if not channel.startswith(self.channel):
            return
        room = channel[len(self.channel):-1]
        if room and room not in self.rooms:
            return  # no member here: not even decoded
        try:
            message = decode_broadcast(data)
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed broadcast on %s: %s", channel, exc)
            return
        if message.uid == self.uid or message.packet.namespace != self.port.name:
            return
        InMemoryAdapter.broadcast(self, message.packet, message.opts)

    def _on_request(self, data: bytes) -> None:
        try:
            request = orjson.loads(data) if data[:1] == b"{" else _msgpack_loads(data)
        except Exception:
            logger.warning("dropped a malformed request on %s", self.request_channel)
            return
        if not isinstance(request, dict) or request.get("uid") == self.uid:
            return
        kind = request.get("type")
        request_id = request.get("requestId")
        if kind == RequestType.SERVER_SIDE_EMIT:
            args = request.get("data")
            if not isinstance(args, list):
                return
            answer = None
            if isinstance(request_id, str):
                def answer(values: list[Any]) -> None:
                    self._queue(self.response_channel, orjson.dumps({
                        "type": int(RequestType.SERVER_SIDE_EMIT), "requestId": request_id,
                        "data": values[0] if len(values) == 1 else (values or None)}))
            self.port.server_side(args, answer)
        elif kind == RequestType.SOCKETS and isinstance(request_id, str):
            rooms = _str_list(request.get("rooms"))
            sids = self.matching_sids(BroadcastOptions(rooms=frozenset(rooms)))
            self._respond(request, {"requestId": request_id, "sockets": sorted(sids)})
        elif kind == RequestType.ALL_ROOMS and isinstance(request_id, str):
            self._respond(request, {"requestId": request_id, "rooms": sorted(self.rooms)})
        elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT) \
                and isinstance(request.get("opts"), dict):
            raw = request["opts"]
            opts = BroadcastOptions(rooms=frozenset(_str_list(raw.get("rooms"))),
                                    except_rooms=frozenset(_str_list(raw.get("except"))))
            if kind == RequestType.REMOTE_JOIN:
                self.add_sockets(opts, _str_list(request.get("rooms")))
            elif kind == RequestType.REMOTE_LEAVE:
                self.del_sockets(opts, _str_list(request.get("rooms")))
            else:
                self.disconnect_sockets(opts, request.get("close") is True)
        else:
            logger.debug("cluster request of type %r not answered by this node yet", kind)

    def _respond(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        channel = self.response_channel
        if self.config.publish_on_specific_response_channel and isinstance(request.get("uid"), str):
            channel = response_channel(self.config.key, self.port.name, request["uid"])
        self._queue(channel, orjson.dumps(response))


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _msgpack_loads(data: bytes) -> Any:
    from ..socketio import msgpack_parser

    return msgpack_parser.require().unpackb(data, raw=False, strict_map_key=False)

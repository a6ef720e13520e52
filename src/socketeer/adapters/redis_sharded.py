"""``ShardedRedisAdapter``: the sharded flavour of ``@socket.io/redis-adapter``
(``createShardedAdapter``): Redis 7's sharded pub/sub (SPUBLISH/SSUBSCRIBE), so that on a Redis
Cluster each channel lives on one shard, and the ``ClusterAdapter`` dialect of
``socket.io-adapter`` (``adapters/cluster_adapter.py``).

Channels, per namespace: ``<prefix>#<nsp>#`` for everything addressed to every node,
``<prefix>#<nsp>#<uid>#`` for answers to this node, and in the dynamic modes
``<prefix>#<nsp>#<room>#`` for broadcasts to one room, which a node subscribes to only while it
holds a member of that room. So a node without members of a room does not receive that
room's broadcasts at all. Modes (``subscription_mode``), as Node's:

* ``"static"``: the two channels only; every broadcast goes to every node;
* ``"dynamic"`` (the default): a channel per public room (a room that is not a socket id);
* ``"dynamic-private"``: a channel per room, socket ids included (one per socket).

What is guaranteed about a room's channel: the subscription is made after the first member
joins, asynchronously (as in Node), so a broadcast published by another node in the instant
between the join and the subscription reaching Redis is not received; once Redis counts the
subscription (``PUBSUB SHARDNUMSUB``), nothing published to the room is lost.

``server_count`` is ``PUBSUB SHARDNUMSUB`` of the namespace's channel. There is no SOCKETS or
ALL_ROOMS request in this dialect: ``sockets`` and ``all_rooms`` are answered from
``fetch_sockets`` across nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import ClusterMessageError
from ..socketio.packets import Packet
from .base import BroadcastOptions
from .cluster import ClusterBroadcast, ClusterRequest, RequestType
from .cluster_adapter import MessageType, decode_message, request_message, response_message
from .clustered import ClusterAdapterNode
from .redis_client import Subscription, check_client, count_subscribers, ready, spublish

if TYPE_CHECKING:
    from ..server.namespace import Namespace

__all__ = ["ShardedNamespaceAdapter", "ShardedRedisAdapter"]

logger = logging.getLogger("socketeer.adapter.redis")

SubscriptionMode = Literal["static", "dynamic", "dynamic-private"]

#: The length of a socket id (Node's and socketeer's): how Node tells a private room in
#: "dynamic" mode.
_SID_LENGTH = 20

#: Sent alone, subscription changes go through the publish queue as ("sub"|"unsub", channel).
_SUB, _UNSUB = "\x00sub", "\x00unsub"


class ShardedRedisAdapter:
    """``socketeer.Server(adapter=ShardedRedisAdapter(redis.asyncio.Redis.from_url(url)))``.

    ``redis`` is a ``redis.asyncio`` client made without ``decode_responses`` (a
    ``redis.asyncio.RedisCluster`` for a Redis Cluster); ``channel_prefix`` is Node's
    ``channelPrefix``. ``requests_timeout`` bounds server-side emits with acks and, unless a
    timeout is set on the operation, ``fetch_sockets`` (Node's fixed 5 s).
    """

    def __init__(self, redis: Any, *, channel_prefix: str = "socket.io",
                 subscription_mode: SubscriptionMode = "dynamic", requests_timeout: float = 5.0,
                 max_pending_publishes: int = 10_000) -> None:
        if subscription_mode not in ("static", "dynamic", "dynamic-private"):
            raise ValueError(f"subscription_mode must be static, dynamic or dynamic-private, not {subscription_mode!r}")
        self.redis = check_client(redis)
        self.channel_prefix = channel_prefix
        self.subscription_mode: SubscriptionMode = subscription_mode
        self.requests_timeout = requests_timeout
        self.max_pending_publishes = max_pending_publishes

    def __call__(self, nsp: Namespace) -> ShardedNamespaceAdapter:
        return ShardedNamespaceAdapter(nsp, self)


class ShardedNamespaceAdapter(ClusterAdapterNode):
    """One namespace's adapter in the sharded flavour."""

    def __init__(self, nsp: Namespace, config: ShardedRedisAdapter) -> None:
        super().__init__(nsp, requests_timeout=config.requests_timeout,
                         max_pending_publishes=config.max_pending_publishes)
        self.config = config
        self.channel = f"{config.channel_prefix}#{self.port.name}#"
        self.response_channel = f"{self.channel}{self.uid}#"
        self._dynamic = config.subscription_mode != "static"
        self._subscription: Subscription | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def init(self) -> None:
        await ready(self.config.redis)
        subscription = Subscription(self.config.redis, sharded=True)
        rooms = [self._room_channel(r) for r in self.rooms if self._own_channel(r)]
        await subscription.pubsub.ssubscribe(self.channel, self.response_channel, *rooms)
        self._subscription = subscription
        self.start_task(subscription.read(self._on_message))
        self.start_publisher()

    async def close(self) -> None:
        await super().close()
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.close()

    async def server_count(self) -> int:
        return await count_subscribers(self.config.redis, "SHARDNUMSUB", self.channel)

    # -- room channels ------------------------------------------------------------------------
    def _own_channel(self, room: str) -> bool:
        """Whether ``room`` has a channel of its own (Node's ``shouldUseASeparateNamespace``)."""
        mode = self.config.subscription_mode
        return mode == "dynamic-private" or (mode == "dynamic" and room not in self.sids)

    def _room_channel(self, room: str) -> str:
        return f"{self.channel}{room}#"

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        if not self._dynamic:
            super().add_all(sid, rooms)
            return
        rooms = list(rooms)
        new = [r for r in rooms if r not in self.rooms]
        super().add_all(sid, rooms)
        for room in new:  # judged once the socket is known, as Node's "create-room"
            if self._own_channel(room):
                self.queue(_SUB, self._room_channel(room))

    def delete(self, sid: str, room: str) -> None:
        existed = room in self.rooms
        private = room in self.sids
        super().delete(sid, room)
        if self._dynamic and existed and room not in self.rooms:
            self._unsubscribe(room, private)

    def delete_all(self, sid: str) -> None:
        rooms = [r for r in self.sids.get(sid, ())]
        private = {r for r in rooms if r in self.sids}
        super().delete_all(sid)
        if self._dynamic:
            for room in rooms:
                if room not in self.rooms:
                    self._unsubscribe(room, room in private)

    def _unsubscribe(self, room: str, private: bool) -> None:
        if self.config.subscription_mode == "dynamic-private" or not private:
            self.queue(_UNSUB, self._room_channel(room))

    # -- out ---------------------------------------------------------------------------------
    def _broadcast_channel(self, opts: BroadcastOptions, with_ack: bool) -> str:
        """Node's ``computeChannel``: a plain broadcast to one room goes to that room's channel."""
        if with_ack or len(opts.rooms) != 1:
            return self.channel
        (room,) = opts.rooms
        mode = self.config.subscription_mode
        if mode == "dynamic-private" or (mode == "dynamic" and len(room) != _SID_LENGTH):
            return self._room_channel(room)
        return self.channel

    def send_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        _, data = request_message(self.uid, self.port.name, RequestType.BROADCAST, packet=packet, opts=opts)
        self.queue(self._broadcast_channel(opts, with_ack=False), data)

    def send_request(self, kind: RequestType, request_id: str | None = None, **fields: Any) -> None:
        _, data = request_message(self.uid, self.port.name, kind, request_id, **fields)
        self.queue(self.channel, data)

    def send_response(self, request: ClusterRequest, kind: RequestType, **fields: Any) -> None:
        if request.request_id is None or request.uid is None:
            return
        if kind not in (RequestType.REMOTE_FETCH, RequestType.SERVER_SIDE_EMIT, RequestType.BROADCAST_CLIENT_COUNT,
                        RequestType.BROADCAST_ACK):
            return  # not answered in this dialect
        data = response_message(self.uid, self.port.name, request.request_id, kind, **fields)
        self.queue(f"{self.channel}{request.uid}#", data)

    async def publish(self, *item: Any) -> None:
        first, second = item
        if first == _SUB:
            if self._subscription is not None:
                await self._subscription.pubsub.ssubscribe(second)
        elif first == _UNSUB:
            if self._subscription is not None:
                await self._subscription.pubsub.sunsubscribe(second)
        else:
            await spublish(self.config.redis, first, second)

    # -- in ----------------------------------------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        data = message.get("data")
        if message.get("type") != "smessage" or not isinstance(channel, bytes | str) or not isinstance(data, bytes):
            return
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if channel != self.channel and channel != self.response_channel:
            room = channel[len(self.channel):-1]
            if room not in self.rooms:
                return  # a room this node just left: not even decoded
        try:
            decoded = decode_message(data)
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed message on %s: %s", channel, exc)
            return
        if decoded.uid == self.uid or decoded.nsp != self.port.name:
            return
        if decoded.response is not None:
            self.on_response(decoded.response)
        elif decoded.request is not None:
            request = decoded.request
            if decoded.type is MessageType.BROADCAST and request.request_id is None:
                assert request.packet is not None and request.opts is not None
                self.on_broadcast(ClusterBroadcast(decoded.uid, request.packet, request.opts))
            else:
                self.on_request(request)

"""``RedisAdapter``: a socketeer node in a cluster of ``@socket.io/redis-adapter`` nodes (the
classic pub/sub flavour), Python and Node.js alike, over one Redis.

What the nodes say is ``adapters/cluster.py`` (Sans-I/O); what a node does with it is
``adapters/clustered.py``; this module only carries it: per namespace, a pattern subscription
``<key>#<nsp>#*`` for broadcasts (a broadcast to one room goes to ``<key>#<nsp>#<room>#``, and a
node without that room's members skips it by channel, undecoded), the request channel, the
shared response channel and this node's own one; ``server_count`` is ``PUBSUB NUMSUB`` of the
request channel, as Node counts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..exceptions import ClusterMessageError
from ..socketio.packets import Packet
from .base import BroadcastOptions
from .cluster import (
    NOTEPACK,
    ClusterRequest,
    Parser,
    RequestType,
    broadcast_channel,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
    request_channel,
    response_channel,
)
from .clustered import ClusterNamespaceAdapter
from .redis_client import Subscription, check_client, count_subscribers, ready

if TYPE_CHECKING:
    from ..server.namespace import Namespace

__all__ = ["RedisAdapter", "RedisNamespaceAdapter"]

logger = logging.getLogger("socketeer.adapter.redis")


class RedisAdapter:
    """``socketeer.Server(adapter=RedisAdapter(redis.asyncio.Redis.from_url(url)))``.

    ``redis`` is a ``redis.asyncio`` client (redis-py, with hiredis) made without
    ``decode_responses`` (messages are bytes). ``key`` is the channel prefix Node's adapter
    calls ``key``; ``max_pending_publishes`` bounds what waits to be published while Redis is
    slow or away (beyond it a broadcast is not sent to other nodes, with a logged error).
    """

    def __init__(self, redis: Any, *, key: str = "socket.io", requests_timeout: float = 5.0,
                 publish_on_specific_response_channel: bool = False, parser: Parser = NOTEPACK,
                 max_pending_publishes: int = 10_000) -> None:
        self.redis = check_client(redis)
        self.key = key
        self.requests_timeout = requests_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.parser = parser
        self.max_pending_publishes = max_pending_publishes

    def __call__(self, nsp: Namespace) -> RedisNamespaceAdapter:
        return RedisNamespaceAdapter(nsp, self)


class RedisNamespaceAdapter(ClusterNamespaceAdapter):
    """One namespace's adapter in the classic flavour."""

    def __init__(self, nsp: Namespace, config: RedisAdapter) -> None:
        super().__init__(nsp, requests_timeout=config.requests_timeout,
                         max_pending_publishes=config.max_pending_publishes)
        self.config = config
        name = self.port.name
        self.channel = broadcast_channel(config.key, name)
        self.request_channel = request_channel(config.key, name)
        self.response_channel = response_channel(config.key, name)
        self.specific_response_channel = response_channel(config.key, name, self.uid)
        self._subscription: Subscription | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def init(self) -> None:
        await ready(self.config.redis)
        subscription = Subscription(self.config.redis)
        await subscription.pubsub.psubscribe(self.channel + "*")
        await subscription.pubsub.subscribe(self.request_channel, self.response_channel,
                                            self.specific_response_channel)
        self._subscription = subscription
        self.start_task(subscription.read(self._on_message))
        self.start_publisher()

    async def close(self) -> None:
        await super().close()
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.close()

    async def server_count(self) -> int:
        """Subscribers of the request channel, as Node counts them (``PUBSUB NUMSUB``)."""
        return await count_subscribers(self.config.redis, "NUMSUB", self.request_channel)

    # -- out ---------------------------------------------------------------------------------
    def send_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        self.queue(broadcast_channel(self.config.key, self.port.name, opts.rooms),
                   encode_broadcast(self.uid, packet, opts, self.config.parser))

    def send_request(self, kind: RequestType, request_id: str | None = None, **fields: Any) -> None:
        data = encode_request(self.uid, kind, request_id, parser=self.config.parser, **fields)
        self.queue(self.request_channel, data)

    def send_response(self, request: ClusterRequest, kind: RequestType, **fields: Any) -> None:
        assert request.request_id is not None
        channel = self.response_channel
        # Node answers server-side emits on the shared channel whatever the option says.
        if (self.config.publish_on_specific_response_channel and request.uid is not None
                and kind is not RequestType.SERVER_SIDE_EMIT):
            channel = response_channel(self.config.key, self.port.name, request.uid)
        self.queue(channel, encode_response(request.request_id, kind, self.config.parser, **fields))

    async def publish(self, *item: Any) -> None:
        channel, data = item
        await self.config.redis.publish(channel, data)

    # -- in ----------------------------------------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes | str) or not isinstance(data, bytes):
            return
        channel = channel.decode() if isinstance(channel, bytes) else channel
        try:
            if message.get("type") == "pmessage":
                if not channel.startswith(self.channel):
                    return
                room = channel[len(self.channel):-1]
                if room and room not in self.rooms:
                    return  # no member here: not even decoded
                self.on_broadcast(decode_broadcast(data, parser=self.config.parser))
            elif channel == self.request_channel:
                self.on_request(decode_request(data, parser=self.config.parser))
            elif channel == self.response_channel or channel == self.specific_response_channel:
                self.on_response(decode_response(data, parser=self.config.parser))
        except ClusterMessageError as exc:
            kind = "broadcast" if message.get("type") == "pmessage" else \
                "request" if channel == self.request_channel else "answer"
            logger.warning("dropped a malformed %s on %s: %s", kind, channel, exc)

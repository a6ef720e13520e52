"""``RedisAdapter``: a socketeer node in a cluster of ``@socket.io/redis-adapter`` nodes (the
classic pub/sub flavour), Python and Node.js alike, over one Redis.

What the nodes say is ``adapters/cluster.py`` (Sans-I/O, with the table of this node's
pending requests); this module only carries it: a subscription per namespace
(``<key>#<nsp>#*`` for broadcasts, the request and response channels), one publisher task per
namespace that sends what was queued, in order (so a broadcast stays a synchronous call, as
in the reference), and one timer for the earliest deadline of the pending requests.

Every operation crosses nodes in both directions: broadcasts (rooms, ``except_``, binary,
``local``), broadcasts with acks (each node reports its client count, then each client's
answer), ``fetch_sockets`` (other nodes' sockets as ``RemoteSocketDetails``), ``sockets``,
``all_rooms``, ``sockets_join``/``sockets_leave``/``disconnect_sockets``, ``server_side_emit``
with and without acks, and ``server_count`` (``PUBSUB NUMSUB`` of the request channel, as Node
counts).

Differences from Node's adapter, on purpose: this node applies its own ``sockets_join`` (and
the like) to its sockets at once instead of when its own request comes back from Redis, so
they work while Redis is away; another node's broadcast with acks is delivered under an ack
id of this namespace (the sender's id could collide with one of this node's pending acks),
and its acks are forgotten at the broadcast's timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson

from ..exceptions import AckTimeout, ClusterMessageError
from ..socketio.packets import Packet, PacketType
from .base import BroadcastOptions, InMemoryAdapter, RemoteSocketDetails
from .cluster import (
    ClusterRequest,
    PendingRequest,
    RequestTable,
    RequestType,
    broadcast_channel,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
    new_uid,
    request_channel,
    response_channel,
    socket_details,
)

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.socket import Socket

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
        self.requests_timeout = config.requests_timeout
        self.uid = new_uid()
        name = self.port.name
        self.channel = broadcast_channel(config.key, name)
        self.request_channel = request_channel(config.key, name)
        self.response_channel = response_channel(config.key, name)
        self.specific_response_channel = response_channel(config.key, name, self.uid)
        self.requests = RequestTable()
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(config.max_pending_publishes)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for request in self.requests.cancel_all():
            if request.on_expire is not None:
                request.on_expire(request.result)
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
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

    # -- this node's requests ------------------------------------------------------------------
    def _track(self, request: PendingRequest) -> None:
        self.requests.add(request)
        self._arm()

    def _arm(self) -> None:
        """One timer, at the earliest deadline of the pending requests."""
        deadline = self.requests.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() <= deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        for request in self.requests.expire(loop.time()):
            if request.kind is not RequestType.BROADCAST:  # a BROADCAST always lives to its deadline
                logger.info("%s request %s of %s timed out with %s of %s answers", request.kind.name,
                            request.request_id, self.port.name, request.received, request.expected)
        self._arm()

    def _deadline(self, seconds: float | None = None) -> float:
        return asyncio.get_running_loop().time() + (self.config.requests_timeout if seconds is None else seconds)

    async def _ask(self, kind: RequestType, what: str, local: Any, expected: int, **fields: Any) -> Any:
        """Send a request to the other ``expected - 1`` nodes and wait for their answers,
        merged into ``local``; ``AckTimeout`` (with what came, as ``responses``) at the
        requests timeout."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        def expired(result: Any) -> None:
            if not future.done():
                partial = sorted(result) if isinstance(result, set) else list(result)
                future.set_exception(AckTimeout(f"timeout reached while waiting for {what} response", partial))

        request_id = self.requests.new_id()
        self._track(PendingRequest(request_id, kind, self._deadline(), expected=expected, received=1,
                                   result=local, on_done=done, on_expire=expired))
        self._queue(self.request_channel, encode_request(self.uid, kind, request_id, **fields))
        try:
            return await future
        finally:
            self.requests.discard(request_id)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | RemoteSocketDetails]:
        found: list[Socket | RemoteSocketDetails] = list(self.local_sockets(opts))
        if opts.local:
            return found
        count = await self.server_count()
        if count <= 1:
            return found
        remote: list[RemoteSocketDetails] = await self._ask(RequestType.REMOTE_FETCH, "fetchSockets", [], count,
                                                            opts=opts)
        return found + remote

    async def sockets(self, rooms: Any = ()) -> set[str]:
        local = await super().sockets(rooms)
        count = await self.server_count()
        if count <= 1:
            return local
        room_list = sorted(set(rooms))
        result: set[str] = await self._ask(RequestType.SOCKETS, "sockets", local, count, rooms=room_list)
        return result

    async def all_rooms(self) -> set[str]:
        local = await super().all_rooms()
        count = await self.server_count()
        if count <= 1:
            return local
        result: set[str] = await self._ask(RequestType.ALL_ROOMS, "allRooms", local, count)
        return result

    def broadcast_with_ack(self, packet: Packet, opts: BroadcastOptions, on_count: Callable[[int], None],
                           on_ack: Callable[[Any], None]) -> None:
        if not opts.local:
            request_id = self.requests.new_id()
            # Counts and answers are relayed until the broadcast's timeout, as Node keeps them.
            self._track(PendingRequest(request_id, RequestType.BROADCAST, self._deadline(opts.timeout),
                                       on_count=on_count, on_ack=on_ack))
            self._queue(self.request_channel,
                        encode_request(self.uid, RequestType.BROADCAST, request_id, packet=packet, opts=opts))
        super().broadcast_with_ack(packet, opts, on_count, on_ack)

    def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        if not opts.local:
            self._queue(self.request_channel,
                        encode_request(self.uid, RequestType.REMOTE_JOIN, opts=opts, rooms=rooms))
        super().add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        if not opts.local:
            self._queue(self.request_channel,
                        encode_request(self.uid, RequestType.REMOTE_LEAVE, opts=opts, rooms=rooms))
        super().del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        if not opts.local:
            self._queue(self.request_channel,
                        encode_request(self.uid, RequestType.REMOTE_DISCONNECT, opts=opts, close=close))
        super().disconnect_sockets(opts, close)

    def server_side_emit(self, args: list[Any], on_count: Callable[[int], None] | None = None,
                         on_ack: Callable[[Any], None] | None = None, *, timeout: float | None = None) -> None:
        if on_count is None:
            self._queue(self.request_channel, encode_request(self.uid, RequestType.SERVER_SIDE_EMIT, data=args))
            return
        self._spawn(self._server_side_emit_with_ack(args, on_count, on_ack, timeout))

    async def _server_side_emit_with_ack(self, args: list[Any], on_count: Callable[[int], None],
                                         on_ack: Callable[[Any], None] | None, timeout: float | None) -> None:
        others = await self.server_count() - 1  # as Node: every subscriber but this node answers
        if others <= 0:
            on_count(0)
            return
        request_id = self.requests.new_id()
        self._track(PendingRequest(request_id, RequestType.SERVER_SIDE_EMIT, self._deadline(timeout), expected=others,
                                   result=[], on_ack=on_ack))
        on_count(others)
        self._queue(self.request_channel,
                    encode_request(self.uid, RequestType.SERVER_SIDE_EMIT, request_id, data=args))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)

        def finished(t: asyncio.Task[None]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.error("a cluster request of %s failed: %s", self.port.name, t.exception())

        task.add_done_callback(finished)

    # -- out ---------------------------------------------------------------------------------
    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        if not opts.local:
            self._queue(broadcast_channel(self.config.key, self.port.name, opts.rooms),
                        encode_broadcast(self.uid, packet, opts))
        super().broadcast(packet, opts)

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
        elif channel == self.response_channel or channel == self.specific_response_channel:
            self._on_response(data)

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

    def _on_response(self, data: bytes) -> None:
        try:
            if not self.requests.answer(decode_response(data)):
                return  # an answer to another node's request: the channel is shared
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed answer on %s: %s", self.response_channel, exc)
        self._arm()

    def _on_request(self, data: bytes) -> None:
        try:
            request = decode_request(data)
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed request on %s: %s", self.request_channel, exc)
            return
        if request.uid == self.uid:
            return  # this node's own, applied when it was made
        kind = request.type
        if kind is RequestType.SERVER_SIDE_EMIT:
            self._answer_server_side(request)
        elif kind is RequestType.BROADCAST:
            self._answer_broadcast(request)
        elif kind is RequestType.SOCKETS:
            sids = self.matching_sids(BroadcastOptions(rooms=frozenset(request.rooms)))
            self._respond(request, kind, sockets=sorted(sids))
        elif kind is RequestType.ALL_ROOMS:
            self._respond(request, kind, rooms=sorted(self.rooms))
        elif kind is RequestType.REMOTE_FETCH:
            assert request.opts is not None
            self._respond_raw(request, self._fetch_answer(request))
        elif request.opts is not None:
            if kind is RequestType.REMOTE_JOIN:
                super().add_sockets(request.opts, request.rooms)
            elif kind is RequestType.REMOTE_LEAVE:
                super().del_sockets(request.opts, request.rooms)
            else:
                super().disconnect_sockets(request.opts, request.close)
        else:
            self._answer_single_socket(request)

    def _answer_server_side(self, request: ClusterRequest) -> None:
        answer = None
        if request.request_id is not None:
            request_id = request.request_id
            answered = False

            def answer(values: list[Any]) -> None:
                nonlocal answered
                if answered:
                    return
                answered = True
                # Node's handlers answer with one argument: the first is what travels.
                self._queue(self.response_channel, encode_response(
                    request_id, RequestType.SERVER_SIDE_EMIT, data=values[0] if values else None))
        self.port.server_side(request.data, answer)

    def _answer_broadcast(self, request: ClusterRequest) -> None:
        assert request.packet is not None and request.opts is not None and request.request_id is not None
        if request.packet.namespace != self.port.name:
            logger.warning("dropped a BROADCAST request for %s on %s", request.packet.namespace, self.request_channel)
            return
        request_id, opts = request.request_id, request.opts
        ack_id = self.port.next_ack_id()
        items = self.encode(Packet(PacketType.EVENT, self.port.name, request.packet.data, ack_id))

        def on_ack(value: Any) -> None:
            self._respond_raw(request, encode_response(request_id, RequestType.BROADCAST_ACK, packet=value))

        count = self.port.deliver_expecting_ack(self.matching_sids(opts), items, ack_id, on_ack, opts.volatile)
        self._respond(request, RequestType.BROADCAST_CLIENT_COUNT, clientCount=count)
        if count:
            wait = self.config.requests_timeout if opts.timeout is None else opts.timeout
            asyncio.get_running_loop().call_later(wait, self.port.forget_ack, ack_id)

    def _fetch_answer(self, request: ClusterRequest) -> bytes:
        assert request.opts is not None and request.request_id is not None
        sockets = [socket_details(s.id, s.handshake.to_wire(), sorted(s.rooms), s.data)
                   for s in self.local_sockets(request.opts)]
        try:
            return encode_response(request.request_id, RequestType.REMOTE_FETCH, sockets=sockets)
        except TypeError:
            # Some socket's data is not JSON: that socket goes without it, the others whole.
            for details in sockets:
                try:
                    orjson.dumps(details["data"])
                except TypeError:
                    logger.warning("socket %s: its data is not JSON, so another node fetching it gets none",
                                   details["id"])
                    details["data"] = None
            return encode_response(request.request_id, RequestType.REMOTE_FETCH, sockets=sockets)

    def _answer_single_socket(self, request: ClusterRequest) -> None:
        """The older form of REMOTE_JOIN/LEAVE/DISCONNECT: one socket by id, answered."""
        sockets = self.port.sockets([request.sid] if request.sid else [])
        if not sockets:
            return
        sock = sockets[0]
        if request.type is RequestType.REMOTE_JOIN and request.room is not None:
            sock.join(request.room)
        elif request.type is RequestType.REMOTE_LEAVE and request.room is not None:
            sock.leave(request.room)
        elif request.type is RequestType.REMOTE_DISCONNECT:
            sock.disconnect(request.close)
        if request.request_id is not None:
            self._respond(request, request.type)

    def _respond(self, request: ClusterRequest, kind: RequestType, **fields: Any) -> None:
        assert request.request_id is not None
        self._respond_raw(request, encode_response(request.request_id, kind, **fields))

    def _respond_raw(self, request: ClusterRequest, data: bytes) -> None:
        channel = self.response_channel
        if self.config.publish_on_specific_response_channel and request.uid is not None:
            channel = response_channel(self.config.key, self.port.name, request.uid)
        self._queue(channel, data)

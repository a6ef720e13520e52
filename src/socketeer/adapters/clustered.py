"""A cluster node, whatever carries its messages: the part of a multi-node adapter that turns
server operations into requests to the other nodes, waits for their answers (a
``RequestTable`` with one timer at its earliest deadline), and carries out what other nodes
ask. A transport subclass (``RedisAdapter``'s classic pub/sub, the sharded flavour) only
encodes, publishes, subscribes and decodes: it calls ``on_request``/``on_response``/
``on_broadcast`` with decoded messages and implements the ``send_*`` methods and
``server_count``.

Publishing goes through one queue per namespace and one task that drains it in order, so
every operation stays a synchronous call as in the reference, a slow or absent broker
bounds what waits (``max_pending_publishes``; beyond it a message is dropped with a logged
error), and messages leave in the order they were made.

Differences from Node's adapters, on purpose: this node applies its own ``sockets_join`` (and
the like) to its sockets at once instead of when its own request comes back from the broker,
so they work while the broker is away; another node's broadcast with acks is delivered under
an ack id of this namespace (the sender's id could collide with one of this node's pending
acks), and its acks are forgotten at the broadcast's timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from ..exceptions import AckTimeout, ClusterMessageError
from ..socketio.packets import Packet, PacketType
from .base import BroadcastOptions, InMemoryAdapter, RemoteSocketDetails
from .cluster import (
    ClusterBroadcast,
    ClusterRequest,
    ClusterResponse,
    PendingRequest,
    RequestTable,
    RequestType,
    new_uid,
    socket_details,
)

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.socket import Socket

__all__ = ["ClusterAdapterNode", "ClusterNamespaceAdapter"]

logger = logging.getLogger("socketeer.adapter.cluster")


class ClusterNamespaceAdapter(InMemoryAdapter):
    """One namespace's adapter on one node of a cluster."""

    def __init__(self, nsp: Namespace, *, requests_timeout: float, max_pending_publishes: int) -> None:
        super().__init__(nsp)
        self.requests_timeout = requests_timeout
        self.max_pending_publishes = max_pending_publishes
        self.uid = new_uid()
        self.requests = RequestTable()
        self._outbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(max_pending_publishes)
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    # -- what a transport implements ---------------------------------------------------------------
    def send_broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish a broadcast (no acks) to the other nodes."""
        raise NotImplementedError

    def send_request(self, kind: RequestType, request_id: str | None = None, **fields: Any) -> None:
        """Publish a request (fields as ``cluster.encode_request`` names them)."""
        raise NotImplementedError

    def send_response(self, request: ClusterRequest, kind: RequestType, **fields: Any) -> None:
        """Answer ``request`` (fields as ``cluster.encode_response`` names them)."""
        raise NotImplementedError

    async def publish(self, *item: Any) -> None:
        """Send one queued item (what the transport passed to ``queue``)."""
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------------
    def start_publisher(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._drain()))

    def start_task(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A task of the transport's (a reader), cancelled by ``close``."""
        self._tasks.append(asyncio.get_running_loop().create_task(coro))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for request in self.requests.cancel_all():
            if request.on_expire is not None:
                request.on_expire(request.result)
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a client library that swallows a cancellation must not hang shutdown.
            _, stuck = await asyncio.wait(tasks, timeout=2.0)
            for task in stuck:
                logger.error("a task of the %s adapter did not stop: %r", self.port.name, task)
        self._tasks = []

    # -- publishing --------------------------------------------------------------------------
    def queue(self, *item: Any) -> None:
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            logger.error("not sent to the other nodes (%d messages already wait for the broker): %s",
                         self.max_pending_publishes, item[0])

    async def _drain(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while True:
            item = await self._outbox.get()
            try:
                await self.publish(*item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("publishing to %s failed: %s", item[0], exc)
            if me.cancelling():
                # redis-py's (un)subscribe calls can swallow a cancellation: honour it here.
                raise asyncio.CancelledError

    @property
    def pending_publishes(self) -> int:
        return self._outbox.qsize()

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
        return asyncio.get_running_loop().time() + (self.requests_timeout if seconds is None else seconds)

    def fetch_timeout(self, opts: BroadcastOptions) -> float | None:
        """How long ``fetch_sockets`` waits (``None``: the requests timeout, as the classic adapter)."""
        return None

    def timeout_message(self, what: str, answered: int, expected: int) -> str:
        """What a request that timed out says (``answered`` of ``expected`` other nodes), in
        the words of this flavour's Node adapter."""
        return f"timeout reached while waiting for {what} response"

    async def _ask(self, kind: RequestType, what: str, local: Any, expected: int, timeout: float | None = None,
                   **fields: Any) -> Any:
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
                message = self.timeout_message(what, pending.received - 1, pending.expected - 1)
                future.set_exception(AckTimeout(message, partial))

        request_id = self.requests.new_id()
        pending = PendingRequest(request_id, kind, self._deadline(timeout), expected=expected, received=1,
                                 result=local, on_done=done, on_expire=expired)
        self._track(pending)
        self.send_request(kind, request_id, **fields)
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
                                                            self.fetch_timeout(opts), opts=opts)
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
            self.send_request(RequestType.BROADCAST, request_id, packet=packet, opts=opts)
        super().broadcast_with_ack(packet, opts, on_count, on_ack)

    def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        if not opts.local:
            self.send_request(RequestType.REMOTE_JOIN, opts=opts, rooms=rooms)
        super().add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        if not opts.local:
            self.send_request(RequestType.REMOTE_LEAVE, opts=opts, rooms=rooms)
        super().del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        if not opts.local:
            self.send_request(RequestType.REMOTE_DISCONNECT, opts=opts, close=close)
        super().disconnect_sockets(opts, close)

    def server_side_emit(self, args: list[Any], on_count: Callable[[int], None] | None = None,
                         on_ack: Callable[[Any], None] | None = None, *, timeout: float | None = None) -> None:
        if on_count is None:
            self.send_request(RequestType.SERVER_SIDE_EMIT, data=args)
            return
        self.spawn(self._server_side_emit_with_ack(args, on_count, on_ack, timeout))

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
        self.send_request(RequestType.SERVER_SIDE_EMIT, request_id, data=args)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
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
            self.send_broadcast(packet, opts)
        super().broadcast(packet, opts)

    # -- in ----------------------------------------------------------------------------------
    def on_broadcast(self, message: ClusterBroadcast) -> None:
        """A plain broadcast of another node's, decoded."""
        if message.uid == self.uid or message.packet.namespace != self.port.name:
            return
        InMemoryAdapter.broadcast(self, message.packet, message.opts)

    def on_response(self, response: ClusterResponse) -> None:
        try:
            if not self.requests.answer(response):
                return  # an answer to another node's request: the channel may be shared
        except ClusterMessageError as exc:
            logger.warning("dropped a malformed answer to %s: %s", response.request_id, exc)
        self._arm()

    def on_request(self, request: ClusterRequest) -> None:
        """A request of another node's, decoded."""
        if request.uid == self.uid:
            return  # this node's own, applied when it was made
        kind = request.type
        if kind is RequestType.SERVER_SIDE_EMIT:
            self._answer_server_side(request)
        elif kind is RequestType.BROADCAST:
            self._answer_broadcast(request)
        elif kind is RequestType.SOCKETS:
            sids = self.matching_sids(BroadcastOptions(rooms=frozenset(request.rooms)))
            self.send_response(request, kind, sockets=sorted(sids))
        elif kind is RequestType.ALL_ROOMS:
            self.send_response(request, kind, rooms=sorted(self.rooms))
        elif kind is RequestType.REMOTE_FETCH:
            self._answer_fetch(request)
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
            answered = False

            def answer(values: list[Any]) -> None:
                nonlocal answered
                if answered:
                    return
                answered = True
                # Node's handlers answer with one argument: the first is what travels.
                self.send_response(request, RequestType.SERVER_SIDE_EMIT, data=values[0] if values else None)
        self.port.server_side(request.data, answer)

    def _answer_broadcast(self, request: ClusterRequest) -> None:
        assert request.packet is not None and request.opts is not None and request.request_id is not None
        if request.packet.namespace != self.port.name:
            logger.warning("dropped a BROADCAST request for %s sent to %s", request.packet.namespace, self.port.name)
            return
        opts = request.opts
        ack_id = self.port.next_ack_id()
        items = self.encode(Packet(PacketType.EVENT, self.port.name, request.packet.data, ack_id))

        def on_ack(value: Any) -> None:
            self.send_response(request, RequestType.BROADCAST_ACK, packet=value)

        count = self.port.deliver_expecting_ack(self.matching_sids(opts), items, ack_id, on_ack, opts.volatile)
        self.send_response(request, RequestType.BROADCAST_CLIENT_COUNT, clientCount=count)
        if count:
            wait = self.requests_timeout if opts.timeout is None else opts.timeout
            asyncio.get_running_loop().call_later(wait, self.port.forget_ack, ack_id)

    def _answer_fetch(self, request: ClusterRequest) -> None:
        assert request.opts is not None
        sockets = [socket_details(s.id, s.handshake.to_wire(), sorted(s.rooms), s.data)
                   for s in self.local_sockets(request.opts)]
        for details in sockets:
            try:
                orjson.dumps(details["data"])
            except TypeError:
                # That socket goes without its data, the others whole.
                logger.warning("socket %s: its data is not JSON, so another node fetching it gets none",
                               details["id"])
                details["data"] = None
        self.send_response(request, RequestType.REMOTE_FETCH, sockets=sockets)

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
            self.send_response(request, request.type)



class ClusterAdapterNode(ClusterNamespaceAdapter):
    """A node of the ``ClusterAdapter`` dialect (sharded and streams flavours): it has no
    SOCKETS or ALL_ROOMS request, so ``sockets`` and ``all_rooms`` are answered from
    ``fetch_sockets`` across nodes; ``fetch_sockets`` waits for the operation's timeout (the
    requests timeout when none is set), and timeouts are worded as Node words them there."""

    def fetch_timeout(self, opts: BroadcastOptions) -> float | None:
        return opts.timeout

    def timeout_message(self, what: str, answered: int, expected: int) -> str:
        return f"timeout reached: only {answered} responses received out of {expected}"

    async def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        return {s.id for s in await self.fetch_sockets(BroadcastOptions(rooms=frozenset(rooms)))}

    async def all_rooms(self) -> set[str]:
        rooms: set[str] = set()
        for sock in await self.fetch_sockets(BroadcastOptions()):
            rooms.update(sock.rooms)
        return rooms

"""``socketeer.Emitter``: reach the clients of a Redis cluster from a process that is not a
server (a worker, a cron job, a web view), as ``@socket.io/redis-emitter`` does for Node.

It publishes what a node of the classic ``RedisAdapter`` flavour would publish, in the
emitter's own spelling (node id ``"emitter"``, its key order, no ``uid`` on join/leave/disconnect
requests), so socketeer and Node nodes alike deliver it. It never subscribes, so it cannot
wait for acks: ``server_side_emit`` with a callback is refused, as in Node.

Each method returns what the Redis client's ``publish`` returns: with a ``redis.asyncio``
client an awaitable (``await emitter.to("room").emit("news", item)``), with the blocking
``redis.Redis`` client the number of nodes that got it, at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ..socketio.packets import RESERVED_EVENTS, PacketType
from .cluster import RequestType, broadcast_channel, encode_request, request_channel

__all__ = ["Emitter", "EmitterOperator"]

#: The node id Node's emitter writes.
EMITTER_UID = "emitter"


def _rooms(room: str | Iterable[str]) -> tuple[str, ...]:
    return (room,) if isinstance(room, str) else tuple(room)


class EmitterOperator:
    """An immutable selection (rooms, except, flags), as a broadcast operator on a server."""

    __slots__ = ("_emitter", "_except", "_flags", "_rooms")

    def __init__(self, emitter: Emitter, rooms: tuple[str, ...] = (), except_rooms: tuple[str, ...] = (),
                 flags: dict[str, bool] | None = None) -> None:
        self._emitter = emitter
        self._rooms = rooms
        self._except = except_rooms
        self._flags = flags or {}

    def _add(self, rooms: tuple[str, ...], more: Iterable[str]) -> tuple[str, ...]:
        # Insertion order, no duplicates: Node's Set.
        return tuple(dict.fromkeys((*rooms, *more)))

    def to(self, room: str | Iterable[str]) -> EmitterOperator:
        return EmitterOperator(self._emitter, self._add(self._rooms, _rooms(room)), self._except, self._flags)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> EmitterOperator:
        return EmitterOperator(self._emitter, self._rooms, self._add(self._except, _rooms(room)), self._flags)

    @property
    def volatile(self) -> EmitterOperator:
        return EmitterOperator(self._emitter, self._rooms, self._except, {**self._flags, "volatile": True})

    def compress(self, enabled: bool) -> EmitterOperator:
        return EmitterOperator(self._emitter, self._rooms, self._except, {**self._flags, "compress": enabled})

    def emit(self, event: str, *args: Any) -> Any:
        """Publish ``[event, *args]`` (binary arguments included) to the selected sockets."""
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        emitter = self._emitter
        packet = {"type": int(PacketType.EVENT), "data": [event, *args], "nsp": emitter.nsp}
        opts = {"rooms": list(self._rooms), "flags": self._flags, "except": list(self._except)}
        from ..socketio import msgpack_parser

        data = msgpack_parser.require().packb([EMITTER_UID, packet, opts], use_bin_type=True)
        channel = broadcast_channel(emitter.key, emitter.nsp, frozenset(self._rooms))
        return emitter.redis.publish(channel, data)

    def _request(self, kind: RequestType, **fields: Any) -> Any:
        # Node's emitter writes these without a uid, its selection in insertion order.
        emitter = self._emitter
        obj = {"type": int(kind), "opts": {"rooms": list(self._rooms), "except": list(self._except)}, **fields}
        return emitter.redis.publish(request_channel(emitter.key, emitter.nsp), orjson.dumps(obj))

    def sockets_join(self, rooms: str | Iterable[str]) -> Any:
        """The selected sockets join ``rooms``, on whichever node they are."""
        return self._request(RequestType.REMOTE_JOIN, rooms=list(_rooms(rooms)))

    def sockets_leave(self, rooms: str | Iterable[str]) -> Any:
        return self._request(RequestType.REMOTE_LEAVE, rooms=list(_rooms(rooms)))

    def disconnect_sockets(self, close: bool = False) -> Any:
        return self._request(RequestType.REMOTE_DISCONNECT, close=close)


class Emitter:
    """``Emitter(redis, key="socket.io")``; ``.of("/chat")`` for another namespace.

    ``redis`` is a redis-py client (``redis.asyncio.Redis`` or ``redis.Redis``), ``key`` the
    cluster's channel prefix (the ``key`` of ``RedisAdapter`` and of Node's adapter)."""

    __slots__ = ("key", "nsp", "redis")

    def __init__(self, redis: Any, key: str = "socket.io", nsp: str = "/") -> None:
        self.redis = redis
        self.key = key
        self.nsp = nsp if nsp.startswith("/") else "/" + nsp

    def __repr__(self) -> str:
        return f"<Emitter {self.key} {self.nsp}>"

    def of(self, nsp: str) -> Emitter:
        return Emitter(self.redis, self.key, nsp)

    def _op(self) -> EmitterOperator:
        return EmitterOperator(self)

    def to(self, room: str | Iterable[str]) -> EmitterOperator:
        return self._op().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> EmitterOperator:
        return self._op().except_(room)

    @property
    def volatile(self) -> EmitterOperator:
        return self._op().volatile

    def compress(self, enabled: bool) -> EmitterOperator:
        return self._op().compress(enabled)

    def emit(self, event: str, *args: Any) -> Any:
        return self._op().emit(event, *args)

    def sockets_join(self, rooms: str | Iterable[str]) -> Any:
        return self._op().sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> Any:
        return self._op().sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> Any:
        return self._op().disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> Any:
        """To every server's ``@io.on_server_side(event)`` handlers; no acks (the emitter
        does not listen for answers)."""
        if args and callable(args[-1]):
            raise TypeError("the emitter cannot wait for acknowledgements")
        return self.redis.publish(request_channel(self.key, self.nsp),
                                  encode_request(EMITTER_UID, RequestType.SERVER_SIDE_EMIT, data=[event, *args]))

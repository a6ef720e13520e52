"""Broadcast operators: immutable, chainable selections of sockets, as the reference's.

``io.to("a").except_("b").volatile.emit(...)`` builds a new operator at each step (so a
stored operator can be reused safely) and ends in one adapter call. Emitting returns a
``Done``: the packet is already queued, and ``await`` on it returns at once, so both
``io.emit(...)`` and ``await io.emit(...)`` are right.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._calls import DONE, Done
from ..adapters.base import BroadcastOptions, RemoteSocketDetails
from ..exceptions import AckTimeout
from ..socketio.packets import RESERVED_EVENTS, Packet, PacketType

if TYPE_CHECKING:
    from .namespace import Namespace
    from .remote import RemoteSocket
    from .socket import Socket

__all__ = ["DONE", "BroadcastOperator", "Done", "collect_acks"]


def _rooms(room: str | Iterable[str]) -> frozenset[str]:
    return frozenset((room,)) if isinstance(room, str) else frozenset(room)


async def collect_acks(
    start: Callable[[Callable[[int], None], Callable[[Any], None]], None],
    timeout: float | None,
    what: str,
    on_timeout: Callable[[], None] | None = None,
    servers: Callable[[], Awaitable[int]] | None = None,
    message: Callable[[int, int | str], str] | None = None,
) -> list[Any]:
    """Gather the answers of a send to many: ``start(on_count, on_ack)`` sends; each server
    that delivered says through ``on_count`` how many answers to expect from its clients, and
    each answer comes through ``on_ack``. ``servers()`` says how many servers will report a
    count (one when absent); the wait ends when all of them did and every expected answer
    came, as the reference's ``checkCompleteness``. Raises ``AckTimeout`` carrying the answers
    that came when ``timeout`` runs out first."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    answers: list[Any] = []
    counts: list[int] = []
    servers_known = [1 if servers is None else -1]

    def check() -> None:
        if len(counts) == servers_known[0] and len(answers) >= sum(counts) and not done.done():
            done.set_result(None)

    def on_count(count: int) -> None:
        counts.append(count)
        check()

    def on_ack(answer: Any) -> None:
        answers.append(answer)
        check()

    start(on_count, on_ack)
    try:
        async with asyncio.timeout(timeout):
            if servers is not None:
                servers_known[0] = await servers()
                check()
            await done
    except TimeoutError:
        if on_timeout is not None:
            on_timeout()
        expected = sum(counts) if counts else "?"
        if message is not None:
            text = message(len(answers), expected)
        else:
            reported = servers_known[0] if servers_known[0] >= 0 else "?"
            text = (f"{len(answers)} of {expected} {what} arrived within {timeout} s "
                    f"({len(counts)} of {reported} servers reported)")
        raise AckTimeout(text, list(answers)) from None
    return answers


class BroadcastOperator:
    __slots__ = ("_nsp", "_opts")

    def __init__(
        self,
        nsp: Namespace,
        rooms: frozenset[str] = frozenset(),
        except_rooms: frozenset[str] = frozenset(),
        opts: BroadcastOptions | None = None,
    ) -> None:
        self._nsp = nsp
        base = opts or BroadcastOptions()
        if rooms or except_rooms:
            base = replace(base, rooms=base.rooms | rooms, except_rooms=base.except_rooms | except_rooms)
        self._opts = base

    def _with(self, **changes: Any) -> BroadcastOperator:
        return BroadcastOperator(self._nsp, opts=replace(self._opts, **changes))

    # -- selection ---------------------------------------------------------------------------
    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._with(rooms=self._opts.rooms | _rooms(room))

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._with(except_rooms=self._opts.except_rooms | _rooms(room))

    @property
    def volatile(self) -> BroadcastOperator:
        return self._with(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        return self._with(local=True)

    def compress(self, enabled: bool) -> BroadcastOperator:
        return self._with(compress=enabled)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._with(timeout=seconds)

    # -- emitting ----------------------------------------------------------------------------
    def emit(self, event: str, *args: Any) -> Done:
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        self._nsp.adapter.broadcast(Packet(PacketType.EVENT, self._nsp.name, [event, *args]), self._opts)
        return DONE

    def send(self, *args: Any) -> Done:
        return self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        """Every recipient's answer, in a list; raises ``AckTimeout`` (with the answers it
        had) when ``timeout(...)`` runs out first."""
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        ack_id = self._nsp.next_ack_id()
        packet = Packet(PacketType.EVENT, self._nsp.name, [event, *args], ack_id)

        def forget_late_ones() -> None:
            # As the reference: the late ones are forgotten, so they hold nothing and answer nothing.
            self._nsp.port.forget_ack(ack_id)

        adapter = self._nsp.adapter
        return await collect_acks(
            lambda on_count, on_ack: adapter.broadcast_with_ack(packet, self._opts, on_count, on_ack),
            self._opts.timeout, f"acks for {event!r}", forget_late_ones,
            None if self._opts.local else adapter.server_count,
        )

    # -- server-side operations -----------------------------------------------------------------
    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        """The matching sockets: this node's as ``Socket``, other nodes' as ``RemoteSocket``."""
        from .remote import RemoteSocket  # it builds on this module

        found = await self._nsp.adapter.fetch_sockets(self._opts)
        return [s if not isinstance(s, RemoteSocketDetails) else RemoteSocket(self._nsp, s) for s in found]

    def sockets_join(self, rooms: str | Iterable[str]) -> Done:
        self._nsp.adapter.add_sockets(self._opts, sorted(_rooms(rooms)))
        return DONE

    def sockets_leave(self, rooms: str | Iterable[str]) -> Done:
        self._nsp.adapter.del_sockets(self._opts, sorted(_rooms(rooms)))
        return DONE

    def disconnect_sockets(self, close: bool = False) -> Done:
        self._nsp.adapter.disconnect_sockets(self._opts, close)
        return DONE


class ThreadSafeOperator:
    """The same chain, usable from any thread: each call is carried out on the server's loop.

    Methods return a ``concurrent.futures.Future`` a thread can wait on.
    """

    __slots__ = ("_loop", "_op")

    def __init__(self, op: BroadcastOperator, loop: asyncio.AbstractEventLoop) -> None:
        self._op = op
        self._loop = loop

    def to(self, room: str | Iterable[str]) -> ThreadSafeOperator:
        return ThreadSafeOperator(self._op.to(room), self._loop)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> ThreadSafeOperator:
        return ThreadSafeOperator(self._op.except_(room), self._loop)

    @property
    def volatile(self) -> ThreadSafeOperator:
        return ThreadSafeOperator(self._op.volatile, self._loop)

    def timeout(self, seconds: float) -> ThreadSafeOperator:
        return ThreadSafeOperator(self._op.timeout(seconds), self._loop)

    def emit(self, event: str, *args: Any) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                self._op.emit(event, *args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        self._loop.call_soon_threadsafe(run)
        return future

    def emit_with_ack(self, event: str, *args: Any) -> concurrent.futures.Future[list[Any]]:
        return asyncio.run_coroutine_threadsafe(self._op.emit_with_ack(event, *args), self._loop)

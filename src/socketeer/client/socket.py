"""A client's connection to one namespace, over its manager's Engine.IO connection.

Behaviour follows the reference client's ``Socket``:

* ``emit`` while disconnected is buffered and sent, in order, once the namespace is connected
  again; a ``volatile`` emit is dropped instead (and also when the transport is busy).
* Events the server sends before our CONNECT is answered (a recovered session replays what was
  missed first) are held and handled, in order, on connection.
* Acks: ``emit_with_ack`` waits for the answer (``AckTimeout`` past ``timeout``); an ack still
  awaited when the connection drops fails with ``ConnectionClosed``, one still buffered waits.
  Leaving on purpose (``disconnect()`` by either side) drops what is still unsent, failing its
  acks, so nothing is left awaiting an answer that cannot come.
* ``retries``: every emit goes through a queue, one packet in flight at a time, each resent
  (after ``ack_timeout``, or after a reconnection) until the server acknowledges it; at-least-
  once delivery, in order.
* Connection state recovery: the ``pid`` from the server and the offset of the last event
  (its last string argument) go back in the CONNECT auth; ``recovered`` says if it worked.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._calls import DONE, Callback, Done, Label, Listeners, Where, run, spawn
from ..exceptions import AckTimeout, ConnectionClosed, ConnectionError
from ..socketio.acks import AckTable
from ..socketio.packets import RESERVED_EVENTS, Packet, PacketType

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["ClientSocket", "Done"]

logger = logging.getLogger("socketeer.client")


def _result(args: list[Any]) -> Any:
    """An ack's arguments as one value: the value itself, a list of several, or ``None``."""
    if len(args) == 1:
        return args[0]
    return args if args else None


def _ack_args(result: Any) -> list[Any]:
    """A listener's return value as ack arguments: a tuple is several, ``None`` is none."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


class _Ack:
    """An acknowledgement we await: what to do with the answer, or with its failure."""

    __slots__ = ("deadline", "on_answer", "on_error")

    def __init__(self, on_answer: Callable[[list[Any]], None], on_error: Callable[[Exception], None] | None) -> None:
        self.on_answer = on_answer
        self.on_error = on_error
        #: ``time.monotonic()`` deadline, or ``None`` for no timeout.
        self.deadline: float | None = None

    def fail(self, error: Exception) -> None:
        if self.on_error is not None:
            self.on_error(error)
        else:
            logger.info("acknowledgement not received: %s", error)


class _Buffered:
    __slots__ = ("ack", "data")

    def __init__(self, data: list[Any], ack: _Ack | None) -> None:
        self.data = data
        self.ack = ack


class _Queued:
    """One packet of the ``retries`` queue; ``timeout`` bounds each try."""

    __slots__ = ("ack", "data", "pending", "timeout", "tries")

    def __init__(self, data: list[Any], ack: _Ack | None, timeout: float | None) -> None:
        self.data = data
        self.ack = ack
        self.timeout = timeout
        self.tries = 0
        self.pending = False


class ServerAck:
    """The ``ack`` a listener receives when it answers the server itself (``ack`` parameter)."""

    __slots__ = ("_ack_id", "_socket", "answered")

    def __init__(self, socket: ClientSocket, ack_id: int) -> None:
        self._socket = socket
        self._ack_id = ack_id
        self.answered = False

    def __call__(self, *args: Any) -> None:
        if self.answered:
            logger.warning("ack %d of %r answered twice; the second answer is ignored", self._ack_id, self._socket)
            return
        self.answered = True
        self._socket._send(Packet(PacketType.ACK, self._socket.namespace, list(args), self._ack_id))

    def answer_with(self, result: Any) -> None:
        if not self.answered:
            self.answered = True
            self._socket._send(Packet(PacketType.ACK, self._socket.namespace, _ack_args(result), self._ack_id))


class ClientSocket(Listeners):
    """One namespace. Made by ``Client.socket(namespace)``; the ``Client`` itself is the one
    of the namespace in its URL.

    Reserved events: ``connect``, ``connect_error(error)`` (a ``socketeer.ConnectionError``
    with ``.data``), ``disconnect(reason[, description])``. Connection-level events
    (``reconnect``, ``ping`` ...) are the manager's: ``socket.manager.on(...)``.
    """

    _log = logger

    def __init__(
        self,
        manager: Manager,
        namespace: str,
        *,
        auth: Any = None,
        retries: int = 0,
        ack_timeout: float | None = None,
    ) -> None:
        self._init_listeners()
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        self.manager = manager
        self.namespace = namespace
        #: A dict, or a function (sync or async) returning one, called for every attempt.
        self.auth = auth
        self.retries = retries
        self.ack_timeout = ack_timeout
        #: The server's id for this socket while connected.
        self.id: str | None = None
        self.connected = False
        #: True when the last connection recovered the previous session (state recovery).
        self.recovered = False
        self._active = False
        self._connect_sent = False
        self._pid: str | None = None
        self._last_offset: str | None = None
        self._send_buffer: list[_Buffered] = []
        self._receive_buffer: list[Packet] = []
        self._acks: AckTable[_Ack] = AckTable()
        self._ack_timer: asyncio.TimerHandle | None = None
        self._queue: deque[_Queued] = deque()
        self._waiters: list[tuple[asyncio.Future[None], bool]] = []
        self._gone = asyncio.Event()
        self._gone.set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.namespace} {self.id or 'disconnected'}>"

    @property
    def active(self) -> bool:
        """True while the socket wants to be connected (it reconnects when it can)."""
        return self._active

    # -- listeners (on, once, off, on_any, on_any_outgoing: see Listeners) ----------------------
    def event(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@socket.event`` registers ``fn`` under its own name."""
        self.on(fn.__name__, fn)
        return fn

    # -- emitting ------------------------------------------------------------------------------
    @staticmethod
    def _check(event: str) -> None:
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> Done:
        """Send an event; ``callback(*answer)`` runs when the server acknowledges it.

        Never blocks: while disconnected the event is buffered. Awaiting the result is allowed.
        """
        self._check(event)
        ack = None
        if callback is not None:
            cb, where = Callback(callback), Where(self, Label(f"ack callback of {event!r}"))
            ack = _Ack(lambda answer: run(cb, answer, None, where, logger), None)
        self._emit([event, *args], ack, self.ack_timeout, volatile=False)
        return DONE

    def send(self, *args: Any) -> Done:
        """``emit("message", *args)``."""
        return self.emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and return the server's answer: one value, a list of several, or None.

        Raises ``AckTimeout`` after ``timeout`` seconds (default: the ``ack_timeout`` option),
        ``ConnectionClosed`` if the connection drops after the event was sent.
        """
        self._check(event)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def answered(answer: list[Any]) -> None:
            if not future.done():
                future.set_result(answer)

        def failed(error: Exception) -> None:
            if not future.done():
                future.set_exception(error)

        self._emit([event, *args], _Ack(answered, failed), timeout if timeout is not None else self.ack_timeout,
                   volatile=False)
        return _result(await future)

    call = emit_with_ack

    @property
    def volatile(self) -> _Volatile:
        """``socket.volatile.emit(...)``: dropped, not buffered, unless it can go out now."""
        return _Volatile(self)

    def timeout(self, seconds: float) -> _Timed:
        """``await socket.timeout(5).emit_with_ack(...)``, as the reference's chain."""
        return _Timed(self, seconds)

    def _emit(self, data: list[Any], ack: _Ack | None, timeout: float | None, *, volatile: bool,
              from_queue: bool = False) -> None:
        if self.retries and not from_queue and not volatile:
            self._enqueue(data, ack, timeout)
            return
        engine = self.manager.engine
        if volatile and not (self.connected and engine is not None and engine.writable):
            logger.debug("volatile %r dropped: the transport is not writable", data[0])
            return
        if ack is not None and timeout is not None:
            ack.deadline = time.monotonic() + timeout
        if self.connected:
            self._send_event(data, ack)
            self._notify_outgoing(data)
        else:
            self.manager.check_encodable(Packet(PacketType.EVENT, self.namespace, data))
            self._send_buffer.append(_Buffered(data, ack))
            if ack is not None and ack.deadline is not None:
                self._arm_ack_timer()

    def _send_event(self, data: list[Any], ack: _Ack | None) -> None:
        ack_id = None
        if ack is not None:
            ack_id = self._acks.add(ack, ack.deadline)
        try:
            self._send(Packet(PacketType.EVENT, self.namespace, data, ack_id))
        except BaseException:  # data that does not encode: the caller learns of it
            if ack_id is not None:
                self._acks.pop(ack_id)
            raise
        if ack is not None and ack.deadline is not None:
            self._arm_ack_timer()

    def _send(self, packet: Packet) -> None:
        self.manager.send_packet(packet)

    def _notify_outgoing(self, data: list[Any]) -> None:
        where = Where(self, Label("outgoing listener"))
        for cb in list(self._any_outgoing):
            run(cb, data, None, where, logger)

    # -- the retries queue ---------------------------------------------------------------------
    def _enqueue(self, data: list[Any], ack: _Ack | None, timeout: float | None) -> None:
        self.manager.check_encodable(Packet(PacketType.EVENT, self.namespace, data))
        self._queue.append(_Queued(data, ack, timeout))
        self._drain_queue()

    def _drain_queue(self, force: bool = False) -> None:
        if not self.connected or not self._queue:
            return
        head = self._queue[0]
        if head.pending and not force:
            return
        head.pending = True
        head.tries += 1
        ack = _Ack(lambda answer: self._queue_answer(head, None, answer),
                   lambda error: self._queue_answer(head, error, None))
        self._emit(head.data, ack, head.timeout, volatile=False, from_queue=True)

    def _queue_answer(self, packet: _Queued, error: Exception | None, answer: list[Any] | None) -> None:
        if not self._queue or self._queue[0] is not packet:
            return  # already acknowledged (a late answer to an earlier try)
        if error is not None:
            if packet.tries > self.retries:
                self._queue.popleft()
                logger.info("%r: %r dropped after %d tries", self, packet.data[0], packet.tries)
                if packet.ack is not None:
                    packet.ack.fail(error)
        else:
            self._queue.popleft()
            if packet.ack is not None:
                packet.ack.on_answer(answer or [])
        packet.pending = False
        self._drain_queue()

    # -- ack deadlines ---------------------------------------------------------------------------
    def _next_ack_deadline(self) -> float:
        deadline = self._acks.next_deadline()
        for item in self._send_buffer:
            if item.ack is not None and item.ack.deadline is not None and item.ack.deadline < deadline:
                deadline = item.ack.deadline
        return deadline

    def _arm_ack_timer(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        deadline = self._next_ack_deadline()
        if deadline != math.inf:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # an emit before the loop runs: armed again when it is sent
                return
            self._ack_timer = loop.call_later(max(0.0, deadline - time.monotonic()), self._on_ack_timer)

    def _on_ack_timer(self) -> None:
        self._ack_timer = None
        now = time.monotonic()
        expired = [ack for _, ack in self._acks.expire(now)]
        kept = []
        for item in self._send_buffer:
            if item.ack is not None and item.ack.deadline is not None and item.ack.deadline <= now:
                expired.append(item.ack)  # never sent: the reference drops it from the buffer too
            else:
                kept.append(item)
        self._send_buffer = kept
        for ack in expired:
            ack.fail(AckTimeout("operation has timed out"))
        self._arm_ack_timer()

    def _clear_acks(self, reason: str) -> None:
        """The connection dropped: acks awaited for sent packets will never come."""
        for ack in self._acks.clear():
            ack.fail(ConnectionClosed(f"socket has been disconnected ({reason})"))
        self._arm_ack_timer()

    def _drop_pending(self, reason: str) -> None:
        """The namespace was left on purpose: what still waits to be sent never will be
        (unlike the reference, which keeps it for a later ``connect``), so no caller is left
        awaiting an answer without end."""
        buffered, self._send_buffer = self._send_buffer, []
        queued, self._queue = list(self._queue), deque()
        error = ConnectionClosed(f"socket has been disconnected ({reason})")
        acks = [item.ack for item in buffered] + [item.ack for item in queued]
        for ack in acks:
            if ack is not None:
                ack.fail(error)
        if buffered or queued:
            logger.info("%r: %d unsent event(s) dropped (%s)", self, len(buffered) + len(queued), reason)
        self._arm_ack_timer()

    # -- connecting ------------------------------------------------------------------------------
    async def connect(self, *, timeout: float | None = None, retry: bool = False) -> None:
        """Connect this namespace (and the connection under it if needed); returns once connected.

        Raises ``socketeer.ConnectionError``: with the server's message and ``.data`` when it
        refuses, or when the connection attempt fails (unless ``retry``, which keeps trying as
        reconnection does until it gives up), or after ``timeout`` seconds (by default the
        client's ``timeout`` option, so a server that never answers cannot hang the caller;
        none with ``retry``). A failed ``connect`` leaves the socket disconnected, with no
        attempt going on in the background.
        """
        if self.connected:
            return
        if timeout is None and not retry:
            timeout = self.manager.options.timeout
        was_active = self._active
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (future, retry)
        self._waiters.append(waiter)
        self._activate()
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            if not was_active and not self.connected:
                self._destroy()
            raise ConnectionError(f"could not connect to {self.namespace} within {timeout} s") from None
        except ConnectionError:
            if not was_active and self._active and not self.connected:
                self._destroy()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _activate(self) -> None:
        self._active = True
        self._gone.clear()
        self.manager.socket_activated(self)

    def _destroy(self) -> None:
        """Stop wanting a connection (the reference's ``destroy``): no more reconnection for this
        socket, and the connection itself closes when no socket of it is active."""
        if not self._active:
            return
        self._active = False
        self._gone.set()
        self.manager.socket_destroyed(self)

    def _settle_waiters(self, error: Exception | None, transport_failure: bool = False) -> None:
        for future, retry in list(self._waiters):
            if future.done() or (transport_failure and retry):
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def handle_open(self) -> None:
        """The connection is up: ask for this namespace (the reference's ``onopen``)."""
        if self._connect_sent or self.connected:
            return
        self._connect_sent = True
        auth = self.auth
        if not callable(auth):
            self._connect_with(auth)
            return
        engine = self.manager.engine

        async def call_auth() -> None:  # user code: in a task of its own, as every callback
            try:
                data = auth()
                if asyncio.iscoroutine(data) or isinstance(data, asyncio.Future):
                    data = await data
            except Exception as exc:
                self._auth_failed(exc)
                return
            if self.manager.engine is engine and self._active and not self.connected:
                self._connect_with(data)

        spawn(call_auth(), Where(self, Label("auth")), logger)

    def _connect_with(self, auth: Any) -> None:
        try:
            self._send_connect(auth)
        except Exception as exc:  # auth data that does not encode
            self._auth_failed(exc)

    def _auth_failed(self, exc: Exception) -> None:
        """A bug in the user's auth (a function that raised, data that is not JSON): no CONNECT
        is sent, and every ``connect()`` waiting is told (retrying would fail the same way)."""
        logger.error("auth of %r failed", self, exc_info=exc)
        self._connect_sent = False
        error = ConnectionError(f"the auth function raised {exc!r}" if callable(self.auth)
                                else f"the auth cannot be sent: {exc!r}")
        self._emit_reserved("connect_error", error)
        self._settle_waiters(error)

    def _send_connect(self, data: Any) -> None:
        if data is not None and not isinstance(data, dict):
            logger.warning("auth of %r must be a dict, not %s; sent none", self, type(data).__name__)
            data = None
        if self._pid is not None:
            recovery: dict[str, Any] = {"pid": self._pid}
            if self._last_offset is not None:
                recovery["offset"] = self._last_offset
            data = {**recovery, **(data or {})}
        self._send(Packet(PacketType.CONNECT, self.namespace, data))

    def handle_error(self, error: ConnectionError) -> None:
        """A connection attempt failed (the manager's ``error``)."""
        if not self.connected:
            self._emit_reserved("connect_error", error)
        self._settle_waiters(error, transport_failure=True)

    def handle_gave_up(self, error: ConnectionError) -> None:
        """The manager will not try again (reconnection off or out of attempts)."""
        self._settle_waiters(error)
        self._gone.set()

    def _on_connect(self, sid: str, pid: Any) -> None:
        self.id = sid
        pid = pid if isinstance(pid, str) else None
        self.recovered = pid is not None and pid == self._pid
        self._pid = pid
        self.connected = True
        received, self._receive_buffer = self._receive_buffer, []
        for packet in received:
            self._on_event(packet)
        buffered, self._send_buffer = self._send_buffer, []
        for item in buffered:
            try:
                self._send_event(item.data, item.ack)
            except Exception as exc:  # changed since the emit into something that cannot be sent
                logger.exception("%r: buffered %r could not be sent", self, item.data[0])
                if item.ack is not None:
                    item.ack.fail(exc)
                continue
            self._notify_outgoing(item.data)
        self._drain_queue(force=True)
        self._emit_reserved("connect")
        self._settle_waiters(None)

    def _on_close(self, reason: str, description: str | None = None) -> None:
        """The connection under this namespace is gone (or the namespace was left)."""
        was_connecting = self._connect_sent and not self.connected
        self._connect_sent = False
        was_connected = self.connected
        self.connected = False
        self.id = None
        if was_connected:
            self._emit_reserved("disconnect", reason, description)
        elif was_connecting and self._active:
            # Our CONNECT got no answer before the connection dropped: a failed attempt.
            self.handle_error(ConnectionError(f"connection lost before {self.namespace} was joined ({reason})"))
        self._clear_acks(reason)

    # -- receiving -------------------------------------------------------------------------------
    def handle_packet(self, packet: Packet) -> None:
        ptype = packet.type
        if ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
            if self.connected:
                self._on_event(packet)
            else:
                self._receive_buffer.append(packet)
        elif ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK:
            assert packet.id is not None
            ack = self._acks.pop(packet.id)
            if ack is None:
                logger.warning("%r: the server acknowledged id %s, which awaits no answer; ignored", self, packet.id)
                return
            self._arm_ack_timer()
            ack.on_answer(packet.data)
        elif ptype is PacketType.CONNECT:
            data = packet.data
            if isinstance(data, dict) and isinstance(data.get("sid"), str):
                self._on_connect(data["sid"], data.get("pid"))
            else:
                self._refused(ConnectionError("CONNECT answer without a sid: is this a Socket.IO v2 server?", data))
        elif ptype is PacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                message = data.get("message")
                self._refused(ConnectionError(message if isinstance(message, str) else str(message), data.get("data")))
            else:
                self._refused(ConnectionError(str(data)))
        elif ptype is PacketType.DISCONNECT:
            logger.info("%r disconnected by the server", self)
            self._destroy()
            self._on_close("io server disconnect")
            self._drop_pending("io server disconnect")
            self._settle_waiters(ConnectionError("disconnected by the server"))

    def _refused(self, error: ConnectionError) -> None:
        logger.info("%r refused: %s", self, error.message)
        self._connect_sent = False
        self._destroy()
        self._emit_reserved("connect_error", error)
        self._settle_waiters(error)

    def _on_event(self, packet: Packet) -> None:
        data = packet.data
        event = data[0]
        args = data[1:]
        where = Where(self, event)
        for cb in list(self._any):
            run(cb, data, None, where, logger)
        ack = ServerAck(self, packet.id) if packet.id is not None else None
        auto = ack.answer_with if ack is not None else None
        for cb in self._take(event) if isinstance(event, str) else ():
            if cb.takes_ack and ack is not None:
                run(cb, args, None, where, logger, {"ack": ack})
            else:
                run(cb, args, auto, where, logger)
            auto = None  # the first listener's return value answers
        if self._pid is not None and packet.id is None and args and isinstance(args[-1], str):
            self._last_offset = args[-1]

    # -- leaving ---------------------------------------------------------------------------------
    async def disconnect(self) -> None:
        """Leave this namespace ("io client disconnect"); the connection closes with the last."""
        was_connected = self.connected
        if was_connected:
            self._send(Packet(PacketType.DISCONNECT, self.namespace))
        self._settle_waiters(ConnectionError("disconnected by the client"))
        self._destroy()
        if was_connected:
            self._on_close("io client disconnect")
        self._drop_pending("io client disconnect")
        await self.manager.wait_closed()

    close = disconnect

    async def wait(self) -> None:
        """Return once this socket is disconnected for good: left by either side, refused, or
        out of reconnection attempts."""
        await self._gone.wait()


class _Volatile:
    __slots__ = ("_socket",)

    def __init__(self, socket: ClientSocket) -> None:
        self._socket = socket

    def emit(self, event: str, *args: Any) -> Done:
        self._socket._check(event)
        self._socket._emit([event, *args], None, None, volatile=True)
        return DONE


class _Timed:
    __slots__ = ("_seconds", "_socket")

    def __init__(self, socket: ClientSocket, seconds: float) -> None:
        self._socket = socket
        self._seconds = seconds

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        return await self._socket.emit_with_ack(event, *args, timeout=self._seconds)

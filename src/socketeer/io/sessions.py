"""The engine's sessions: each client's ``EngineSocket`` and what every transport shares,
the table of sessions by sid, their timers from the core's deadlines, and the send queues of
all sessions touched in one event-loop iteration, flushed together by one callback (so ten
emits to one WebSocket are one ``write``, and a broadcast to a thousand sockets is one
callback). ``Engine`` (engine.py) adds the HTTP and WebSocket entry points, ``Polling``
(polling.py) the long-polling transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..engineio import handshake
from ..engineio.session import (
    NOOP,
    Closed,
    Event,
    MessageReceived,
    Outgoing,
    ServerSession,
    State,
    UpgradeFailed,
)
from .bundle import ClientBundle
from .contracts import EngineHandler, EngineOptions, HttpRequest, HttpResponse, WebSocketPeer
from .cors import Cors

__all__ = ["EngineCore", "EngineSocket"]

logger = logging.getLogger("socketeer.engine")


class EngineSocket:
    """One client's Engine.IO session, as applications and the Socket.IO layer see it."""

    __slots__ = (
        "_engine",
        "_queued",
        "_timer",
        "_timer_at",
        "core",
        "data",
        "long_poll",
        "probe",
        "receive",
        "request",
        "ws",
    )

    def __init__(self, engine: EngineCore, core: ServerSession, request: HttpRequest) -> None:
        self._engine = engine
        self.core = core
        self.request = request
        self.ws: WebSocketPeer | None = None
        #: A WebSocket being probed for the upgrade of this polling session.
        self.probe: WebSocketPeer | None = None
        #: The long-polling GET waiting for something to send.
        self.long_poll: asyncio.Future[HttpResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._queued = False  # listed in the engine's sockets to flush
        #: Free for the layer above (the Socket.IO client object lives here).
        self.data: Any = None
        #: Set by the layer above to take this session's messages directly (one call less
        #: per message than ``EngineHandler.on_message``).
        self.receive: Callable[[str | bytes], None] | None = None

    def __repr__(self) -> str:
        return f"<EngineSocket {self.sid} {self.transport}>"

    @property
    def id(self) -> str:
        return self.core.sid

    sid = id

    @property
    def transport(self) -> str:
        return self.core.transport

    @property
    def closed(self) -> bool:
        return self.core.state is not State.OPEN

    @property
    def poll_pending(self) -> bool:
        """A long-polling GET of this session is waiting for something to send."""
        return self.long_poll is not None

    @property
    def writable(self) -> bool:
        """False when a packet sent now would only be queued (what ``volatile`` drops on)."""
        if self.core.state is not State.OPEN:
            return False
        if self.ws is not None:
            return self.ws.writable
        return self.long_poll is not None

    def send_nowait(self, data: str | bytes) -> None:
        """Queue a message; it is written at the end of this event-loop iteration."""
        core = self.core
        if core.state is State.OPEN:
            core.outbox.append(data if isinstance(data, bytes) else "4" + data)
            self._engine.mark_dirty(self)

    def send_packets(self, items: Iterable[Outgoing]) -> None:
        """Queue encoded packets (``"4..."``, binary, ``SharedMessage``) back to back."""
        core = self.core
        if core.state is State.OPEN:
            core.outbox.extend(items)
            if not self._queued:  # _mark_dirty, inlined: this runs once per message sent
                self._queued = True
                engine = self._engine
                engine._dirty.append(self)
                if not engine._flush_scheduled:
                    engine.schedule_flush()

    async def send(self, data: str | bytes) -> None:
        self.send_nowait(data)

    async def close(self, reason: str = "forced close") -> None:
        self.close_nowait(reason)

    def close_nowait(self, reason: str = "forced close") -> None:
        self._engine.close_session(self, reason)


class EngineCore:
    """Sessions, timers, flushing and closing: the part of the engine every transport uses."""

    def __init__(self, handler: EngineHandler, options: EngineOptions | None = None) -> None:
        self.handler = handler
        self.options = options or EngineOptions()
        path = self.options.path
        self.path = path if path.endswith("/") else path + "/"
        self.sessions: dict[str, EngineSocket] = {}
        self._dirty: list[EngineSocket] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cors = Cors(self.options.cors_allowed_origins, self.options.cors_credentials)
        self.bundle = ClientBundle(self.options.client_bundle_dir, self.path)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- flushing --------------------------------------------------------------------------
    def mark_dirty(self, sock: EngineSocket) -> None:
        """Flush ``sock`` at the end of this loop iteration: writes coalesce per iteration."""
        if sock._queued:
            return
        sock._queued = True
        self._dirty.append(sock)
        if not self._flush_scheduled:
            self.schedule_flush()

    def schedule_flush(self) -> None:
        self._flush_scheduled = True
        delay = self.options.write_delay
        if delay > 0:
            self.loop.call_later(delay, self.flush)
        else:
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what every listed socket has queued. Runs once per loop iteration (or per
        ``write_delay``) over up to every client after a broadcast: kept lean on purpose."""
        self._flush_scheduled = False
        dirty = self._dirty
        self._dirty = []
        max_send_buffer = self.options.max_send_buffer
        closing = State.CLOSING
        for sock in dirty:
            sock._queued = False
            core = sock.core
            if not core.outbox:
                continue  # already flushed
            ws = sock.ws
            if ws is not None:
                outbox = core.outbox
                buffered = ws.write_items(outbox)
                outbox.clear()  # kept for the next packets: no new list per delivery
                if buffered > max_send_buffer:
                    logger.warning("closing %s: client is not reading (send buffer over %d bytes)",
                                   sock.sid, max_send_buffer)
                    self.finish(sock, core.transport_error("send buffer full"))
                    continue
                if core.state is closing:
                    self.finish(sock, core.transport_closed())
            elif sock.long_poll is not None:
                self.answer_poll(sock)
            elif len(core.outbox) > self.options.max_queued_packets:
                logger.warning("closing %s: %d packets queued for a poll that never comes",
                               sock.sid, len(core.outbox))
                self.finish(sock, core.transport_error("send buffer full"))

    # -- timers -----------------------------------------------------------------------------
    def rearm(self, sock: EngineSocket) -> None:
        at = sock.core.next_deadline()
        if at == sock._timer_at:
            return
        if sock._timer is not None:
            sock._timer.cancel()
            sock._timer = None
        sock._timer_at = at
        if at != float("inf"):
            sock._timer = self.loop.call_at(at, self.on_timer, sock)

    def on_timer(self, sock: EngineSocket) -> None:
        sock._timer = None
        sock._timer_at = 0.0
        for event in sock.core.handle_timeout(self.loop.time()):
            self.dispatch(sock, event)
        if sock.core.outbox:
            self.mark_dirty(sock)
        if not sock.core.closed:
            self.rearm(sock)

    # -- events from the core ---------------------------------------------------------------
    def dispatch(self, sock: EngineSocket, event: Event | None) -> None:
        if event is None:
            return
        if isinstance(event, MessageReceived):
            self.deliver(sock, event.data)
        elif isinstance(event, Closed):
            self.finish(sock, event)
        elif isinstance(event, UpgradeFailed):
            probe, sock.probe = sock.probe, None
            if probe is not None:
                logger.info("upgrade of %s failed: %s", sock.sid, event.description)
                probe.close(1000)

    def deliver(self, sock: EngineSocket, data: str | bytes) -> None:
        try:
            receive = sock.receive
            if receive is not None:
                receive(data)
            else:
                self.handler.on_message(sock, data)
        except Exception:
            logger.exception("message handler failed for session %s", sock.sid)

    def finish(self, sock: EngineSocket, closed: Closed | None) -> None:
        """The session is over: release its transports, forget it, tell the handler."""
        if closed is None:
            return
        if self.sessions.get(sock.sid) is sock:
            del self.sessions[sock.sid]
        if sock._timer is not None:
            sock._timer.cancel()
            sock._timer = None
        poll, sock.long_poll = sock.long_poll, None
        if poll is not None and not poll.done():
            # A client that sent CLOSE gets its poll back with a NOOP, as from the reference.
            answer = NOOP if closed.reason == "transport close" else "1"
            poll.set_result(self.payload_response(sock.request, [answer], poll_request=True))
        for peer in (sock.ws, sock.probe):
            if peer is not None:
                peer.close(1000)
        sock.probe = None
        if closed.reason in ("ping timeout", "transport error", "parse error"):
            logger.info("session %s closed: %s%s", sock.sid, closed.reason,
                        f" ({closed.description})" if closed.description else "")
        try:
            self.handler.on_disconnect(sock, closed.reason, closed.description)
        except Exception:
            logger.exception("disconnect handler failed for session %s", sock.sid)

    def close_session(self, sock: EngineSocket, reason: str) -> None:
        core = sock.core
        if core.state is not State.OPEN:
            return
        core.close(reason)
        if sock.ws is not None:
            self.mark_dirty(sock)
            if not core.outbox:
                self.finish(sock, core.transport_closed())
            return
        # Polling: the CLOSE packet goes to the pending GET, or waits a while for the next one.
        if sock.long_poll is not None:
            self.answer_poll(sock)
        else:
            self.loop.call_later(self.options.close_timeout, self.expire_closing, sock)
            closed = Closed(reason)
            try:
                self.handler.on_disconnect(sock, closed.reason, None)
            finally:
                sock.data = None

    def expire_closing(self, sock: EngineSocket) -> None:
        if sock.core.state is State.CLOSING:
            sock.core.transport_closed()
            if self.sessions.get(sock.sid) is sock:
                del self.sessions[sock.sid]
            if sock._timer is not None:
                sock._timer.cancel()

    def new_session(self, request: HttpRequest, transport: str) -> tuple[EngineSocket, str]:
        opts = self.options
        upgrades = ["websocket"] if (transport == "polling" and opts.allow_upgrades
                                     and "websocket" in opts.transports) else []
        sid = handshake.new_sid()
        core = ServerSession(
            sid, transport, now=self.loop.time(), ping_interval=opts.ping_interval,
            ping_timeout=opts.ping_timeout, upgrade_timeout=opts.upgrade_timeout, upgrades=upgrades,
        )
        sock = EngineSocket(self, core, request)
        self.sessions[sid] = sock
        self.rearm(sock)
        open_packet = handshake.build_open_packet(
            sid, upgrades, opts.ping_interval, opts.ping_timeout, opts.max_http_buffer_size
        )
        return sock, open_packet

    def announce(self, sock: EngineSocket) -> None:
        try:
            self.handler.on_connect(sock)
        except Exception:
            logger.exception("connect handler failed for session %s", sock.sid)

    # -- shutdown ---------------------------------------------------------------------------
    def close_all(self, reason: str = "server shutting down") -> None:
        for sock in list(self.sessions.values()):
            self.close_session(sock, reason)
        if self._dirty:
            self.flush()

    # -- what the polling transport provides (see Polling) -----------------------------------
    def answer_poll(self, sock: EngineSocket) -> None:
        """Answer the session's pending long-poll with what is queued."""
        raise NotImplementedError

    def payload_response(self, request: HttpRequest, items: list[Outgoing], poll_request: bool) -> HttpResponse:
        """``items`` as one long-polling payload answer."""
        raise NotImplementedError

"""The Engine.IO server over asyncio: sessions by sid, timers from deadlines, send queues.

Both front ends (the built-in HTTP server and the ASGI app) hand it plain ``HttpRequest``
objects and WebSocket peers; it answers with ``HttpResponse`` objects (or futures of them, for
a long-poll that has to wait) and drives the Sans-I/O ``ServerSession`` of each client.

Hot paths are callbacks, not tasks: a message received becomes one call of the handler;
a send appends to the session's queue, and the queues of all sessions touched in one
event-loop iteration are flushed together by a single ``call_soon`` (so ten emits to one
WebSocket are one ``write``, and a broadcast to a thousand sockets is one callback).
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from .._calls import call
from ..engineio import handshake
from ..engineio.packets import PacketType
from ..engineio.payload import decode_payload, encode_payload
from ..engineio.session import (
    NOOP,
    Closed,
    Event,
    MessageReceived,
    Outgoing,
    ServerSession,
    SharedMessage,
    State,
    Upgraded,
    UpgradeFailed,
)
from ..exceptions import HandshakeError, PayloadError, PayloadTooLarge
from .bundle import ClientBundle
from .contracts import EngineHandler, EngineOptions, HttpRequest, HttpResponse, WebSocketPeer, parse_query
from .cookies import sid_cookie
from .cors import Cors

__all__ = [  # the contracts are re-exported: front ends import them from here or from .contracts
    "Engine",
    "EngineHandler",
    "EngineOptions",
    "EngineSocket",
    "HttpRequest",
    "HttpResponse",
    "WebSocketPeer",
    "parse_query",
]

logger = logging.getLogger("socketeer.engine")

#: Seconds between the NOOPs that release long-polls made while an upgrade is probed.
PROBE_NOOP_DELAY = 0.1

T = TypeVar("T")


class EngineSocket:
    """One client's Engine.IO session, as applications and the Socket.IO layer see it."""

    __slots__ = (
        "_engine",
        "_poll",
        "_probe",
        "_queued",
        "_timer",
        "_timer_at",
        "core",
        "data",
        "receive",
        "request",
        "ws",
    )

    def __init__(self, engine: Engine, core: ServerSession, request: HttpRequest) -> None:
        self._engine = engine
        self.core = core
        self.request = request
        self.ws: WebSocketPeer | None = None
        self._probe: WebSocketPeer | None = None
        self._poll: asyncio.Future[HttpResponse] | None = None
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
        return self._poll is not None

    @property
    def writable(self) -> bool:
        """False when a packet sent now would only be queued (what ``volatile`` drops on)."""
        if self.core.state is not State.OPEN:
            return False
        if self.ws is not None:
            return self.ws.writable
        return self._poll is not None

    def send_nowait(self, data: str | bytes) -> None:
        """Queue a message; it is written at the end of this event-loop iteration."""
        core = self.core
        if core.state is State.OPEN:
            core.outbox.append(data if isinstance(data, bytes) else "4" + data)
            self._engine._mark_dirty(self)

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
                    engine._schedule_flush()

    async def send(self, data: str | bytes) -> None:
        self.send_nowait(data)

    async def close(self, reason: str = "forced close") -> None:
        self.close_nowait(reason)

    def close_nowait(self, reason: str = "forced close") -> None:
        self._engine._close_session(self, reason)


class Engine:
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
    def _mark_dirty(self, sock: EngineSocket) -> None:
        """Flush ``sock`` at the end of this loop iteration: writes coalesce per iteration."""
        if sock._queued:
            return
        sock._queued = True
        self._dirty.append(sock)
        if not self._flush_scheduled:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        self._flush_scheduled = True
        delay = self.options.write_delay
        if delay > 0:
            self.loop.call_later(delay, self._flush)
        else:
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
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
                    self._finish(sock, core.transport_error("send buffer full"))
                    continue
                if core.state is closing:
                    self._finish(sock, core.transport_closed())
            elif sock._poll is not None:
                self._answer_poll(sock)
            elif len(core.outbox) > self.options.max_queued_packets:
                logger.warning("closing %s: %d packets queued for a poll that never comes",
                               sock.sid, len(core.outbox))
                self._finish(sock, core.transport_error("send buffer full"))

    def _answer_poll(self, sock: EngineSocket) -> None:
        poll = sock._poll
        assert poll is not None
        sock._poll = None
        core = sock.core
        items = core.drain()
        if not items:
            items = [NOOP]
        core.release_poll = False
        if not poll.done():
            poll.set_result(self._payload_response(sock.request, items, poll_request=True))
        if core.state is State.CLOSING:
            self._finish(sock, core.transport_closed())

    def _payload_response(self, request: HttpRequest, items: list[Outgoing], poll_request: bool) -> HttpResponse:
        text = encode_payload(i.data if isinstance(i, SharedMessage) else i for i in items)
        body = text.encode()
        headers = [("Content-Type", "text/plain; charset=UTF-8"), ("cache-control", "no-store")]
        if self.options.http_compression and len(body) >= self.options.compression_threshold:
            accept = request.headers.get("accept-encoding", "")
            if "gzip" in accept:
                body = gzip.compress(body, compresslevel=6, mtime=0)
                headers.append(("Content-Encoding", "gzip"))
            elif "deflate" in accept:
                body = zlib.compress(body)
                headers.append(("Content-Encoding", "deflate"))
        return HttpResponse(200, self.cors.headers(request) + headers, body)

    # -- timers -----------------------------------------------------------------------------
    def _rearm(self, sock: EngineSocket) -> None:
        at = sock.core.next_deadline()
        if at == sock._timer_at:
            return
        if sock._timer is not None:
            sock._timer.cancel()
            sock._timer = None
        sock._timer_at = at
        if at != float("inf"):
            sock._timer = self.loop.call_at(at, self._on_timer, sock)

    def _on_timer(self, sock: EngineSocket) -> None:
        sock._timer = None
        sock._timer_at = 0.0
        for event in sock.core.handle_timeout(self.loop.time()):
            self._dispatch(sock, event)
        if sock.core.outbox:
            self._mark_dirty(sock)
        if not sock.core.closed:
            self._rearm(sock)

    # -- events from the core ---------------------------------------------------------------
    def _dispatch(self, sock: EngineSocket, event: Event | None) -> None:
        if event is None:
            return
        if isinstance(event, MessageReceived):
            self._deliver(sock, event.data)
        elif isinstance(event, Closed):
            self._finish(sock, event)
        elif isinstance(event, UpgradeFailed):
            probe, sock._probe = sock._probe, None
            if probe is not None:
                logger.info("upgrade of %s failed: %s", sock.sid, event.description)
                probe.close(1000)

    def _deliver(self, sock: EngineSocket, data: str | bytes) -> None:
        try:
            receive = sock.receive
            if receive is not None:
                receive(data)
            else:
                self.handler.on_message(sock, data)
        except Exception:
            logger.exception("message handler failed for session %s", sock.sid)

    def _finish(self, sock: EngineSocket, closed: Closed | None) -> None:
        """The session is over: release its transports, forget it, tell the handler."""
        if closed is None:
            return
        if self.sessions.get(sock.sid) is sock:
            del self.sessions[sock.sid]
        if sock._timer is not None:
            sock._timer.cancel()
            sock._timer = None
        poll, sock._poll = sock._poll, None
        if poll is not None and not poll.done():
            # A client that sent CLOSE gets its poll back with a NOOP, as from the reference.
            answer = NOOP if closed.reason == "transport close" else "1"
            poll.set_result(self._payload_response(sock.request, [answer], poll_request=True))
        for peer in (sock.ws, sock._probe):
            if peer is not None:
                peer.close(1000)
        sock._probe = None
        if closed.reason in ("ping timeout", "transport error", "parse error"):
            logger.info("session %s closed: %s%s", sock.sid, closed.reason,
                        f" ({closed.description})" if closed.description else "")
        try:
            self.handler.on_disconnect(sock, closed.reason, closed.description)
        except Exception:
            logger.exception("disconnect handler failed for session %s", sock.sid)

    def _close_session(self, sock: EngineSocket, reason: str) -> None:
        core = sock.core
        if core.state is not State.OPEN:
            return
        core.close(reason)
        if sock.ws is not None:
            self._mark_dirty(sock)
            if not core.outbox:
                self._finish(sock, core.transport_closed())
            return
        # Polling: the CLOSE packet goes to the pending GET, or waits a while for the next one.
        if sock._poll is not None:
            self._answer_poll(sock)
        else:
            self.loop.call_later(self.options.close_timeout, self._expire_closing, sock)
            closed = Closed(reason)
            try:
                self.handler.on_disconnect(sock, closed.reason, None)
            finally:
                sock.data = None

    def _expire_closing(self, sock: EngineSocket) -> None:
        if sock.core.state is State.CLOSING:
            sock.core.transport_closed()
            if self.sessions.get(sock.sid) is sock:
                del self.sessions[sock.sid]
            if sock._timer is not None:
                sock._timer.cancel()

    # -- HTTP -------------------------------------------------------------------------------
    def _error(self, request: HttpRequest, error: HandshakeError) -> HttpResponse:
        return HttpResponse(
            error.http_status,
            [*self.cors.headers(request), ("Content-Type", "application/json")],
            handshake.error_body(error),
        )

    def websocket_headers(self, request: HttpRequest) -> list[tuple[str, str]]:
        """Extra headers of the 101 answer (the reference adds its CORS headers there too)."""
        return self.cors.headers(request)

    def handle_http(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        """Answer a request under ``path``: a long-polling GET may return a future."""
        if request.path != self.path:
            return self.bundle.serve(request)
        if request.method == "OPTIONS" and self.cors.enabled:
            return self.cors.preflight(request)
        sid = request.query.get("sid")
        sock = self.sessions.get(sid) if sid else None
        try:
            handshake.validate(
                handshake.Request(request.method, request.query),
                self.options.transports,
                sock.transport if sock is not None else None,
                sock is not None,
            )
        except HandshakeError as exc:
            if sock is None and exc.code == handshake.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION:
                return self._handshake(request, exc)  # the reference asks allow_request first
            logger.info("refused %s %s from %s: %s", request.method, request.url, request.client, exc.message)
            return self._error(request, exc)
        if sock is None:
            return self._handshake(request)
        if request.method == "GET":
            return self._poll_get(sock, request)
        if request.method == "POST":
            return self._poll_post(sock, request)
        return self._error(request, handshake.handshake_error(handshake.ErrorCode.BAD_REQUEST))

    def _ask_allow(self, request: HttpRequest, then: Callable[[bool | str], T]) -> T | Awaitable[T]:
        """``then(verdict of allow_request)``, at once or once an async verdict is in."""
        check = self.options.allow_request
        if check is None:
            return then(True)
        verdict = call(check, (request,))  # user code: a task of its own, as every callback
        if verdict.done():
            return then(verdict.result())

        async def wait() -> T:
            return then(await verdict)

        return wait()

    def _handshake(
        self, request: HttpRequest, error: HandshakeError | None = None
    ) -> HttpResponse | Awaitable[HttpResponse]:
        return self._ask_allow(request, lambda verdict: self._after_allow(request, verdict, error))

    def _after_allow(self, request: HttpRequest, verdict: bool | str, error: HandshakeError | None) -> HttpResponse:
        if verdict is not True:
            message = verdict if isinstance(verdict, str) else None
            error = handshake.handshake_error(handshake.ErrorCode.FORBIDDEN, message)
        if error is not None:
            logger.info("refused %s %s from %s: %s", request.method, request.url, request.client, error.message)
            return self._error(request, error)
        return self._open_polling(request)

    def allowed(self, request: HttpRequest) -> bool | str | Awaitable[bool | str]:
        return True if self.options.allow_request is None else self.options.allow_request(request)

    def _new_session(self, request: HttpRequest, transport: str) -> tuple[EngineSocket, str]:
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
        self._rearm(sock)
        open_packet = handshake.build_open_packet(
            sid, upgrades, opts.ping_interval, opts.ping_timeout, opts.max_http_buffer_size
        )
        return sock, open_packet

    def _open_polling(self, request: HttpRequest) -> HttpResponse:
        sock, open_packet = self._new_session(request, "polling")
        response = self._payload_response(request, [open_packet], poll_request=True)
        response.headers.extend(sid_cookie(self.options.cookie, sock.sid))
        self._connected(sock)
        return response

    def _connected(self, sock: EngineSocket) -> None:
        try:
            self.handler.on_connect(sock)
        except Exception:
            logger.exception("connect handler failed for session %s", sock.sid)

    def _poll_get(self, sock: EngineSocket, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        core = sock.core
        if sock._poll is not None:
            # Two long-polls at once: the reference ends the session; the first poll gets CLOSE.
            logger.info("closing %s: overlapping long-poll requests", sock.sid)
            self._finish(sock, core.transport_error("overlap from client"))
            return HttpResponse(400, self.cors.headers(request))
        if core.state is State.CLOSING:
            response = self._payload_response(request, ["1"], poll_request=True)
            self._expire_closing(sock)
            return response
        if core.outbox or core.release_poll:
            core.release_poll = False
            return self._payload_response(request, core.drain() or [NOOP], poll_request=True)
        poll: asyncio.Future[HttpResponse] = self.loop.create_future()
        sock._poll = poll
        if core.probing:
            # The client may see the NOOP that released its last poll before "3probe" (they
            # travel on different connections) and poll again; it sends "5" only once that
            # poll is answered. The reference answers such polls every 100 ms; so do we.
            self.loop.call_later(PROBE_NOOP_DELAY, self._release_while_probing, sock, poll)
        return poll

    def _release_while_probing(self, sock: EngineSocket, poll: asyncio.Future[HttpResponse]) -> None:
        if sock._poll is poll and sock.core.probing and not sock.closed:
            self._answer_poll(sock)

    def poll_abandoned(self, request: HttpRequest) -> None:
        """The client hung up while its long-poll was pending (the reference: a transport error)."""
        sock = self.sessions.get(request.query.get("sid", ""))
        if sock is not None and sock._poll is not None and not sock._poll.done():
            sock._poll = None
            self._finish(sock, sock.core.transport_error("poll connection closed prematurely"))

    def _poll_post(self, sock: EngineSocket, request: HttpRequest) -> HttpResponse:
        core = sock.core
        ok_headers = [*self.cors.headers(request), ("Content-Type", "text/html"), ("cache-control", "no-store")]
        ok = HttpResponse(200, ok_headers, b"ok")
        if core.state is not State.OPEN:
            return ok  # closing: already reported; the client learns it from its next GET
        if request.headers.get("content-type") == "application/octet-stream":
            # Engine.IO v4 carries binary over polling as base64 text only: the reference
            # ends the session ("transport error") and answers 400.
            logger.info("closing %s: binary (application/octet-stream) polling POST", sock.sid)
            self._finish(sock, core.transport_error("invalid content"))
            return HttpResponse(400, self.cors.headers(request))
        try:
            packets = decode_payload(request.body, self.options.max_http_buffer_size)
        except PayloadTooLarge as exc:
            # The reference drops the body and keeps the session; so do we.
            logger.info("refused POST for %s: %s", sock.sid, exc)
            return HttpResponse(413, self.cors.headers(request))
        except PayloadError as exc:
            logger.info("closing %s: undecodable payload: %s", sock.sid, exc)
            self._finish(sock, core.fail("parse error", str(exc)) if not core.closed else None)
            return HttpResponse(400, self.cors.headers(request))
        now = self.loop.time()
        for packet in packets:
            if packet.type is PacketType.MESSAGE and packet.data is not None:
                if core.state is State.OPEN:
                    self._deliver(sock, packet.data)
                continue
            self._dispatch(sock, core.receive_packet(packet, now))
            if core.closed:
                break
        if not core.closed:
            self._rearm(sock)
        return ok

    # -- WebSocket --------------------------------------------------------------------------
    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        """Validate a WebSocket upgrade request, ``allow_request`` included; ``None`` accepts it.

        A front end that can wait uses ``authorize_websocket``: an ``allow_request`` that
        answers asynchronously cannot be waited for here, so the request is refused.
        """
        result = self.authorize_websocket(request)
        if not inspect.isawaitable(result):
            return result
        if inspect.iscoroutine(result):
            result.close()
        logger.error("refused WebSocket %s: allow_request is async, the front end must use authorize_websocket",
                     request.url)
        return HttpResponse(500, [("Content-type", "text/html")], b"Internal Server Error")

    def authorize_websocket(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse | None] | None:
        """Validate a WebSocket upgrade request and, for a new session, ask ``allow_request``.

        ``None`` (or an awaitable of it) accepts it; a refusal is the reference's
        ``abortUpgrade`` answer: 400 and the message as text.
        """
        if request.path != self.path:
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        sid = request.query.get("sid")
        sock = self.sessions.get(sid) if sid else None
        deferred: HandshakeError | None = None
        try:
            handshake.validate(
                handshake.Request("GET", request.query, upgrade=True),
                self.options.transports, sock.transport if sock else None, sock is not None,
            )
        except HandshakeError as exc:
            if sid or exc.code != handshake.ErrorCode.UNSUPPORTED_PROTOCOL_VERSION:
                return self._ws_refusal(request, exc.message)
            deferred = exc  # the reference asks allow_request first
        if request.query.get("transport") != "websocket":
            return self._ws_refusal(request, "Bad request")
        if sid:
            return None  # an upgrade: allow_request judged the handshake already
        return self._ask_allow(request, lambda verdict: self._ws_after_allow(request, verdict, deferred))

    def _ws_after_allow(self, request: HttpRequest, verdict: bool | str, error: HandshakeError | None
                        ) -> HttpResponse | None:
        if verdict is not True:
            return self._ws_refusal(request, verdict if isinstance(verdict, str) and verdict else "Forbidden")
        return None if error is None else self._ws_refusal(request, error.message)

    def _ws_refusal(self, request: HttpRequest, message: str) -> HttpResponse:
        logger.info("refused WebSocket %s from %s: %s", request.url, request.client, message)
        return HttpResponse(400, [("Content-type", "text/html")], message.encode())

    def open_websocket(self, request: HttpRequest, peer: WebSocketPeer) -> WebSocketReceiver:
        """A WebSocket was accepted: start a session on it, or offer it as an upgrade."""
        sid = request.query.get("sid")
        if not sid:
            sock, open_packet = self._new_session(request, "websocket")
            sock.ws = peer
            peer.write_text(open_packet)
            self._connected(sock)
            return WebSocketReceiver(self, sock, peer, probing=False)
        existing = self.sessions.get(sid)
        if (existing is None or existing.core.state is not State.OPEN or existing.ws is not None
                or existing._probe is not None or not self.options.allow_upgrades):
            # An upgrade for a session that is gone, already upgraded or upgrading: accepted,
            # then closed at once, as the reference does.
            peer.close(1000)
            return WebSocketReceiver(self, None, peer, probing=False)
        existing._probe = peer
        existing.core.probe_opened(self.loop.time())
        self._rearm(existing)
        return WebSocketReceiver(self, existing, peer, probing=True)

    # -- shutdown ---------------------------------------------------------------------------
    def close_all(self, reason: str = "server shutting down") -> None:
        for sock in list(self.sessions.values()):
            self._close_session(sock, reason)
        if self._dirty:
            self._flush()


class WebSocketReceiver:
    """What the front end calls for each message arriving on one WebSocket."""

    __slots__ = ("engine", "peer", "probing", "sock")

    def __init__(self, engine: Engine, sock: EngineSocket | None, peer: WebSocketPeer, probing: bool) -> None:
        self.engine = engine
        self.sock = sock
        self.peer = peer
        self.probing = probing

    def on_text(self, text: str) -> None:
        sock = self.sock
        if sock is None:
            return
        if self.probing:
            self._on_probe(sock, text)
            return
        if text[:1] == "4":  # the hot path, without building an event
            if sock.core.state is State.OPEN:
                receive = sock.receive
                if receive is None:
                    self.engine._deliver(sock, text[1:])
                    return
                try:
                    receive(text[1:])
                except Exception:
                    logger.exception("message handler failed for session %s", sock.sid)
            return
        engine = self.engine
        engine._dispatch(sock, sock.core.receive_text(text, engine.loop.time()))
        if not sock.core.closed:
            engine._rearm(sock)

    def _on_probe(self, sock: EngineSocket, text: str) -> None:
        engine = self.engine
        answer, event = sock.core.receive_probe(text, engine.loop.time())
        if answer is not None:
            self.peer.write_text(answer)
            if sock._poll is not None:
                engine._answer_poll(sock)  # release the pending poll with a NOOP
            engine._rearm(sock)
        if isinstance(event, Upgraded):
            self.probing = False
            sock._probe = None
            sock.ws = self.peer
            poll, sock._poll = sock._poll, None
            if poll is not None and not poll.done():  # a poll made while probing: polling is over
                poll.set_result(engine._payload_response(sock.request, [NOOP], poll_request=True))
            engine._rearm(sock)
            if sock.core.outbox:
                engine._mark_dirty(sock)
        elif isinstance(event, UpgradeFailed):
            engine._dispatch(sock, event)
            self.sock = None

    def on_binary(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            return
        if self.probing:
            self.engine._dispatch(sock, sock.core.abort_probe("binary frame during the upgrade probe"))
            self.engine._rearm(sock)
            self.sock = None
            return
        if sock.core.state is State.OPEN:
            self.engine._deliver(sock, data)

    def on_close(self, description: str | None = None) -> None:
        sock = self.sock
        self.sock = None
        if sock is None:
            return
        if self.probing:
            if sock._probe is self.peer:
                sock._probe = None
                sock.core.abort_probe("probe closed")
                self.engine._rearm(sock)
            return
        if sock.ws is self.peer:
            if description:
                self.engine._finish(sock, sock.core.transport_error(description))
            else:
                self.engine._finish(sock, sock.core.transport_closed())

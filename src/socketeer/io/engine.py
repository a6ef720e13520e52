"""The Engine.IO server over asyncio, as both front ends see it: requests under its path
(the handshake, ``allow_request``, CORS preflight, the client bundle), WebSocket upgrades,
and each WebSocket's messages (``WebSocketReceiver``).

Both front ends (the built-in HTTP server and the ASGI app) hand it plain ``HttpRequest``
objects and WebSocket peers (io/contracts.py); it answers with ``HttpResponse`` objects (or
futures of them, for a long-poll that has to wait) and drives the Sans-I/O ``ServerSession``
of each client. The sessions, their timers and send queues are ``EngineCore``
(io/sessions.py); long-polling is ``Polling`` (io/polling.py).

Hot paths are callbacks, not tasks: a message received becomes one call of the handler.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._calls import call
from ..engineio import handshake
from ..engineio.session import (
    NOOP,
    State,
    Upgraded,
    UpgradeFailed,
)
from ..exceptions import HandshakeError
from .contracts import EngineHandler, EngineOptions, HttpRequest, HttpResponse, WebSocketPeer, parse_query
from .polling import Polling
from .sessions import EngineSocket

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

T = TypeVar("T")


class Engine(Polling):
    """The Engine.IO server both front ends drive: requests under ``path``, WebSocket
    upgrades, and the sessions they make (``EngineCore``, ``Polling``)."""

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
        if self.options.websocket_check_origin and not self.cors.admits_websocket(request):
            logger.warning("refused WebSocket %s from %s: origin %s not allowed", request.url, request.client,
                           request.headers.get("origin"))
            return HttpResponse(403, [("Content-type", "text/html")], b"Forbidden")
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
            sock, open_packet = self.new_session(request, "websocket")
            sock.ws = peer
            peer.write_text(open_packet)
            self.announce(sock)
            return WebSocketReceiver(self, sock, peer, probing=False)
        existing = self.sessions.get(sid)
        if (existing is None or existing.core.state is not State.OPEN or existing.ws is not None
                or existing.probe is not None or not self.options.allow_upgrades):
            # An upgrade for a session that is gone, already upgraded or upgrading: accepted,
            # then closed at once, as the reference does.
            peer.close(1000)
            return WebSocketReceiver(self, None, peer, probing=False)
        existing.probe = peer
        existing.core.probe_opened(self.loop.time())
        self.rearm(existing)
        return WebSocketReceiver(self, existing, peer, probing=True)


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
        data = sock.core.message_of(text)  # the hot path, without building an event
        if data is not None:
            receive = sock.receive
            if receive is None:
                self.engine.deliver(sock, data)
                return
            try:
                receive(data)
            except Exception:
                logger.exception("message handler failed for session %s", sock.sid)
            return
        engine = self.engine
        engine.dispatch(sock, sock.core.receive_text(text, engine.loop.time()))
        if not sock.core.closed:
            engine.rearm(sock)

    def _on_probe(self, sock: EngineSocket, text: str) -> None:
        engine = self.engine
        answer, event = sock.core.receive_probe(text, engine.loop.time())
        if answer is not None:
            self.peer.write_text(answer)
            if sock.long_poll is not None:
                engine.answer_poll(sock)  # release the pending poll with a NOOP
            engine.rearm(sock)
        if isinstance(event, Upgraded):
            self.probing = False
            sock.probe = None
            sock.ws = self.peer
            poll, sock.long_poll = sock.long_poll, None
            if poll is not None and not poll.done():  # a poll made while probing: polling is over
                poll.set_result(engine.payload_response(sock.request, [NOOP], poll_request=True))
            engine.rearm(sock)
            if sock.core.outbox:
                engine.mark_dirty(sock)
        elif isinstance(event, UpgradeFailed):
            engine.dispatch(sock, event)
            self.sock = None

    def on_binary(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            return
        if self.probing:
            self.engine.dispatch(sock, sock.core.abort_probe("binary frame during the upgrade probe"))
            self.engine.rearm(sock)
            self.sock = None
            return
        if sock.core.state is State.OPEN:
            self.engine.deliver(sock, data)

    def on_close(self, description: str | None = None) -> None:
        sock = self.sock
        self.sock = None
        if sock is None:
            return
        if self.probing:
            if sock.probe is self.peer:
                sock.probe = None
                sock.core.abort_probe("probe closed")
                self.engine.rearm(sock)
            return
        if sock.ws is self.peer:
            if description:
                self.engine.finish(sock, sock.core.transport_error(description))
            else:
                self.engine.finish(sock, sock.core.transport_closed())

"""The long-polling transport: a GET waits for what the session has to send, a POST carries
what the client sends (one payload each); the engine answers both with ``HttpResponse``
objects, a pending GET with a future of one."""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections.abc import Awaitable

from ..engineio.packets import PacketType
from ..engineio.payload import decode_payload, encode_payload
from ..engineio.session import (
    Outgoing,
    SharedMessage,
    State,
)
from ..exceptions import PayloadError, PayloadTooLarge
from .contracts import HttpRequest, HttpResponse
from .cookies import sid_cookie
from .sessions import EngineCore, EngineSocket

__all__ = ["Polling"]

logger = logging.getLogger("socketeer.engine")

#: Seconds between the NOOPs that release long-polls made while an upgrade is probed.
PROBE_NOOP_DELAY = 0.1


class Polling(EngineCore):
    """Long-polling over the sessions of ``EngineCore``."""

    def answer_poll(self, sock: EngineSocket) -> None:
        poll = sock.long_poll
        assert poll is not None
        sock.long_poll = None
        core = sock.core
        items = core.poll_answer()
        if not poll.done():
            poll.set_result(self.payload_response(sock.request, items, poll_request=True))
        if core.state is State.CLOSING:
            self.finish(sock, core.transport_closed())

    def payload_response(self, request: HttpRequest, items: list[Outgoing], poll_request: bool) -> HttpResponse:
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

    def _open_polling(self, request: HttpRequest) -> HttpResponse:
        sock, open_packet = self.new_session(request, "polling")
        response = self.payload_response(request, [open_packet], poll_request=True)
        response.headers.extend(sid_cookie(self.options.cookie, sock.sid))
        self.announce(sock)
        return response

    def _poll_get(self, sock: EngineSocket, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        core = sock.core
        if sock.long_poll is not None:
            # Two long-polls at once: the reference ends the session; the first poll gets CLOSE.
            logger.info("closing %s: overlapping long-poll requests", sock.sid)
            self.finish(sock, core.transport_error("overlap from client"))
            return HttpResponse(400, self.cors.headers(request))
        if core.state is State.CLOSING:
            response = self.payload_response(request, ["1"], poll_request=True)
            self.expire_closing(sock)
            return response
        if core.poll_due:
            return self.payload_response(request, core.poll_answer(), poll_request=True)
        poll: asyncio.Future[HttpResponse] = self.loop.create_future()
        sock.long_poll = poll
        if core.probing:
            # The client may see the NOOP that released its last poll before "3probe" (they
            # travel on different connections) and poll again; it sends "5" only once that
            # poll is answered. The reference answers such polls every 100 ms; so do we.
            self.loop.call_later(PROBE_NOOP_DELAY, self._release_while_probing, sock, poll)
        return poll

    def _release_while_probing(self, sock: EngineSocket, poll: asyncio.Future[HttpResponse]) -> None:
        if sock.long_poll is poll and sock.core.probing and not sock.closed:
            self.answer_poll(sock)

    def poll_abandoned(self, request: HttpRequest) -> None:
        """The client hung up while its long-poll was pending (the reference: a transport error)."""
        sock = self.sessions.get(request.query.get("sid", ""))
        if sock is not None and sock.long_poll is not None and not sock.long_poll.done():
            sock.long_poll = None
            self.finish(sock, sock.core.transport_error("poll connection closed prematurely"))

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
            self.finish(sock, core.transport_error("invalid content"))
            return HttpResponse(400, self.cors.headers(request))
        try:
            packets = decode_payload(request.body, self.options.max_http_buffer_size)
        except PayloadTooLarge as exc:
            # The reference drops the body and keeps the session; so do we.
            logger.info("refused POST for %s: %s", sock.sid, exc)
            return HttpResponse(413, self.cors.headers(request))
        except PayloadError as exc:
            logger.info("closing %s: undecodable payload: %s", sock.sid, exc)
            self.finish(sock, core.fail("parse error", str(exc)) if not core.closed else None)
            return HttpResponse(400, self.cors.headers(request))
        now = self.loop.time()
        for packet in packets:
            if packet.type is PacketType.MESSAGE and packet.data is not None:
                if core.state is State.OPEN:
                    self.deliver(sock, packet.data)
                continue
            self.dispatch(sock, core.receive_packet(packet, now))
            if core.closed:
                break
        if not core.closed:
            self.rearm(sock)
        return ok

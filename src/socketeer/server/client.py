"""One Engine.IO connection as the Socket.IO server sees it: a decoder and its namespaces."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .._calls import spawn
from ..exceptions import DecodeError
from ..io.engine import EngineSocket
from ..socketio.packets import Packet, PacketType
from ..socketio.parser import decode_plain_event
from .socket import Handshake, Socket

if TYPE_CHECKING:
    from .server import Server

__all__ = ["Client"]

logger = logging.getLogger("socketeer.server")


class Client:
    __slots__ = ("_connect_timer", "_plain", "conn", "decoder", "server", "sockets")

    def __init__(self, server: Server, conn: EngineSocket) -> None:
        self.server = server
        self.conn = conn
        self.decoder = server.new_decoder()
        self._plain = server.plain_parser
        self.sockets: dict[str, Socket] = {}
        timeout = server.connect_timeout
        self._connect_timer: asyncio.TimerHandle | None = (
            asyncio.get_running_loop().call_later(timeout, self._connect_timeout) if timeout else None
        )

    def _connect_timeout(self) -> None:
        self._connect_timer = None
        if not self.sockets and not self.conn.closed:
            logger.info("closing %s: no namespace joined within %s s", self.conn.sid, self.server.connect_timeout)
            self.conn.close_nowait("forced close")

    def handshake(self, auth: Any) -> Handshake:
        request = self.conn.request
        headers = request.headers
        client = request.client
        return Handshake(
            headers=dict(headers),
            query=dict(request.query),
            auth=auth if isinstance(auth, dict) else {},
            address=client[0] if client else "",
            url=request.url,
            secure=request.scheme in ("https", "wss"),
            xdomain="origin" in headers,
        )

    def send_packet(self, packet: Packet) -> None:
        self.conn.send_packets(self.server.encode_for_engine(packet))

    # -- incoming ----------------------------------------------------------------------------
    def on_message(self, data: str | bytes) -> None:
        decoder = self.decoder
        if self._plain and type(data) is str and data[:1] == "2" and not decoder.pending:
            # The hot path: an event on the main namespace, without building a Packet.
            try:
                event = decode_plain_event(data)
            except DecodeError as exc:
                self._protocol_error(str(exc))
                return
            if event is not None:
                socket = self.sockets.get("/")
                if socket is None:
                    self._protocol_error("EVENT packet for /, which this client has not joined")
                else:
                    socket.receive_event(*event)
                return
        try:
            packet = decoder.feed_text(data) if isinstance(data, str) else decoder.feed_binary(data)
        except DecodeError as exc:
            self._protocol_error(str(exc))
            return
        if packet is None:
            if decoder.pending and not self.sockets:
                # Attachments are never buffered for a connection that joined no namespace.
                self._protocol_error("binary packet before CONNECT")
            return
        nsp = packet.namespace
        socket = self.sockets.get(nsp)
        if packet.type is PacketType.CONNECT:
            if socket is not None:
                self._protocol_error(f"second CONNECT to {nsp}")
                return
            self._on_connect(nsp, packet.data)
        elif packet.type is PacketType.CONNECT_ERROR:
            self._protocol_error(f"CONNECT_ERROR packet from the client for {nsp}")  # as the reference
        elif socket is not None:
            socket.receive_packet(packet)
        else:
            self._protocol_error(f"{packet.type.name} packet for {nsp}, which this client has not joined")

    def _protocol_error(self, description: str) -> None:
        logger.info("closing %s from %s: %s", self.conn.sid, self.conn.request.client, description)
        self.decoder.reset()
        self.close("parse error")

    def _on_connect(self, name: str, auth: Any) -> None:
        if auth is None:
            auth = {}  # a bare CONNECT: the reference's auth is then an empty object
        server = self.server
        nsp = server.find_namespace(name)
        if nsp is not None:
            nsp.admit(self, auth)
            return
        if server.has_dynamic_namespaces:
            spawn(self._connect_dynamic(name, auth), f"dynamic namespace {name}", logger)
            return
        self._invalid_namespace(name)

    async def _connect_dynamic(self, name: str, auth: Any) -> None:
        nsp = await self.server.resolve_dynamic(name, auth)
        if nsp is None:
            self._invalid_namespace(name)
        elif not self.conn.closed:
            nsp.admit(self, auth)

    def _invalid_namespace(self, name: str) -> None:
        logger.info("refused %s: invalid namespace %s", self.conn.sid, name)
        self.send_packet(Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"}))

    # -- membership --------------------------------------------------------------------------
    def attach(self, socket: Socket) -> None:
        self.sockets[socket.nsp.name] = socket
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def detach(self, socket: Socket) -> None:
        if self.sockets.get(socket.nsp.name) is socket:
            del self.sockets[socket.nsp.name]

    # -- closing -----------------------------------------------------------------------------
    def close(self, reason: str) -> None:
        """Close the whole connection; every socket on it disconnects with ``reason``."""
        self.on_close(reason)
        self.conn.close_nowait(reason)

    def disconnect_all(self) -> None:
        """The reference's ``socket.disconnect(true)``: every namespace of the connection gets
        its DISCONNECT ("server namespace disconnect"), then the connection closes."""
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.close("forced close")

    def on_close(self, reason: str) -> None:
        """The engine session ended (or is ending): every socket disconnects."""
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        self.decoder.reset()
        for socket in list(self.sockets.values()):
            socket.end(reason)

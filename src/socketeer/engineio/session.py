"""The Engine.IO v4 session state machines, server side and client side. No I/O, no clock.

The I/O layer feeds what arrives (``receive_*``), drains what to send (``drain``), and
schedules ``handle_timeout(now)`` at ``next_deadline()``. Nothing here raises on peer input:
a protocol fault becomes a ``Closed`` event with the reference's reason.

Server state table (one session; "active" is the transport packets are sent on)::

    state    what happens                           next state   what the session does
    OPEN     MESSAGE on active                      OPEN         MessageReceived
    OPEN     PONG on active                         OPEN         next ping due in ping_interval
    OPEN     ping deadline                          OPEN         queue PING, pong due in ping_timeout
    OPEN     pong deadline                          CLOSED       Closed("ping timeout")
    OPEN     CLOSE on active                        CLOSED       Closed("transport close")
    OPEN     PING / undecodable on active           CLOSED       Closed("parse error")
    OPEN     "2probe" on a new WebSocket            OPEN+probe   answer "3probe" there, release the poll (NOOP)
    +probe   "5" (UPGRADE) on the new WebSocket     OPEN         active = websocket, Upgraded
    +probe   anything else there, or upgrade_timeout OPEN        UpgradeFailed (close that WebSocket)
    OPEN     close() by the application            CLOSING      queue CLOSE (polling) and flush
    CLOSING  outbox flushed / transport gone        CLOSED       Closed(reason)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeAlias

import orjson

from ..exceptions import EngineIOPacketError
from .packets import Packet, PacketType, as_message, decode_text

__all__ = [
    "ClientSession",
    "Closed",
    "Event",
    "MessageReceived",
    "Outgoing",
    "PingReceived",
    "ServerSession",
    "SharedMessage",
    "State",
    "UpgradeFailed",
    "Upgraded",
]

# Single-character packets in their sent form; reused rather than rebuilt.
PING: Final = "2"
PONG: Final = "3"
CLOSE: Final = "1"
NOOP: Final = "6"
UPGRADE: Final = "5"
PROBE_PING: Final = "2probe"
PROBE_PONG: Final = "3probe"


class SharedMessage:
    """One encoded packet queued for many sessions, so a broadcast is encoded only once.

    ``data`` is the WebSocket form (``"4..."`` text or binary bytes). A transport that frames
    it keeps the framed bytes in ``framed`` so the next recipient reuses them.
    """

    __slots__ = ("data", "framed", "framed_deflate")

    def __init__(self, data: str | bytes) -> None:
        self.data = data
        self.framed: Any = None
        self.framed_deflate: Any = None


#: What a send queue holds: text packets, binary messages, or shared pre-encoded packets.
Outgoing: TypeAlias = str | bytes | SharedMessage


class State(Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class MessageReceived:
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Upgraded:
    transport: str


@dataclass(frozen=True, slots=True)
class UpgradeFailed:
    description: str


@dataclass(frozen=True, slots=True)
class PingReceived:
    """Client side: the server's heartbeat arrived (the reference client's "ping" event)."""


Event: TypeAlias = MessageReceived | Closed | Upgraded | UpgradeFailed | PingReceived


class _Session:
    """What both sides share: the send queue and the closed state."""

    def __init__(self) -> None:
        self.state = State.OPEN
        self.outbox: list[Outgoing] = []
        self.close_reason: str | None = None

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def send(self, data: str | bytes) -> None:
        """Queue a MESSAGE; text stays text, bytes stay binary."""
        if self.state is State.OPEN:
            self.outbox.append(as_message(data))

    def send_packet(self, item: Outgoing) -> None:
        """Queue an already encoded packet (``"4..."``, bytes, or a ``SharedMessage``)."""
        if self.state is State.OPEN:
            self.outbox.append(item)

    def drain(self) -> list[Outgoing]:
        items = self.outbox
        self.outbox = []
        return items

    def message_of(self, text: str) -> str | None:
        """``receive_text``'s commonest case without its event: the data of a MESSAGE that
        arrives while open; ``None`` when ``receive_text`` must see the packet (any other
        type, or a session that is closing). Tested against ``receive_text``."""
        if text[:1] == "4" and self.state is State.OPEN:
            return text[1:]
        return None

    def fail(self, reason: str, description: str | None = None) -> Closed:
        """The session ends at once for ``reason`` (a front end found the peer's input bad)."""
        return self._closed(reason, description)

    def _closed(self, reason: str, description: str | None = None) -> Closed:
        self.state = State.CLOSED
        self.close_reason = reason
        self.outbox.clear()
        return Closed(reason, description)


class ServerSession(_Session):
    """One client's Engine.IO session, as the server sees it."""

    def __init__(
        self,
        sid: str,
        transport: str,
        *,
        now: float,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        upgrades: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.sid = sid
        self.transport = transport
        self.upgrades = tuple(upgrades)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.upgrade_timeout = upgrade_timeout
        self._awaiting_pong = False
        self._heartbeat_at = now + ping_interval
        self._upgrade_at = math.inf
        #: True between "2probe" and "5" on a new WebSocket.
        self.probing = False
        #: Set when the pending long-poll must be released even with nothing queued.
        self.release_poll = False

    @property
    def poll_due(self) -> bool:
        """A long-poll arriving now is answered at once (something is queued, or a probe
        asked for the pending poll to be released)."""
        return bool(self.outbox) or self.release_poll

    def poll_answer(self) -> list[Outgoing]:
        """What a long-poll answer carries: everything queued, or a NOOP that releases it."""
        self.release_poll = False
        return self.drain() or [NOOP]

    # -- time -------------------------------------------------------------------------------
    def next_deadline(self) -> float:
        # A closing session no longer pings: its end was already reported.
        return min(self._heartbeat_at, self._upgrade_at) if self.state is State.OPEN else math.inf

    def handle_timeout(self, now: float) -> list[Event]:
        events: list[Event] = []
        if self.state is not State.OPEN:
            return events
        if now >= self._upgrade_at:
            self._upgrade_at = math.inf
            self.probing = False
            events.append(UpgradeFailed("upgrade timeout"))
        if now >= self._heartbeat_at:
            if self._awaiting_pong:
                events.append(self._closed("ping timeout"))
            else:
                self._awaiting_pong = True
                self._heartbeat_at = now + self.ping_timeout
                self.outbox.append(PING)
        return events

    # -- the active transport ----------------------------------------------------------------
    def receive_text(self, text: str, now: float) -> Event | None:
        """One text packet from the active transport."""
        if self.state is not State.OPEN:
            return None
        if text[:1] == "4":  # the hot path: a message
            return MessageReceived(text[1:])
        try:
            packet = decode_text(text)
        except EngineIOPacketError as exc:
            return self._closed("parse error", str(exc))
        return self.receive_packet(packet, now)

    def receive_packet(self, packet: Packet, now: float) -> Event | None:
        """One decoded packet from the active transport (long-polling payloads arrive so)."""
        if self.state is not State.OPEN:  # closing: what the client still sends is moot
            return None
        ptype = packet.type
        if ptype is PacketType.MESSAGE:  # "b<base64>" inside a polling payload
            assert packet.data is not None
            return MessageReceived(packet.data)
        if ptype is PacketType.PONG:
            if self._awaiting_pong:
                self._awaiting_pong = False
                self._heartbeat_at = now + self.ping_interval
            return None
        if ptype is PacketType.CLOSE:
            return self._closed("transport close")
        if ptype is PacketType.PING:
            # In v4 only the server pings; the reference treats a client ping as an error.
            return self._closed("transport error", "invalid heartbeat direction")
        return None  # NOOP, and OPEN/UPGRADE on an established transport, are ignored

    def receive_binary(self, data: bytes) -> Event | None:
        if self.state is State.CLOSED:
            return None
        return MessageReceived(data)

    def transport_error(self, description: str) -> Closed | None:
        """The I/O layer lost the transport or read garbage from it."""
        if self.state is State.CLOSED:
            return None
        return self._closed("transport error", description)

    def transport_closed(self) -> Closed | None:
        if self.state is State.CLOSED:
            return None
        if self.state is State.CLOSING:
            return self._closed(self.close_reason or "forced close")
        return self._closed("transport close")

    # -- the upgrade (packets arriving on the new WebSocket while polling is active) --------
    def probe_opened(self, now: float) -> None:
        """A WebSocket offers to upgrade this session: it has ``upgrade_timeout`` to finish."""
        self._upgrade_at = now + self.upgrade_timeout

    def abort_probe(self, description: str) -> UpgradeFailed:
        """The upgrading WebSocket failed or went away; another may try later."""
        self.probing = False
        self._upgrade_at = math.inf
        return UpgradeFailed(description)

    def receive_probe(self, text: str, now: float) -> tuple[str | None, Event | None]:
        """A text packet on the WebSocket that is upgrading this session.

        Returns what to answer on that WebSocket, and the event, if any.
        """
        if self.state is not State.OPEN:
            return None, UpgradeFailed("session closed")
        if text == PROBE_PING and not self.probing:
            self.probing = True
            if self._upgrade_at == math.inf:  # the timeout runs from the WebSocket's arrival
                self._upgrade_at = now + self.upgrade_timeout
            self.release_poll = True
            return PROBE_PONG, None
        if text == UPGRADE and self.probing:
            self.probing = False
            self._upgrade_at = math.inf
            self.release_poll = False
            self.transport = "websocket"
            return None, Upgraded("websocket")
        return None, self.abort_probe(f"unexpected packet during upgrade: {text[:20]!r}")

    # -- closing ---------------------------------------------------------------------------
    def close(self, reason: str = "forced close") -> None:
        """Start closing: over polling the client learns of it from a CLOSE packet."""
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSING
        self.close_reason = reason
        if self.transport == "polling":
            self.outbox.append(CLOSE)


class ClientSession(_Session):
    """The client side: learns its parameters from the open packet, answers pings."""

    def __init__(self) -> None:
        super().__init__()
        self.state = State.CLOSING  # until the open packet arrives
        self.sid: str | None = None
        self.upgrades: list[str] = []
        self.ping_interval = 25.0
        self.ping_timeout = 20.0
        self.max_payload: int | None = None
        self._deadline = math.inf

    def receive_open(self, text: str, now: float) -> Closed | None:
        """The first packet; anything but a valid open packet fails the connection."""
        try:
            if text[:1] != "0":
                raise ValueError("first packet is not an open packet")
            info = orjson.loads(text[1:])
            sid = info["sid"]
            interval = info["pingInterval"]
            timeout = info["pingTimeout"]
            if not isinstance(sid, str) or not isinstance(interval, int) or not isinstance(timeout, int):
                raise ValueError("bad handshake fields")
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return self._closed("parse error", f"bad open packet: {exc}")
        self.sid = sid
        self.upgrades = [u for u in info.get("upgrades", []) if isinstance(u, str)]
        self.ping_interval = interval / 1000
        self.ping_timeout = timeout / 1000
        max_payload = info.get("maxPayload")
        self.max_payload = max_payload if isinstance(max_payload, int) else None
        self.state = State.OPEN
        self._deadline = now + self.ping_interval + self.ping_timeout
        return None

    def next_deadline(self) -> float:
        return self._deadline if self.state is State.OPEN else math.inf

    def handle_timeout(self, now: float) -> list[Event]:
        if self.state is State.OPEN and now >= self._deadline:
            return [self._closed("ping timeout")]
        return []

    def receive_text(self, text: str, now: float) -> Event | None:
        if self.state is not State.OPEN:
            return None
        if text[:1] == "4":
            return MessageReceived(text[1:])
        try:
            packet = decode_text(text)
        except EngineIOPacketError as exc:
            return self._closed("parse error", str(exc))
        if packet.type is PacketType.MESSAGE:
            assert packet.data is not None
            return MessageReceived(packet.data)
        if packet.type is PacketType.PING:
            self._deadline = now + self.ping_interval + self.ping_timeout
            self.outbox.append(PONG)
            return PingReceived()
        if packet.type is PacketType.CLOSE:
            return self._closed("transport close")
        return None

    def receive_binary(self, data: bytes) -> Event | None:
        return MessageReceived(data) if self.state is State.OPEN else None

    def transport_closed(self, reason: str = "transport close") -> Closed | None:
        return None if self.state is State.CLOSED else self._closed(reason)

    def close(self) -> None:
        """A deliberate close: the server is told with a CLOSE packet."""
        if self.state is State.OPEN:
            self.outbox.append(CLOSE)
            self.state = State.CLOSING
            self.close_reason = "forced close"

"""The named limits, with their defaults.

Every bound socketeer puts on what a peer may send or make it hold lives here, so that a
deployment can see them all in one place. Defaults follow the Node.js reference where it has
one. ``None`` disables a limit (do so only for trusted peers).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    #: Largest HTTP body, polling payload or WebSocket message, in bytes. Sent to clients as
    #: ``maxPayload`` in the handshake (the reference's ``maxHttpBufferSize``).
    max_payload: int | None = 1_000_000
    #: Most binary attachments one Socket.IO packet may announce (the reference's default).
    max_attachments: int | None = 10
    #: Deepest nesting of lists and dicts walked when handling binary placeholders.
    max_depth: int = 64
    #: Longest ack id, in decimal digits (a JavaScript safe integer has at most 16).
    max_ack_id_digits: int = 16
    #: Longest HTTP request line plus headers, in bytes.
    max_header_size: int = 16_384
    #: Seconds a client may take to send a complete request head.
    header_timeout: float = 10.0
    #: Bytes queued for one client that has stopped reading before its session is closed.
    max_send_buffer: int = 4 * 1024 * 1024
    #: Packets queued for one long-polling session before it is closed.
    max_queued_packets: int = 10_000


DEFAULT_LIMITS = Limits()

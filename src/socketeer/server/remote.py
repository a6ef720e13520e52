"""Sockets of other nodes, as ``fetch_sockets`` returns them on a cluster.

A ``RemoteSocket`` is a snapshot (``id``, ``handshake``, ``rooms``, ``data`` as the owning
node saw them when it answered) with the methods a user expects of a socket; each one is a
broadcast operation aimed at the socket's own room (its id), so it travels through the
adapter to whichever node owns the socket, as the reference's ``RemoteSocket`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..adapters.base import RemoteSocketDetails
from ..exceptions import AckTimeout
from .broadcast import BroadcastOperator, Done
from .socket import Handshake

if TYPE_CHECKING:
    from .namespace import Namespace

__all__ = ["RemoteSocket"]


class RemoteSocket:
    """A socket connected to another node of the cluster."""

    __slots__ = ("data", "handshake", "id", "namespace", "rooms")

    def __init__(self, nsp: Namespace, details: RemoteSocketDetails) -> None:
        self.namespace = nsp
        self.id = details.id
        self.handshake = Handshake.from_wire(details.handshake)
        self.rooms: set[str] = set(details.rooms)
        self.data: Any = details.data

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} on {self.namespace.name}>"

    def _op(self) -> BroadcastOperator:
        return BroadcastOperator(self.namespace, frozenset((self.id,)))

    def timeout(self, seconds: float) -> BroadcastOperator:
        """``remote.timeout(2).emit_with_ack(...)``, as on a broadcast."""
        return self._op().timeout(seconds)

    def emit(self, event: str, *args: Any) -> Done:
        return self._op().emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """The client's answer (one value, or a list of several)."""
        op = self._op() if timeout is None else self._op().timeout(timeout)
        answers = await op.emit_with_ack(event, *args)
        if not answers:
            raise AckTimeout(f"socket {self.id} is gone: no answer to {event!r}")
        return answers[0]

    def join(self, rooms: str | Iterable[str]) -> Done:
        return self._op().sockets_join(rooms)

    def leave(self, rooms: str | Iterable[str]) -> Done:
        return self._op().sockets_leave(rooms)

    def disconnect(self, close: bool = False) -> Done:
        return self._op().disconnect_sockets(close)

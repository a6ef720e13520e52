"""The Socket.IO v4 client: asyncio first, with a blocking wrapper (``socketeer.connect``).

``Client`` is the socket of one namespace and owns the ``Manager`` of its Engine.IO connection;
``client.socket("/other")`` multiplexes more namespaces over that connection. The backoff
policy (``Backoff``) is pure and usable alone.
"""

from .backoff import Backoff
from .client import Client
from .manager import Manager
from .socket import ClientSocket

__all__ = ["Backoff", "Client", "ClientSocket", "Manager"]

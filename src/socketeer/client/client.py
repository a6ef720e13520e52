"""``socketeer.Client``: the socket of the URL's namespace, owning the manager of its connection."""

from __future__ import annotations

import math
import ssl as _ssl
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..limits import Limits
from .engine import EngineOptions
from .manager import CLIENT_LIMITS, Manager, ManagerOptions
from .socket import ClientSocket

__all__ = ["Client"]

_TRANSPORTS = frozenset({"polling", "websocket"})


def _engine_options(
    url: str,
    *,
    path: str,
    query: Mapping[str, Any] | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    transports: Iterable[str],
    upgrade: bool,
    ssl: _ssl.SSLContext | None,
    per_message_deflate: bool,
    max_payload: int | None,
) -> tuple[EngineOptions, str]:
    """The connection's options from the URL and the keywords, and the URL's namespace."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use http, https, ws or wss")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    secure = scheme in ("https", "wss")
    if secure and ssl is None:
        ssl = _ssl.create_default_context()
    elif not secure:
        ssl = None
    names = tuple(transports)
    if not names or any(n not in _TRANSPORTS for n in names):
        raise ValueError(f"transports must be a non-empty list of 'polling' and 'websocket', not {names!r}")
    merged = dict(parse_qsl(parts.query))
    merged.update({k: str(v) for k, v in (query or {}).items()})
    if isinstance(headers, Mapping):
        header_list = tuple((str(k), str(v)) for k, v in headers.items())
    else:
        header_list = tuple((str(k), str(v)) for k, v in (headers or ()))
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"  # the reference's addTrailingSlash
    options = EngineOptions(
        host=parts.hostname,
        port=parts.port or (443 if secure else 80),
        ssl=ssl,
        path=path,
        query=merged,
        headers=header_list,
        transports=names,
        upgrade=upgrade,
        per_message_deflate=per_message_deflate,
        max_payload=max_payload,
    )
    return options, parts.path or "/"


class Client(ClientSocket):
    """A Socket.IO v4 client: the socket of the namespace in ``url`` (``/`` by default).

    ::

        client = socketeer.Client("http://127.0.0.1:3000", auth={"token": "..."})

        @client.on("news")
        async def news(item):
            return "thanks"            # answers the server's ack (a tuple: several arguments)

        await client.connect()
        reply = await client.emit_with_ack("chat", "hi", timeout=5)
        admin = client.socket("/admin", auth={...})   # same connection, another namespace
        await admin.connect()
        await client.disconnect()

    Options: ``auth`` (dict, or a sync/async function called on every attempt), ``path``,
    ``query``, ``headers``, ``transports`` (``["polling", "websocket"]``: polling, then the
    upgrade; ``["websocket"]``; ``["polling"]``), ``upgrade``, ``ssl`` (an ``SSLContext`` for
    https/wss), ``reconnection``, ``reconnection_attempts``, ``reconnection_delay``,
    ``reconnection_delay_max``, ``randomization_factor``, ``timeout`` (per attempt),
    ``retries`` and ``ack_timeout`` (at-least-once delivery), ``parser`` ("default" or
    "msgpack"), ``per_message_deflate``, ``limits`` (what is accepted from the server).

    Connection-level events are the manager's: ``client.manager.on("reconnect", fn)``.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: Any = None,
        path: str = "/socket.io/",
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        transports: Iterable[str] = ("polling", "websocket"),
        upgrade: bool = True,
        ssl: _ssl.SSLContext | None = None,
        reconnection: bool = True,
        reconnection_attempts: float = math.inf,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        retries: int = 0,
        ack_timeout: float | None = None,
        parser: str = "default",
        per_message_deflate: bool = True,
        limits: Limits | None = None,
    ) -> None:
        limits = limits or CLIENT_LIMITS
        engine, namespace = _engine_options(
            url, path=path, query=query, headers=headers, transports=transports, upgrade=upgrade, ssl=ssl,
            per_message_deflate=per_message_deflate, max_payload=limits.max_payload,
        )
        manager = Manager(ManagerOptions(
            engine=engine,
            reconnection=reconnection,
            reconnection_attempts=reconnection_attempts,
            reconnection_delay=reconnection_delay,
            reconnection_delay_max=reconnection_delay_max,
            randomization_factor=randomization_factor,
            timeout=timeout,
            parser=parser,
            limits=limits,
        ))
        super().__init__(manager, namespace, auth=auth, retries=retries, ack_timeout=ack_timeout)
        manager.nsps[self.namespace] = self
        self.url = url
        self._forced: list[Manager] = []

    def socket(
        self,
        namespace: str,
        *,
        auth: Any = None,
        force_new: bool = False,
        retries: int | None = None,
        ack_timeout: float | None = None,
    ) -> ClientSocket:
        """The socket of another namespace, over this client's connection (``force_new``: over a
        connection of its own, with the same options). Call ``await socket.connect()``."""
        options = {
            "auth": auth,
            "retries": self.retries if retries is None else retries,
            "ack_timeout": self.ack_timeout if ack_timeout is None else ack_timeout,
        }
        if force_new:
            manager = Manager(self.manager.options)
            self._forced.append(manager)
            return manager.socket(namespace, **options)
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        existing = self.manager.nsps.get(namespace)
        if existing is not None:
            return existing
        return self.manager.socket(namespace, **options)

    @property
    def transport(self) -> str | None:
        """"polling" or "websocket" while connected."""
        return self.manager.transport

    async def disconnect(self) -> None:
        """Leave every namespace of this client ("io client disconnect") and close its
        connection(s). No reconnection follows."""
        await super().disconnect()
        for manager in (self.manager, *self._forced):
            await manager.close()

    close = disconnect

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

"""CORS, as the reference's ``cors`` middleware answers: which origin a response allows, the
headers every engine answer carries (the 101 of a WebSocket too), and the preflight."""

from __future__ import annotations

from .contracts import HttpRequest, HttpResponse, Origins

__all__ = ["Cors"]


class Cors:
    """The policy of ``cors_allowed_origins`` and ``cors_credentials``; off when the first is ``None``."""

    __slots__ = ("allowed", "credentials")

    def __init__(self, allowed: Origins, credentials: bool) -> None:
        self.allowed = allowed
        self.credentials = credentials

    @property
    def enabled(self) -> bool:
        return self.allowed is not None

    def admits_websocket(self, request: HttpRequest) -> bool:
        """Whether a WebSocket upgrade may come from its page's origin: browsers send
        ``Origin`` on every WebSocket and CORS does not apply to them, so a page of any site
        could open one with the user's cookies (cross-site WebSocket hijacking). Allowed: no
        ``Origin`` (not a browser), the server's own origin (the ``Host`` it was asked for),
        or an origin ``cors_allowed_origins`` allows."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        host = request.headers.get("host")
        if host is not None and origin.split("://", 1)[-1].rstrip("/") == host:
            return True
        return self.allowed is not None and self.allowed_origin(request) is not None

    def allowed_origin(self, request: HttpRequest) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for this request, if any."""
        allowed = self.allowed
        origin = request.headers.get("origin")
        if allowed == "*":
            return origin if (self.credentials and origin) else "*"
        if origin is None or allowed is None:
            return None
        if callable(allowed):
            return origin if allowed(origin) else None
        if isinstance(allowed, str):
            return origin if origin == allowed else None
        return origin if origin in allowed else None

    def headers(self, request: HttpRequest, vary: str = "Origin") -> list[tuple[str, str]]:
        """The headers the reference adds to each answer; none when CORS is off."""
        if self.allowed is None:
            return []
        value = self.allowed_origin(request)
        headers = []
        if value is not None:
            headers.append(("Access-Control-Allow-Origin", value))
        if value != "*":
            headers.append(("Vary", vary))
        if self.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def preflight(self, request: HttpRequest) -> HttpResponse:
        """The answer to an ``OPTIONS`` request, byte for byte the reference's."""
        star = self.allowed_origin(request) == "*"
        headers = self.headers(request, vary="Origin, Access-Control-Request-Headers")
        headers.append(("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"))
        if star:
            headers.append(("Vary", "Access-Control-Request-Headers"))
        wanted = request.headers.get("access-control-request-headers")
        if wanted:
            headers.append(("Access-Control-Allow-Headers", wanted))
        headers.append(("Content-Length", "0"))
        return HttpResponse(204, headers)

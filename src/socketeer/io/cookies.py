"""The session cookie (``cookie=`` option): the ``Set-Cookie`` header of a handshake, written
as the reference writes it (the ``cookie`` npm package's ``serialize``, in its order)."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

__all__ = ["sid_cookie"]


def sid_cookie(cookie: str | dict[str, Any] | None, sid: str) -> list[tuple[str, str]]:
    """The header for ``sid``, or none when the option is off. Options by the reference's
    names (``maxAge``, ``httpOnly``, ``sameSite``) or in lower case."""
    if not cookie:
        return []
    spec: dict[str, Any] = {"name": cookie} if isinstance(cookie, str) else dict(cookie)

    def get(*names: str, default: Any = None) -> Any:
        return next((spec[n] for n in names if n in spec), default)

    path = get("path", default="/")
    parts = [f"{get('name', default='io')}={sid}"]
    max_age = get("maxAge", "max_age", "max-age")
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if get("domain"):
        parts.append(f"Domain={get('domain')}")
    if path:
        parts.append(f"Path={path}")
    expires = get("expires")
    if expires:
        parts.append(f"Expires={expires if isinstance(expires, str) else format_datetime(expires, usegmt=True)}")
    if get("httpOnly", "httponly", default=path is not False):
        parts.append("HttpOnly")
    same_site = get("sameSite", "samesite", default="Lax")
    if same_site:
        parts.append(f"SameSite={'Strict' if same_site is True else str(same_site).capitalize()}")
    if get("secure"):
        parts.append("Secure")
    return [("Set-Cookie", "; ".join(parts))]

"""The official browser client served from the engine's path (``client_bundle_dir``), as the
reference's ``serveClient``: ``/socket.io/socket.io.js`` and its siblings, with an ETag of the
package's version so browsers revalidate instead of downloading again."""

from __future__ import annotations

from pathlib import Path

import orjson

from .contracts import HttpRequest, HttpResponse

__all__ = ["ClientBundle"]

_FILES = ("socket.io.js", "socket.io.min.js", "socket.io.msgpack.min.js", "socket.io.esm.min.js")
_NOT_FOUND = HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")


class ClientBundle:
    """The files of one ``dist`` folder, read on the first request for one of them."""

    def __init__(self, folder: str | Path | None, path: str) -> None:
        self.folder = None if folder is None else Path(folder)
        self.path = path
        self._files: dict[str, tuple[bytes, str]] | None = None
        self._etag = ""

    def serve(self, request: HttpRequest) -> HttpResponse:
        """The file named under the engine's path, a 304 when the browser has it, or a 404."""
        if self.folder is None or request.method not in ("GET", "HEAD"):
            return _not_found()
        files = self._files if self._files is not None else self._load(self.folder)
        name = request.path.rsplit("/", 1)[-1]
        entry = files.get(name) if request.path == self.path + name else None
        if entry is None:
            return _not_found()
        body, ctype = entry
        headers = [("Cache-Control", "public, max-age=0"), ("ETag", self._etag)]
        if request.headers.get("if-none-match") == self._etag:
            return HttpResponse(304, headers)
        return HttpResponse(200, [("Content-Type", ctype), *headers], b"" if request.method == "HEAD" else body)

    def _load(self, folder: Path) -> dict[str, tuple[bytes, str]]:
        files: dict[str, tuple[bytes, str]] = {}
        for name in _FILES:
            for suffix, ctype in (("", "application/javascript; charset=utf-8"),
                                  (".map", "application/json; charset=utf-8")):
                file = folder / (name + suffix)
                if file.is_file():
                    files[name + suffix] = (file.read_bytes(), ctype)
        version = "unknown"
        package = folder.parent / "package.json"
        if package.is_file():
            version = str(orjson.loads(package.read_bytes()).get("version", version))
        self._files = files
        self._etag = f'"{version}"'
        return files


def _not_found() -> HttpResponse:
    return HttpResponse(_NOT_FOUND.status, list(_NOT_FOUND.headers), _NOT_FOUND.body)

"""The ``socketeer`` command: ``run`` an application, or ``demo`` the chat."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .io.serving import Servable, run, tune_gc

__all__ = ["main"]


class CommandError(Exception):
    """A mistake in how the command was called; shown to the user as one line."""


def load_app(target: str) -> Any:
    """Import ``MODULE:ATTR`` (the attribute may be dotted), as uvicorn does."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CommandError(f"expected MODULE:ATTR (for example chat.app:io), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CommandError(f"no module named {module_name!r} (looked from {os.getcwd()})") from None
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CommandError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _serve_any(app: Any, host: str, port: int, log_level: str) -> None:
    if isinstance(app, Servable):
        run(app, host, port, log_level=log_level)
        return
    if callable(app):  # an ASGI application: served by uvicorn, if it is installed
        try:
            import uvicorn
        except ImportError:
            raise CommandError("serving an ASGI app needs uvicorn (pip install uvicorn)") from None
        tune_gc()  # the process is ours, as with run()
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    raise CommandError(f"{type(app).__name__} is neither a socketeer Server nor an ASGI application")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socketeer", description="A fast Socket.IO v4 server and client.")
    parser.add_argument("--version", action="version", version=f"socketeer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run_cmd = commands.add_parser("run", help="serve MODULE:ATTR (a socketeer Server or an ASGI app)")
    run_cmd.add_argument("target", metavar="MODULE:ATTR")
    demo_cmd = commands.add_parser("demo", help="serve the chat demo (in-memory adapter)")
    demo_cmd.add_argument("--client-bundle-dir", type=Path, default=None,
                          help="the dist/ folder of an installed socket.io-client (found automatically nearby)")
    for cmd in (run_cmd, demo_cmd):
        cmd.add_argument("--host", default="127.0.0.1")
        cmd.add_argument("--port", type=int, default=8000)
        cmd.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            _serve_any(load_app(args.target), args.host, args.port, args.log_level)
        else:
            from .demo import create_app, find_client_bundle

            bundle = args.client_bundle_dir or find_client_bundle()
            if bundle is None or not (Path(bundle) / "socket.io.min.js").is_file():
                raise CommandError(
                    "the demo page needs the official browser client: run `npm install socket.io-client` "
                    "here, or pass --client-bundle-dir pointing at its dist/ folder"
                )
            print(f"socketeer demo: open http://{args.host}:{args.port}/ in two browser windows", flush=True)
            run(create_app(bundle), args.host, args.port, log_level=args.log_level)
    except CommandError as exc:
        print(f"socketeer: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Run one benchmark by name: ``python -m bench NAME [ARGS]``; with no name, list them.

Benchmarks are modules with a docstring (its first line is the listing) and
``main(argv: list[str]) -> None``. They are imported only when run or listed, so a
benchmark whose optional peers are missing cannot stop the others from running.
"""

from __future__ import annotations

import importlib
import sys

#: name -> module. Add a benchmark here and nowhere else.
BENCHMARKS: dict[str, str] = {
    "core": "bench.core",
    "ws_framers": "bench.ws_framers",
    "sio": "bench.sio",
    "eio": "bench.eio",
    "client": "bench.client_load",
    "fanout": "bench.fanout",
    "floor": "bench.floor",
    "cluster": "bench.cluster",
}


def _summary(module_name: str) -> str:
    try:
        doc = importlib.import_module(module_name).__doc__ or ""
    except ImportError as exc:
        return f"(cannot import: {exc})"
    return doc.strip().splitlines()[0] if doc.strip() else ""


def list_benchmarks() -> None:
    print("usage: python -m bench NAME [ARGS]\n\navailable benchmarks:")
    width = max(len(name) for name in BENCHMARKS)
    for name, module_name in BENCHMARKS.items():
        print(f"  {name:<{width}}  {_summary(module_name)}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        list_benchmarks()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}", file=sys.stderr)
        list_benchmarks()
        return 2
    importlib.import_module(BENCHMARKS[name]).main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

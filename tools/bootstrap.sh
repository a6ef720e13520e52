#!/usr/bin/env bash
# Everything the tests and the demo need on a fresh Debian machine, installed only when missing:
# a Python 3.11+ virtual environment with the package and its dev tools, the npm packages of the
# interop tests (the official clients, also the demo page's browser bundle), Chromium for the
# browser tests. (No test needs Redis yet: there is no Redis adapter so far.)
# Safe to run again: each step is skipped when its result is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

want="${1:-all}"   # "python": the venv only; "demo": the venv and the npm packages; "all": for the tests

pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  echo "socketeer needs Python 3.11 or newer" >&2; exit 1
}

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || "$(pick_python)" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

[ "$want" = python ] && exit 0

npm_packages() {
  if [ -f tests/interop/package-lock.json ]; then
    nm=tests/interop/node_modules/.installed
    if [ ! -f "$nm" ] || [ tests/interop/package-lock.json -nt "$nm" ]; then
      (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
      touch "$nm"
    fi
  fi
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing $*: install it (apt-get install $*) or run as root" >&2; return 0
  fi
  if [ -z "${_apt_updated:-}" ]; then apt-get update -qq; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v node >/dev/null 2>&1 || apt_install nodejs npm
if [ "$want" = demo ]; then  # the page uses the official browser client, from npm
  npm_packages
  exit 0
fi
command -v chromium >/dev/null 2>&1 || apt_install chromium
npm_packages

#!/usr/bin/env bash
# Everything the tests and the demo need on a fresh Debian machine, installed only when missing:
# a Python 3.11+ virtual environment with the package and its dev tools, the npm packages of the
# interop tests (the official clients, also the demo page's browser bundle), Chromium for the
# browser tests, redis-server and redis-cli for the cluster tests (they use the Redis on
# 127.0.0.1:6379 when one answers, else start this one on a free port; the Redis Cluster and
# Sentinel tests always start their own), HAProxy and nginx for the load-balancer tests. With
# "all", also a
# virtual environment per other supported Python found on the machine (.venv-3.12, .venv-3.13),
# for the test matrix; the test command says which versions it could not find.
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

# A working interpreter of version $1 (3.12), as a command line, or nothing: on PATH, or through
# pyenv's shims, which answer only when PYENV_VERSION names an installed version.
find_python() {
  local v="$1" full
  if "python$v" -c '' >/dev/null 2>&1; then echo "python$v"; return; fi
  command -v pyenv >/dev/null 2>&1 || return 0
  full="$(pyenv versions --bare 2>/dev/null | grep -E "^$v\.[0-9]+$" | sort -t. -k3 -n | tail -1)"
  if [ -n "$full" ] && PYENV_VERSION="$full" "python$v" -c '' >/dev/null 2>&1; then
    echo "env PYENV_VERSION=$full python$v"
  fi
}

matrix() {
  local main v py
  main="$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  for v in 3.11 3.12 3.13; do
    [ "$v" = "$main" ] && continue
    py="$(find_python "$v")"
    [ -n "$py" ] || continue
    local dir=".venv-$v"
    if [ ! -f "$dir/.installed" ] || [ pyproject.toml -nt "$dir/.installed" ]; then
      [ -x "$dir/bin/python" ] || $py -m venv "$dir"
      "$dir/bin/python" -m pip install -q --upgrade pip
      "$dir/bin/python" -m pip install -q -e '.[dev]'
      touch "$dir/.installed"
    fi
  done
}

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
{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || apt_install redis-server redis-tools
# The load-balancer tests run the configurations of deploy/ in front of real nodes.
command -v haproxy >/dev/null 2>&1 || apt_install haproxy
command -v nginx >/dev/null 2>&1 || apt_install nginx
npm_packages
matrix

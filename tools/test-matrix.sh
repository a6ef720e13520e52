#!/usr/bin/env bash
# The test suite on every supported Python that tools/bootstrap.sh found a virtual environment
# for: .venv first, then .venv-3.11/3.12/3.13. Says which versions were skipped (not on this
# machine). pytest's exit code 5 (no test collected) is not a failure of the code under test.
#
# The first version runs alone; the others then run side by side (their output shown when each
# ends): the suite waits on peers (Node, Redis, load balancers) about a quarter of its time, so
# two at once fit two cores and keep CI well under its time budget. SOCKETEER_MATRIX_SERIAL=1
# runs them one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
ran=()
venvs=()
for venv in .venv .venv-3.11 .venv-3.12 .venv-3.13; do
  [ -x "$venv/bin/python" ] || continue
  version="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  case " ${ran[*]:-} " in *" $version "*) continue ;; esac
  ran+=("$version")
  venvs+=("$venv:$version")
done

verdict() {  # version, pytest exit code
  if [ "$2" -ne 0 ] && [ "$2" -ne 5 ]; then
    echo "== Python $1: FAILED (pytest exit $2)"; status=1
  else
    echo "== Python $1: passed"
  fi
}

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
first=1
pids=()
for entry in "${venvs[@]}"; do
  venv="${entry%%:*}"; version="${entry##*:}"
  if [ "$first" = 1 ] || [ "${SOCKETEER_MATRIX_SERIAL:-0}" = 1 ]; then
    first=0
    echo "== tests on Python $version ($venv)"
    "$venv/bin/python" -m pytest -q "$@"
    verdict "$version" "$?"
  else
    echo "== tests on Python $version ($venv), alongside the others"
    ( "$venv/bin/python" -m pytest -q "$@" > "$logs/$version.log" 2>&1; echo $? > "$logs/$version.rc" ) &
    pids+=("$!:$version")
  fi
done
for entry in "${pids[@]:-}"; do
  [ -n "$entry" ] || continue
  wait "${entry%%:*}"
  version="${entry##*:}"
  echo "== output of Python $version"
  cat "$logs/$version.log"
  verdict "$version" "$(cat "$logs/$version.rc")"
done
for version in 3.11 3.12 3.13; do
  case " ${ran[*]} " in *" $version "*) ;; *) echo "== Python $version: skipped (not found on this machine)" ;; esac
done
exit $status

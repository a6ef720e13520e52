#!/usr/bin/env bash
# The test suite on every supported Python that tools/bootstrap.sh found a virtual environment
# for: .venv first, then .venv-3.11/3.12/3.13. Says which versions were skipped (not on this
# machine). pytest's exit code 5 (no test collected) is not a failure of the code under test.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
ran=()
for venv in .venv .venv-3.11 .venv-3.12 .venv-3.13; do
  [ -x "$venv/bin/python" ] || continue
  version="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  case " ${ran[*]:-} " in *" $version "*) continue ;; esac
  ran+=("$version")
  echo "== tests on Python $version ($venv)"
  "$venv/bin/python" -m pytest -q "$@"
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
    echo "== Python $version: FAILED (pytest exit $rc)"; status=1
  fi
done
for version in 3.11 3.12 3.13; do
  case " ${ran[*]} " in *" $version "*) ;; *) echo "== Python $version: skipped (not found on this machine)" ;; esac
done
exit $status

#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine (pip, apt, npm) and runs all of
# it: the CPython suite (core, storage, CLI, neural bus, MCP, migration), then the Pyodide and
# real-browser suites (Node, Chromium, Firefox, WebKitGTK). Exits non-zero if anything fails
# or if a suite collects no tests at all.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything installs into the project's virtual environment, made from the system python3
# when there is one (as a newcomer on Debian/Ubuntu has it), else from python3.
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; fi
source scripts/venv.sh
PY=$PYTHON

echo "== installing the package and its test dependencies" >&2
"$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$PY" -m pip install -q -e '.[test]'
bash scripts/install-test-deps.sh

run_pytest() {
  local rc=0
  "$PY" -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "scripts/test.sh: pytest collected no tests for: $*" >&2
    return 1
  fi
  return "$rc"
}

status=0
echo "== CPython suite" >&2
run_pytest tests -q --ignore=tests/pyodide --ignore=tests/browser --ignore=tests/e2e || status=1

echo "== Pyodide and browser suites" >&2
bash scripts/run-browser-tests.sh || status=1

echo "== Browsers on the neural bus (end to end)" >&2
bash scripts/run-e2e-tests.sh || status=1

[ "$status" -eq 0 ] && echo "scripts/test.sh: all suites passed" >&2 || echo "scripts/test.sh: FAILED" >&2
exit "$status"

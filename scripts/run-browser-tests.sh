#!/usr/bin/env bash
# Every browser-related test, in real engines:
#   1. pytest-pyodide: the core checks inside Pyodide in Node (fake-indexeddb), Chromium and
#      Firefox (Playwright driving the Debian browsers), compared with CPython;
#   2. the PWA and the JS API in Chromium and Firefox (Playwright), and the same core checks
#      plus the JS API in WebKitGTK (Selenium + WebKitWebDriver + MiniBrowser) under Xvfb.
# Installs what is missing first (scripts/install-test-deps.sh). Exits non-zero if any test
# fails or any browser cannot be started.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEPS=${RB_BROWSER_DEPS:-$ROOT/.browser-deps}
export RB_BROWSER_DEPS=$DEPS
PY=${PYTHON:-python}

scripts/install-test-deps.sh || { echo "run-browser-tests: installing test deps failed" >&2; exit 1; }
WHEEL_DIR="$DEPS/wheel"
"$ROOT/build_wheel.sh" "$WHEEL_DIR" >/dev/null || { echo "run-browser-tests: wheel build failed" >&2; exit 1; }

export RB_BROWSER_TESTS=1 RB_WHEEL_DIR="$WHEEL_DIR"
status=0
start=$(date +%s)
echo "== Pyodide core checks: node, chrome, firefox (pytest-pyodide)"
"$PY" -m pytest tests/pyodide -p no:cacheprovider -q -rfEs \
    --runtime node,chrome,firefox --runner playwright --dist-dir "$DEPS/pyodide-dist" \
    "$@" || status=1
echo "== Pyodide core checks: deno"
"$PY" -m pytest tests/deno -p no:cacheprovider -q -rfEs "$@" || status=1
echo "== PWA, JS API, IndexedDB persistence: chromium, firefox, webkit"
# A Chromium renderer that crashes ("Target crashed": the browser process died, not an
# assertion) gets its test run once more; the rerun is reported ("R", "1 rerun") and a test
# that fails again, or fails any other way, fails.
xvfb-run -a "$PY" -m pytest tests/browser -p no:cacheprovider -q -rfEsR \
    --reruns 1 --only-rerun "Target crashed" "$@" || status=1
echo "run-browser-tests: $(( $(date +%s) - start )) s, $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status

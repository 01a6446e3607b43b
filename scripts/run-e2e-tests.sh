#!/usr/bin/env bash
# End-to-end tests of browsers on the neural bus: a real hub (HTTP/3 WebTransport + WebSocket
# on 127.0.0.1), Chromium and Firefox over WebTransport (Playwright driving the Debian
# browsers), WebKitGTK over WebSocket (Selenium + MiniBrowser under Xvfb) and a CPython bank,
# plus the propagation and token-stream benchmarks. Installs what is missing first. Exits
# non-zero if any test fails, any browser cannot start, or no test was collected.
#   RB_BENCH_OUT=FILE   also write the benchmark numbers there as JSON
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEPS=${RB_BROWSER_DEPS:-$ROOT/.browser-deps}
export RB_BROWSER_DEPS=$DEPS
PY=${PYTHON:-python}

scripts/install-test-deps.sh || { echo "run-e2e-tests: installing test deps failed" >&2; exit 1; }
if ! "$PY" -c "import aioquic, nacl" 2>/dev/null; then
  "$PY" -m pip install -q 'aioquic==1.7.2' 'pynacl>=1.5' || { echo "run-e2e-tests: pip failed" >&2; exit 1; }
fi

export RB_E2E_TESTS=1
start=$(date +%s)
rc=0
# As in run-browser-tests.sh: a test whose Chromium renderer crashed is run once more (reported).
timeout 600 xvfb-run -a "$PY" -m pytest tests/e2e -p no:cacheprovider -q -rfEsR \
    --reruns 1 --only-rerun "Target crashed" "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run-e2e-tests: no tests collected" >&2
  rc=1
fi
echo "run-e2e-tests: $(( $(date +%s) - start )) s, $([ $rc = 0 ] && echo ok || echo FAILED)"
exit $rc

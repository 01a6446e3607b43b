#!/usr/bin/env bash
# Builds the wheel browsers load (py3-none-any) into dist/ (or the directory given as $1) and
# prints its path: the library as it runs under Pyodide, without the CPython-only tools (CLI,
# MCP server, hub transports, importers), docstrings and comments blanked with line numbers
# kept (see reasoningbank/browser_wheel.py). It must stay within 150 KB (RB_WHEEL_BUDGET
# bytes): over it the build fails. `pip install .` / `pip wheel .` give the full package.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
OUT=$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)
BUDGET=${RB_WHEEL_BUDGET:-153600}
PY=${PYTHON:-python3}
cd "$ROOT"
wheel=$("$PY" -m reasoningbank.browser_wheel "$OUT")
size=$(wc -c <"$wheel")
if [ "$size" -gt "$BUDGET" ]; then
  echo "build_wheel.sh: $(basename "$wheel") is $size bytes, over the $BUDGET-byte budget" >&2
  exit 1
fi
echo "$wheel"

#!/usr/bin/env bash
# The main job on a fresh machine: installs the package with every extra into the project's
# virtual environment (scripts/venv.sh) and runs `reasoningbank serve` (arguments are passed
# on, e.g. --port 8000). The first run also fetches Pyodide with npm and builds the semantic
# asset; later runs start at once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
"$PYTHON" -m pip install -q -e '.[all]'
exec "$RB_VENV/bin/reasoningbank" serve "$@"

#!/usr/bin/env bash
# Builds a JupyterLite site with the Pyodide kernel, the reasoningbank wheel in its own
# package index (so `%pip install reasoningbank` works offline) and the demo notebook, all
# served locally (no CDN: the Pyodide files and the kernel's dependencies are copied in; the
# build itself downloads those dependencies' wheels with pip):
#   examples/jupyterlite/build.sh OUT_DIR [PYODIDE_DIST_DIR]
# needs pip `jupyterlite-core` and `jupyterlite-pyodide-kernel` (scripts/install-test-deps.sh).
# PYODIDE_DIST_DIR: Pyodide's files plus the wheels its lock names for micropip. Then serve
# OUT_DIR (python -m http.server -d OUT_DIR) and open lab/index.html.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
DIST=${2:-$ROOT/.browser-deps/pyodide-dist}
PY=${PYTHON:-python3}
LITE=$(mktemp -d)
trap 'rm -rf "$LITE"' EXIT
mkdir -p "$LITE/static" "$LITE/files" "$LITE/pypi"
cp -r "$DIST" "$LITE/static/pyodide"  # a local Pyodide: the kernel never asks the CDN
rm -f "$LITE"/static/pyodide/reasoningbank-*.whl
# The kernel imports ipython, jedi and comm. npm's Pyodide has only its core, so the wheels its
# lock pins for them come from PyPI (pure Python) into the local Pyodide, with the lock's
# sha256 rewritten to match; comm, which the lock does not name, goes into the site's own
# package index.
WHEELS=$LITE/wheels
mkdir -p "$WHEELS"
"$PY" "$ROOT/scripts/pyodide_lock.py" pins "$LITE/static/pyodide/pyodide-lock.json" \
    ipython jedi >"$WHEELS/reqs.txt"
echo "comm==0.2.3" >>"$WHEELS/reqs.txt"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
    --implementation py --abi none --platform any -d "$WHEELS" -r "$WHEELS/reqs.txt"
mv "$WHEELS"/comm-*.whl "$LITE/pypi/"
cp "$WHEELS"/*.whl "$LITE/static/pyodide/"
"$PY" "$ROOT/scripts/pyodide_lock.py" relock "$LITE/static/pyodide"
"$ROOT/build_wheel.sh" "$LITE/pypi" >/dev/null
cp "$HERE/reasoningbank-demo.ipynb" "$LITE/files/"
cp "$HERE/jupyter-lite.json" "$LITE/"
(cd "$LITE" && "$PY" -m jupyterlite_core.app build --output-dir "$OUT" >/dev/null)
echo "$OUT"

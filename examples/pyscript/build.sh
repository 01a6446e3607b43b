#!/usr/bin/env bash
# Assembles the PyScript example into a folder you can serve as is (no CDN involved):
#   examples/pyscript/build.sh OUT_DIR [NODE_MODULES_DIR] [PYODIDE_DIST_DIR]
# NODE_MODULES_DIR holds npm @pyscript/core and pyodide; PYODIDE_DIST_DIR is Pyodide's files
# plus the micropip and packaging wheels its lock names (PyScript installs packages with
# micropip), such as scripts/install-test-deps.sh builds. Then: python -m http.server -d OUT_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
MODULES=${2:-$ROOT/.browser-deps/node_modules}
DIST=${3:-$ROOT/.browser-deps/pyodide-dist}
rm -rf "$OUT/pyscript" "$OUT/pyodide"
cp -r "$MODULES/@pyscript/core/dist" "$OUT/pyscript"
cp -r "$DIST" "$OUT/pyodide"
rm -f "$OUT"/reasoningbank-*.whl
wheel=$("$ROOT/build_wheel.sh" "$OUT")
cp "$HERE/index.html" "$OUT/index.html"
printf '{"interpreter": "./pyodide/pyodide.mjs", "packages": ["./%s"]}\n' "$(basename "$wheel")" \
  >"$OUT/pyscript.json"
echo "$OUT"

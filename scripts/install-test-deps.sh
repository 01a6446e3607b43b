#!/usr/bin/env bash
# Installs everything the Pyodide and browser tests need, idempotently (seconds when done):
#   apt:  chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth nats-server
#   pip:  pytest<9, pytest-pyodide, playwright (driver only: the Debian browsers are used,
#         never the Playwright browser download), selenium, pytest-rerunfailures (one rerun
#         of a browser test whose renderer crashed), hatchling, and jupyterlite-core,
#         jupyterlite-pyodide-kernel, jupyter-server (the JupyterLite example's build)
#   npm:  pyodide@314.0.7, fake-indexeddb@6.2.8, wabt@1.0.39 (wat2wasm: the test that
#         storage_idb/dense.wasm is dense.wat assembled), typescript@7.0.2 (tsc: the test
#         that web/reasoningbank.d.ts types the JS API), deno@2.9.6 (its binary: the core
#         checks in Pyodide under Deno) and @pyscript/core@0.7.31 (the PyScript example) into
#         .browser-deps/ (git-ignored)
# and builds .browser-deps/pyodide-dist/: the Pyodide files plus the wheels its lock file
# pins for pytest and micropip (from PyPI), with the lock's sha256 rewritten to match.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS=${RB_BROWSER_DEPS:-$ROOT/.browser-deps}
PYODIDE_VERSION=314.0.7
FAKE_IDB_VERSION=6.2.8
WABT_VERSION=1.0.39
TYPESCRIPT_VERSION=7.0.2
DENO_VERSION=2.9.6
PYSCRIPT_VERSION=0.7.31
PY=${PYTHON:-python}

log() { echo "install-test-deps: $*" >&2; }

# --- apt ---------------------------------------------------------------------------------
APT_PKGS="chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth nats-server"
missing=""
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "apt-get install$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# --- pip ---------------------------------------------------------------------------------
PIP_PKGS=("pytest>=8,<9" "pytest-pyodide==0.59.2" "playwright==1.64.1" "selenium==4.51.0" "pytest-rerunfailures==16.7" "hatchling>=1.25"
          "jupyterlite-core==0.8.6" "jupyterlite-pyodide-kernel==0.8.6" "jupyter-server>=2,<3")
if ! "$PY" - <<'PYCHECK' 2>/dev/null; then
import importlib.metadata as m
assert m.version("pytest-pyodide") == "0.59.2"
assert m.version("playwright") == "1.64.1"
assert m.version("selenium") == "4.51.0"
assert m.version("pytest-rerunfailures") == "16.7"
assert int(m.version("pytest").split(".")[0]) == 8
m.version("hatchling")
assert m.version("jupyterlite-core") == "0.8.6"
assert m.version("jupyterlite-pyodide-kernel") == "0.8.6"
m.version("jupyter-server")
PYCHECK
  log "pip install ${PIP_PKGS[*]}"
  "$PY" -m pip install -q "${PIP_PKGS[@]}"
fi

# --- npm ---------------------------------------------------------------------------------
mkdir -p "$DEPS"
if [ ! -f "$DEPS/node_modules/pyodide/package.json" ] \
   || ! grep -q "\"version\": \"$PYODIDE_VERSION\"" "$DEPS/node_modules/pyodide/package.json" \
   || [ ! -f "$DEPS/node_modules/fake-indexeddb/package.json" ] \
   || ! grep -q "\"version\": \"$WABT_VERSION\"" "$DEPS/node_modules/wabt/package.json" 2>/dev/null \
   || ! grep -q "\"version\": \"$TYPESCRIPT_VERSION\"" "$DEPS/node_modules/typescript/package.json" 2>/dev/null \
   || ! grep -q "\"version\": \"$DENO_VERSION\"" "$DEPS/node_modules/deno/package.json" 2>/dev/null \
   || ! grep -q "\"version\": \"$PYSCRIPT_VERSION\"" "$DEPS/node_modules/@pyscript/core/package.json" 2>/dev/null; then
  log "npm install pyodide@$PYODIDE_VERSION fake-indexeddb@$FAKE_IDB_VERSION wabt@$WABT_VERSION typescript@$TYPESCRIPT_VERSION deno@$DENO_VERSION @pyscript/core@$PYSCRIPT_VERSION"
  [ -f "$DEPS/package.json" ] || echo '{"name": "reasoningbank-browser-deps", "private": true}' >"$DEPS/package.json"
  (cd "$DEPS" && npm install --silent --no-audit --no-fund \
      "pyodide@$PYODIDE_VERSION" "fake-indexeddb@$FAKE_IDB_VERSION" "wabt@$WABT_VERSION" \
      "typescript@$TYPESCRIPT_VERSION" "deno@$DENO_VERSION" "@pyscript/core@$PYSCRIPT_VERSION" >/dev/null)
fi

# --- pytest-pyodide dist dir -------------------------------------------------------------
DIST=$DEPS/pyodide-dist
STAMP="$DIST/.ready-$PYODIDE_VERSION"
if [ ! -f "$STAMP" ]; then
  log "building $DIST"
  rm -rf "$DIST" && mkdir -p "$DIST"
  cp -r "$DEPS/node_modules/pyodide/." "$DIST/"
  WHEELS=$(mktemp -d)
  # The exact versions the lock file pins for pytest, tblib and micropip (and their deps).
  "$PY" "$ROOT/scripts/pyodide_lock.py" pins "$DIST/pyodide-lock.json" \
      pytest tblib micropip packaging >"$WHEELS/reqs.txt"
  binary=() ; source_only=()
  while read -r req; do
    case "$req" in atomicwrites==*) source_only+=("$req") ;; *) binary+=("$req") ;; esac
  done <"$WHEELS/reqs.txt"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
      --implementation py --abi none --platform any -d "$WHEELS" "${binary[@]}"
  if [ ${#source_only[@]} -gt 0 ]; then
    "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "${source_only[@]}"
  fi
  cp "$WHEELS"/*.whl "$DIST/"
  # Point the lock at the files we supplied, with their real sha256 (browsers verify it).
  "$PY" "$ROOT/scripts/pyodide_lock.py" relock "$DIST"
  rm -rf "$WHEELS"
  touch "$STAMP"
fi
log "ready: $DIST"

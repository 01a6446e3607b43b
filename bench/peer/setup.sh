#!/usr/bin/env bash
# Installs the peer (npm agentic-flow 1.7.3: ReasoningBankWasm + TypeScript ReasoningBank) into a cache
# directory, once. Prints that directory on stdout.
#
#   PEER_DIR   where to install (default: ${XDG_CACHE_HOME:-~/.cache}/reasoningbank-bench/agentic-flow-1.7.3)
#
# Only the four runtime dependencies the ReasoningBank code needs are installed, in the ranges
# agentic-flow 1.7.3 declares. better-sqlite3 compiles from source when its prebuilt binary cannot be
# downloaded (needs python3, make and a C++ compiler; ~45 s). npm output goes to $PEER_DIR/setup.log.
set -euo pipefail
PEER_VERSION=1.7.3
PEER_DIR=${PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reasoningbank-bench/agentic-flow-$PEER_VERSION}
if [ -f "$PEER_DIR/.ready" ]; then echo "$PEER_DIR"; exit 0; fi
command -v npm >/dev/null || { echo "setup.sh: npm not found (Node.js >= 18 is needed for the peer)" >&2; exit 1; }
mkdir -p "$PEER_DIR" && cd "$PEER_DIR"
trap 'echo "setup.sh failed; see $PEER_DIR/setup.log" >&2; tail -n 20 setup.log >&2' ERR
npm pack "agentic-flow@$PEER_VERSION" >setup.log 2>&1
tar xzf "agentic-flow-$PEER_VERSION.tgz"
[ -f package.json ] || npm init -y >>setup.log 2>&1
npm install --no-audit --no-fund better-sqlite3@^12.4.1 ulid@^3.0.1 yaml@^2.8.1 dotenv@^16.4.5 >>setup.log 2>&1
touch .ready
echo "$PEER_DIR"

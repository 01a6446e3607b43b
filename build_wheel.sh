#!/usr/bin/env bash
# Builds the pure-Python wheel (py3-none-any) into dist/. The browser loads this file, so it
# must stay small: the build fails if it grows past 100 KB.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p dist
rm -f dist/reasoningbank-*.whl
# Without build isolation when hatchling is already installed: no download, ~1 s.
if python -c "import hatchling" 2>/dev/null; then
  python -m pip wheel --quiet --no-deps --no-build-isolation -w dist . >&2
else
  python -m pip wheel --quiet --no-deps -w dist . >&2
fi
wheel=$(ls dist/reasoningbank-*-py3-none-any.whl)
size=$(wc -c <"$wheel")
if [ "$size" -gt 102400 ]; then
  echo "build_wheel.sh: $wheel is $size bytes, over the 100 KB budget" >&2
  exit 1
fi
echo "$wheel"

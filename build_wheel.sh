#!/usr/bin/env bash
# Builds the pure-Python wheel (py3-none-any) into dist/ (or the directory given as $1) and
# prints its path. Browsers download this file on first visit, so its size is checked
# against a 100 KB budget (RB_WHEEL_BUDGET bytes): over it, a warning, or with
# RB_WHEEL_STRICT=1 a failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
OUT=$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)
BUDGET=${RB_WHEEL_BUDGET:-102400}
cd "$ROOT"
TMP=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# Without build isolation when hatchling is installed: no download, ~1 s.
if python -c "import hatchling" 2>/dev/null; then
  python -m pip wheel --quiet --no-deps --no-build-isolation -w "$TMP" . >&2
else
  python -m pip wheel --quiet --no-deps -w "$TMP" . >&2
fi
built=$(ls "$TMP"/reasoningbank-*-py3-none-any.whl)
name=$(basename "$built")
rm -f "$OUT"/reasoningbank-*-py3-none-any.whl
mv "$built" "$OUT/$name"   # atomic within one directory: readers never see half a wheel
size=$(wc -c <"$OUT/$name")
if [ "$size" -gt "$BUDGET" ]; then
  echo "build_wheel.sh: $name is $size bytes, over the $BUDGET-byte budget" >&2
  if [ "${RB_WHEEL_STRICT:-0}" = 1 ]; then exit 1; fi
fi
echo "$OUT/$name"

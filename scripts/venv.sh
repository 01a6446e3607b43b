# Sourced by scripts/serve.sh and scripts/test.sh: makes (once) and uses the project's virtual
# environment. Why: Debian's and Ubuntu's system python3 refuse `pip install` outside one
# (PEP 668, "externally-managed-environment"), and ship without the venv module, which
# python3-venv adds (installed here with apt, via sudo when not root).
#   PYTHON   the interpreter the environment is made from (default: python3)
#   RB_VENV  where it lives (default: .venv in the checkout)
# Afterwards PYTHON is the environment's interpreter and its bin/ leads PATH.
RB_VENV=${RB_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv}
if [ ! -x "$RB_VENV/bin/python" ]; then
  base=${PYTHON:-python3}
  if ! "$base" -m venv "$RB_VENV" >/dev/null 2>&1; then
    rm -rf "$RB_VENV"
    version=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "venv: installing python3-venv (the venv module of python$version) with apt" >&2
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
    $sudo_ apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq python3-venv >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "python$version-venv" \
      >/dev/null 2>&1 || true
    "$base" -m venv "$RB_VENV"
  fi
fi
export RB_VENV PYTHON="$RB_VENV/bin/python" PATH="$RB_VENV/bin:$PATH"

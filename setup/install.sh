#!/usr/bin/env bash
# One command, idempotent, no prompts: create .venv/ in the repo and install the requirements.
#   bash setup/install.sh          runtime packages (what the bot needs)
#   bash setup/install.sh --dev    runtime + test-only packages (hypothesis, playwright, oracles, ruff)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (use --dev or nothing)" >&2; exit 2 ;;
  esac
done

python_bin="${PYTHON:-python3}"
if ! command -v "$python_bin" >/dev/null 2>&1; then
  echo "install.sh: python3 not found; install Python 3.11 or newer first" >&2
  exit 1
fi
if ! "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "install.sh: Python 3.11 or newer is required (found $("$python_bin" -V 2>&1))" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtual environment in .venv/"
  if ! "$python_bin" -m venv .venv 2>/dev/null; then
    # Debian ships venv without ensurepip unless python3-venv is installed.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
      echo "==> installing python3-venv (Debian)"
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv
      "$python_bin" -m venv .venv
    else
      echo "install.sh: could not create a venv; on Debian/Ubuntu run: sudo apt-get install python3-venv" >&2
      exit 1
    fi
  fi
fi

req=requirements.txt
[ "$dev" = 1 ] && req=requirements-dev.txt
echo "==> installing $req into .venv/"
.venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
.venv/bin/python -m pip install --disable-pip-version-check -q -r "$req"

mkdir -p logs/trades logs/errors data

if [ "$dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # The dashboard's browser test drives Debian's Chromium (never a downloaded browser build).
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "==> installing Debian's chromium for the dashboard browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "==> note: /usr/bin/chromium not found; the dashboard browser test will be skipped"
    echo "          (Debian/Ubuntu: sudo apt-get install chromium)"
  fi
fi
if [ "$dev" = 1 ]; then
  echo "==> done. Run the tests:   .venv/bin/python -m pytest"
else
  echo "==> done. Next: .venv/bin/python main.py --sim      (no network or credentials needed)"
  echo "           or: cp .env.example .env, fill it in, then .venv/bin/python main.py --paper"
fi

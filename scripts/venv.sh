#!/usr/bin/env bash
# Create .venv and install the project (with dev extras) when pyproject.toml changed. Sourced by run.sh/test.sh.
#
# Fast path (a fresh clone is ready in seconds, not the ~50 s plain pip takes): the venv is made without
# pip, uv is put into it with the base Python's pip (`--prefix`, a few seconds), and uv installs the
# project — and pip, so .venv looks as before. If any of that fails (no pip in the base Python, no uv
# wheel, or uv can't reach an index: uv reads no pip.conf), the venv gets pip and pip installs as before.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "expertpanel needs Python 3.11 or newer")'
    "$PY" -m venv --without-pip "$VENV"
fi
STAMP="$VENV/.expertpanel-installed"
# setup.py and core/_*.[ch]: the draw's native kernels, compiled at install (optional: without a C
# compiler the install still succeeds and the draw uses hashlib and numpy).
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$ROOT/setup.py" -nt "$STAMP" ] \
    || [ -n "$(find "$ROOT/core" -maxdepth 1 -name '_*.[ch]' -newer "$STAMP")" ]; then
    if { [ -x "$VENV/bin/uv" ] || "$PY" -m pip --disable-pip-version-check install --quiet --ignore-installed --prefix "$VENV" uv >/dev/null 2>&1; } \
        && "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" pip -e "$ROOT[dev]"; then
        :
    else
        echo "uv unavailable: installing with pip (slower)…" >&2
        "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip --upgrade >/dev/null \
            || { echo "no pip for $VENV (on Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
        "$VENV/bin/python" -m pip --disable-pip-version-check install --quiet --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip --disable-pip-version-check install --quiet -e "$ROOT[dev]"
    fi
    touch "$STAMP"
fi

#!/usr/bin/env bash
# The main job. No token configured → the local sandbox (Bot API stand-in + playground page + demo data).
# With EXPERTPANEL_TELEGRAM__TOKEN (or [telegram] token in config.toml) → the real bot, polling Telegram.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
# `expertpanel start`, through `python -m bot` so that a Ctrl-C while Python is still importing ends quietly.
exec .venv/bin/python -m bot start "$@"

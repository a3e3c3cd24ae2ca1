#!/usr/bin/env bash
# The main job. No token configured → the local sandbox (Bot API stand-in + playground page + demo data).
# With EXPERTPANEL_TELEGRAM__TOKEN (or [telegram] token in config.toml) → the real bot, polling Telegram.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
exec .venv/bin/expertpanel start "$@"

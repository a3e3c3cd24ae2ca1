#!/usr/bin/env bash
# The test suite. Database tests use SQLite unless EXPERTPANEL_TEST_DATABASE_URL names a PostgreSQL database.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Set up (idempotent, with what only the tests need), lint, and run the whole test suite (unit + e2e).
# Arguments go to pytest, e.g. `-m "not e2e"` for the fast unit tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --for-tests   # also the browser and the MariaDB server the tests start
./scripts/lint.sh
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Set up (idempotent), lint, and run the whole test suite (unit + e2e).
# Arguments go to pytest, e.g. `-m "not e2e"` for the fast unit tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/lint.sh
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# The one formatter and linter: ruff (configured in ruff.toml).
# `scripts/lint.sh --fix` formats and fixes what it can; without it, it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fix" ]; then
  .venv/bin/ruff format .
  .venv/bin/ruff check --fix .
else
  .venv/bin/ruff format --check .
  .venv/bin/ruff check .
fi

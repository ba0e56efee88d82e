#!/usr/bin/env bash
# Set up everything this project needs, idempotently:
#   - Graphviz (the `dot` binary used by keras.utils.plot_model and the UI's DAGs) via apt-get; with
#     --for-tests (scripts/test.sh) also Chromium with chromedriver (the UI's browser tests) and
#     MariaDB's server (the tests start one for ML Metadata on a shared database);
#   - a Python 3.10 virtual environment in .venv;
#   - every Python dependency, pinned by constraints.txt, and this project
#     installed in editable mode (console command: tfx-keras).
# A second run with nothing changed finishes in a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="${VENV:-$ROOT/.venv}"
FOR_TESTS=""
case "${1:-}" in
  --for-tests) FOR_TESTS=1 ;;
  "") ;;
  *) printf '[setup] ERROR: unknown argument %s (the only one is --for-tests)\n' "$1"; exit 2 ;;
esac

log() { printf '[setup] %s\n' "$*"; }

# --- system packages -------------------------------------------------------
# Each installed only when its command is missing: Graphviz (`dot`, for keras.utils.plot_model and the
# UI's DAGs); for the tests, Chromium and its driver (the browser the UI's tests drive, headless, through
# Selenium) and MariaDB's server (`mariadbd`: the tests start one for ML Metadata on a shared database).
apt_install() {  # apt_install PACKAGE COMMAND: install PACKAGE with apt-get unless COMMAND is there
  local package=$1 command=$2
  if PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null 2>&1; then return 0; fi
  log "installing $package (apt-get install $package)"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      log "ERROR: $package is missing and this user cannot run apt-get. Install the '$package' package, then re-run."; exit 1
    fi
  fi
  if [ -z "${APT_UPDATED:-}" ]; then $SUDO apt-get update -q >/dev/null; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$package" >/dev/null
}
apt_install graphviz dot
log "graphviz: $(dot -V 2>&1)"
if [ -n "$FOR_TESTS" ]; then
  apt_install chromium chromium
  apt_install chromium-driver chromedriver
  log "browser for the UI tests: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version 2>/dev/null | head -1)"
  apt_install mariadb-server mariadbd
  log "mariadb for the metadata tests: $(PATH="$PATH:/usr/sbin:/sbin" mariadbd --version 2>&1)"
fi

# --- Python 3.10 -----------------------------------------------------------
find_python() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local v
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -V -r); do
      local p; p="$(pyenv prefix "$v")/bin/python3.10"
      if [ -x "$p" ]; then echo "$p"; return 0; fi
    done
  fi
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || {
    log "ERROR: Python 3.10 not found (TFX 1.16 requires Python >=3.9,<3.11)."
    log "Install Python 3.10 (e.g. 'pyenv install 3.10.13' or your distribution's python3.10 package) and re-run."
    exit 1
  }
  log "creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' || {
  log "ERROR: $VENV is not a Python 3.10 environment; remove it and re-run."; exit 1; }

# --- Python packages ---------------------------------------------------------
# The stamp holds a hash of everything that decides what is installed; when it
# matches, there is nothing to do.
STAMP="$VENV/.tfx-keras-setup"
WANT=$(cat constraints.txt setup.py pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  log "python packages up to date ($VENV)"
else
  log "installing python packages into $VENV (first time: ~3 GB, a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade "pip==24.2"
  "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
  "$VENV/bin/python" -m pip check
  echo "$WANT" > "$STAMP"
fi
log "ready: $VENV/bin/tfx-keras ($("$VENV/bin/python" --version))"

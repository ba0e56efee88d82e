#!/usr/bin/env bash
# The main job in one command: set up (idempotent), make sure TFDS `mnist` is
# available, and run the MNIST pipeline on the local runner (Beam
# DirectRunner, ML Metadata in SQLite under ./outputs).
#
# Data: if MNIST is not yet prepared in $TFDS_DATA_DIR (default ./tfds_data),
# the upstream IDX files in $MNIST_RAW (default ../shared/data/mnist) are
# imported offline; without them, TensorFlow Datasets downloads (needs network).
# Extra arguments go to `tfx-keras run mnist`, e.g. --epochs 3.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

DATA_DIR="${TFDS_DATA_DIR:-$PWD/tfds_data}"
RAW="${MNIST_RAW:-$PWD/../shared/data/mnist}"
extra=()
if [ ! -d "$DATA_DIR/mnist" ]; then
  if [ -d "$RAW" ]; then
    .venv/bin/tfx-keras data import mnist --source "$RAW" --data-dir "$DATA_DIR"
  else
    echo "[run] MNIST is not in $DATA_DIR and no upstream files at $RAW: TensorFlow Datasets will download it."
    extra+=(--download)
  fi
fi
exec .venv/bin/tfx-keras run mnist --data-dir "$DATA_DIR" ${extra[@]+"${extra[@]}"} "$@"

"""TFLite vs SavedModel: does the pushed ``model.tflite`` answer as the pushed SavedModel does?

Runs both on every image of the task's ``test`` split (never seen by training or evaluation), the
SavedModel through ``serving_raw`` and the TFLite model through its interpreter, and prints the
class agreement, the largest probability difference, both accuracies, the file size and the
per-image latency of each. Writes ``benchmarks/results/TASK_tflite.{json,md}``.

    .venv/bin/tfx-keras run mnist --data-dir tfds_data --set export.tflite=true
    .venv/bin/python benchmarks/tflite_agreement.py --data-dir tfds_data --model outputs/serving/mnist/VERSION
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from pipelines.keras_config import configure_keras  # noqa: E402

configure_keras()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from common.contract import TFLITE_FILE  # noqa: E402
from pipelines import tasks  # noqa: E402


def main() -> None:
    """Compare the two models on the test split and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="mnist")
    parser.add_argument("--data-dir", required=True, help="TFDS data_dir with the task's data set")
    parser.add_argument("--model", required=True, help="a pushed version folder that has model.tflite")
    args = parser.parse_args()
    spec = tasks.get(args.task)
    tflite_path = Path(args.model) / TFLITE_FILE
    if not tflite_path.exists():
        raise SystemExit(f"{tflite_path} does not exist: run the pipeline with --set export.tflite=true")

    builder = tfds.builder(spec.source.dataset, data_dir=args.data_dir)
    test = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1))
    images, labels = test["image"], test["label"]

    saved = tf.saved_model.load(args.model).signatures["serving_raw"]
    start = time.perf_counter()
    saved_out = [saved(image=tf.constant(images[i : i + 500])) for i in range(0, len(images), 500)]
    saved_seconds = time.perf_counter() - start
    saved_probs = np.concatenate([o["probabilities"].numpy() for o in saved_out])

    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    runner = interpreter.get_signature_runner()
    start = time.perf_counter()
    lite_probs = np.concatenate([runner(image=images[i : i + 1])["probabilities"] for i in range(len(images))])
    lite_seconds = time.perf_counter() - start

    agreement = float((lite_probs.argmax(-1) == saved_probs.argmax(-1)).mean())
    result = {
        "task": args.task,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": str(args.model),
        "test_images": int(len(images)),
        "class_agreement": agreement,
        "max_probability_difference": float(np.abs(lite_probs - saved_probs).max()),
        "accuracy_saved_model": float((saved_probs.argmax(-1) == labels).mean()),
        "accuracy_tflite": float((lite_probs.argmax(-1) == labels).mean()),
        "tflite_bytes": tflite_path.stat().st_size,
        "saved_model_bytes": sum(f.stat().st_size for f in Path(args.model).rglob("*") if f.is_file())
        - tflite_path.stat().st_size,
        "tflite_ms_per_image_batch_1": round(1000 * lite_seconds / len(images), 3),
        "saved_model_ms_per_image_batch_500": round(1000 * saved_seconds / len(images), 3),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.task}_tflite.json").write_text(json.dumps(result, indent=2) + "\n")
    table = (
        f"| {args.task}, {len(images):,} test images | SavedModel (`serving_raw`) | TFLite (`model.tflite`) |\n"
        "|---|---|---|\n"
        f"| accuracy | {result['accuracy_saved_model']:.4f} | {result['accuracy_tflite']:.4f} |\n"
        f"| same class as the SavedModel | | {agreement:.2%} (largest probability difference "
        f"{result['max_probability_difference']:.1e}) |\n"
        f"| size | {result['saved_model_bytes'] / 1e6:.2f} MB (folder, with the Transform graph) | "
        f"{result['tflite_bytes'] / 1e6:.3f} MB |\n"
        f"| time per image | {result['saved_model_ms_per_image_batch_500']} ms (batches of 500) | "
        f"{result['tflite_ms_per_image_batch_1']} ms (one at a time) |\n"
    )
    (RESULTS / f"{args.task}_tflite.md").write_text(
        f"TFLite agreement, {result['date']}, {result['machine']}\n\n{table}"
    )
    print(table)


if __name__ == "__main__":
    main()

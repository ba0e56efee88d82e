"""Benchmark: the whole MNIST pipeline vs. a plain Keras script, on the full MNIST data.

1. Imports ``../shared/data/mnist`` (or ``--raw``) offline into a TFDS data_dir, if needed.
2. Runs ``tfx-keras run mnist`` from scratch (fresh output dir, no cache) and times the process.
3. Loads the *pushed* SavedModel and measures its accuracy on the 10,000 test images
   through the ``serving_raw`` signature.
4. Runs ``benchmarks/plain_keras_mnist.py`` (same model, data, preprocessing, epochs,
   callbacks) and times that process.
5. Prints both, and the ratio, and writes ``benchmarks/results/mnist.{json,md}``.

Both are measured in one run on the same machine; the ratio is the number to
compare, not the absolute seconds (machines here are shared and noisy).

    .venv/bin/python benchmarks/mnist_benchmark.py [--epochs 15] [--workers 1]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RAW = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results"


def _run(cmd: list[str], log: Path) -> float:
    """Run a command, tee its output to ``log``, return the wall time."""
    print(f"$ {' '.join(cmd)}", flush=True)
    start = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            if line.startswith(("[pipeline]", "[trainer] epoch", "==", "   ", "{", "Epoch")):
                print("   " + line.rstrip(), flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"command failed ({proc.returncode}); see {log}")
    return time.time() - start


def pushed_model_accuracy(model_dir: str, data_dir: str) -> tuple[float, int]:
    """Accuracy of a pushed SavedModel on the MNIST test split, through ``serving_raw``."""
    from pipelines.keras_config import configure_keras

    configure_keras()
    import tensorflow as tf
    import tensorflow_datasets as tfds

    model = tf.saved_model.load(model_dir)
    predict = model.signatures["serving_raw"]
    correct = total = 0
    for batch in tfds.as_numpy(tfds.builder("mnist", data_dir=data_dir).as_dataset(split="test", batch_size=1000)):
        ids = predict(image=tf.constant(batch["image"]))["class_ids"].numpy()
        correct += int((ids == batch["label"]).sum())
        total += len(ids)
    return correct / total, total


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", default=str(DEFAULT_RAW), help="folder with the four upstream MNIST .gz files")
    parser.add_argument("--data-dir", default=str(ROOT / "tfds_data"), help="TFDS data_dir (imported into if needed)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--workers", type=int, default=1, help="Beam DirectRunner workers for the pipeline")
    args = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    cli = str(bin_dir / "tfx-keras")
    prepared = Path(args.data_dir, "mnist").is_dir()
    if not prepared:
        if not Path(args.raw).is_dir():
            print(
                f"SKIP: MNIST is not prepared in {args.data_dir} and {args.raw} does not exist. Give --raw DIR "
                "with the upstream files (train-images-idx3-ubyte.gz ...)."
            )
            return
        subprocess.run([cli, "data", "import", "mnist", "--source", args.raw, "--data-dir", args.data_dir], check=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mnist_bench_"))
    try:
        pipeline_s = _run(
            [
                cli,
                "run",
                "mnist",
                "--data-dir",
                args.data_dir,
                "--output-dir",
                str(work / "out"),
                "--epochs",
                str(args.epochs),
                "--workers",
                str(args.workers),
                "--json",
            ],
            work / "pipeline.log",
        )
        text = (work / "pipeline.log").read_text()
        summary = json.loads(text[text.rindex("\n{") + 1 :])
        if not summary["pushed"]:
            raise SystemExit(f"the pipeline did not push a model: {summary}")
        accuracy, n_test = pushed_model_accuracy(summary["pushed_destination"], args.data_dir)
        history = json.loads(Path(summary["artifacts"]["report"]).parent.joinpath("history.json").read_text())
        report_copy = RESULTS / "mnist_report"
        shutil.rmtree(report_copy, ignore_errors=True)
        shutil.copytree(summary["artifacts"]["report"], report_copy)

        keras_s = _run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "plain_keras_mnist.py"),
                "--data-dir",
                args.data_dir,
                "--epochs",
                str(args.epochs),
            ],
            work / "keras.log",
        )
        keras_text = (work / "keras.log").read_text()
        plain = json.loads(keras_text[keras_text.rindex("\n{") + 1 :])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "epochs_configured": args.epochs,
        "pipeline": {
            "wall_seconds": round(pipeline_s, 1),
            "epochs_run": history["epochs_run"],
            "test_accuracy_pushed_model": accuracy,
            "test_examples": n_test,
            "eval_accuracy_tfma": summary["metrics"].get("sparse_categorical_accuracy"),
            "components": summary["components"],
            "beam_workers": args.workers,
        },
        "plain_keras": {
            "wall_seconds": round(keras_s, 1),
            "epochs_run": plain["epochs_run"],
            "test_accuracy": plain["test_accuracy"],
        },
        "ratio_pipeline_to_plain_keras": round(pipeline_s / keras_s, 2),
    }
    (RESULTS / "mnist.json").write_text(json.dumps(result, indent=2) + "\n")
    table = (
        "| run | wall time | epochs run | test accuracy (10,000 images) |\n|---|---|---|---|\n"
        f"| TFX pipeline (all 9 components, pushed SavedModel) | {pipeline_s:.0f} s | {history['epochs_run']} | "
        f"{accuracy:.4f} |\n"
        f"| plain Keras script | {keras_s:.0f} s | {plain['epochs_run']} | {plain['test_accuracy']:.4f} |\n"
        f"| ratio pipeline / plain | {pipeline_s / keras_s:.2f} | | |\n"
    )
    (RESULTS / "mnist.md").write_text(f"MNIST benchmark, {result['date']}, {result['machine']}\n\n{table}")
    print()
    print(table)
    print(f"written: {RESULTS / 'mnist.json'}, {RESULTS / 'mnist.md'}, pictures in {report_copy}")


if __name__ == "__main__":
    main()

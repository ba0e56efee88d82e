"""Benchmark: an image task's whole pipeline vs. a plain Keras script, on real data.

1. Imports the task's upstream files from ``../shared/data`` (or ``--raw``) offline into a
   TFDS data_dir, if needed. Without them it stops with SKIP and a message.
2. Runs ``tfx-keras run TASK`` from scratch (fresh output dir, no cache) and times the process.
3. Loads the *pushed* SavedModel and measures its accuracy on the task's ``test`` split
   (never seen by training or evaluation) through the ``serving_raw`` signature.
4. Runs ``benchmarks/plain_keras.py`` (same model, data, preprocessing, augmentation,
   epochs and callbacks) and times that process.
5. Prints both and their ratio, where the pipeline's time went (each component's wall time, as
   the run summary reads it from ML Metadata), and writes ``benchmarks/results/TASK.{json,md}``
   and a copy of the run's report pictures in ``benchmarks/results/TASK_report/``.
6. Runs the pipeline once more with nothing changed and times that process (a cached re-run).

Both are measured in one run on the same machine; compare the ratio, not the absolute
seconds (machines here are shared and noisy).

    .venv/bin/python benchmarks/image_benchmark.py --task mnist
    .venv/bin/python benchmarks/image_benchmark.py --task cifar10
    # another configuration, e.g. the improved CNN, without the plain Keras side:
    .venv/bin/python benchmarks/image_benchmark.py --task mnist --set model.architecture=improved \
        --name mnist_improved --pipeline-only
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
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_RAW = {"mnist": SHARED / "mnist", "cifar10": SHARED / "cifar10-subset" / "cifar-10-binary-subset.tar.gz"}
BENCH_TASKS = ["mnist", "fashion_mnist", "cifar10"]
RESULTS = ROOT / "benchmarks" / "results"


def _run(cmd: list[str], log: Path) -> float:
    """Run a command, keep its output in ``log`` and show its progress lines; return the wall time."""
    print(f"$ {' '.join(cmd)}", flush=True)
    start = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            if line.startswith(("[pipeline]", "[trainer] epoch", "{")):
                print("   " + line.rstrip(), flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"command failed ({proc.returncode}); see {log}")
    return time.time() - start


def _last_json(text: str) -> dict:
    return json.loads(text[text.rindex("\n{") + 1 :])


def pushed_model_accuracy(task: str, model_dir: str, data_dir: str) -> tuple[float, int]:
    """Accuracy of a pushed SavedModel on the task's test split, through ``serving_raw``."""
    from pipelines.keras_config import configure_keras

    configure_keras()
    import tensorflow as tf
    import tensorflow_datasets as tfds

    predict = tf.saved_model.load(model_dir).signatures["serving_raw"]
    correct = total = 0
    builder = tfds.builder(task, data_dir=data_dir)
    for batch in tfds.as_numpy(builder.as_dataset(split="test", batch_size=500)):
        ids = predict(image=tf.constant(batch["image"]))["class_ids"].numpy()
        correct += int((ids == batch["label"]).sum())
        total += len(ids)
    return correct / total, total


def _one_seed(args: argparse.Namespace, cli: str, seed: int | None, work: Path, keep_report: bool) -> dict:
    """Pipeline then plain Keras with one seed; their times and test accuracies."""
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    seed_set = ["--set", f"training.seed={seed}"] if seed is not None else []
    settings = [arg for setting in args.set for arg in ("--set", setting)]
    pipeline_cmd = [
        cli,
        "run",
        args.task,
        "--data-dir",
        args.data_dir,
        "--output-dir",
        str(work / "out"),
        "--workers",
        str(args.workers),
        "--json",
        *epochs,
        *seed_set,
        *settings,
    ]
    pipeline_s = _run(pipeline_cmd, work / "pipeline.log")
    summary = _last_json((work / "pipeline.log").read_text())
    if not summary["pushed"]:
        raise SystemExit(f"the pipeline did not push a model: {json.dumps(summary, indent=2)}")
    accuracy, n_test = pushed_model_accuracy(args.task, summary["pushed_destination"], args.data_dir)
    history = json.loads((Path(summary["artifacts"]["report"]).parent / "history.json").read_text())
    if keep_report:
        report_copy = RESULTS / f"{args.name or args.task}_report"
        shutil.rmtree(report_copy, ignore_errors=True)
        shutil.copytree(summary["artifacts"]["report"], report_copy)
    plain_cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "plain_keras.py"),
        "--task",
        args.task,
        "--data-dir",
        args.data_dir,
        *epochs,
        *settings,
    ] + (["--seed", str(seed)] if seed is not None else [])
    epoch_s = sorted(history.get("epoch_seconds") or [])
    pipeline = {
        "wall_seconds": round(pipeline_s, 1),
        "epochs_run": history["epochs_run"],
        "median_epoch_seconds": round(epoch_s[len(epoch_s) // 2], 2) if epoch_s else None,
        "trainer_fit_seconds": round(history.get("fit_seconds", 0.0), 1),
        "trainer_seconds_in_epochs": round(sum(epoch_s), 1),
        "test_accuracy_pushed_model": accuracy,
        "eval_accuracy_tfma": summary["metrics"].get("sparse_categorical_accuracy"),
        "components": summary["components"],
        # in the pipeline's order
        "component_seconds": {
            k: round(summary["seconds"][k], 1) for k in summary["components"] if k in summary["seconds"]
        },
        "cached_rerun_wall_seconds": round(_run(pipeline_cmd, work / "rerun.log"), 1),
    }
    if args.pipeline_only:
        return {"seed": history["config"]["seed"], "test_examples": n_test, "pipeline": pipeline}
    keras_s = _run(plain_cmd, work / "keras.log")
    plain = _last_json((work / "keras.log").read_text())
    return {
        "seed": history["config"]["seed"],
        "test_examples": n_test,
        "epochs_configured": history["config"]["epochs"],
        "pipeline": pipeline,
        "plain_keras": {
            "wall_seconds": round(keras_s, 1),
            "epochs_run": plain["epochs_run"],
            "test_accuracy": plain["test_accuracy"],
        },
    }


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=BENCH_TASKS, required=True)
    parser.add_argument("--raw", default=None, help="upstream files (default: the task's in ../shared/data)")
    parser.add_argument("--data-dir", default=str(ROOT / "tfds_data"), help="TFDS data_dir (imported into if needed)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's configured epochs")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=None,
        help="training seeds; each runs both sides (default: the configured seed only)",
    )
    parser.add_argument("--workers", type=int, default=1, help="Beam DirectRunner workers for the pipeline")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="config override, both sides"
    )
    parser.add_argument("--name", default=None, help="results file stem (default: the task)")
    parser.add_argument("--pipeline-only", action="store_true", help="skip the plain Keras script")
    args = parser.parse_args()
    name = args.name or args.task

    cli = str(Path(sys.executable).parent / "tfx-keras")
    raw = Path(args.raw) if args.raw else DEFAULT_RAW.get(args.task, SHARED / args.task)
    if not Path(args.data_dir, args.task).is_dir():
        if not raw.exists():
            print(f"SKIP: {args.task} is not prepared in {args.data_dir} and {raw} does not exist; give --raw.")
            return
        subprocess.run(
            [cli, "data", "import", args.task, "--source", str(raw), "--data-dir", args.data_dir], check=True
        )

    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = []
    for i, seed in enumerate(args.seeds or [None]):
        work = Path(tempfile.mkdtemp(prefix=f"{args.task}_bench_"))
        try:
            runs.append(_one_seed(args, cli, seed, work, keep_report=i == 0))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    pipeline_acc = [r["pipeline"]["test_accuracy_pushed_model"] for r in runs]
    pipeline_s = mean([r["pipeline"]["wall_seconds"] for r in runs])
    n_test = runs[0]["test_examples"]
    result = {
        "task": args.task,
        "overrides": args.set,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "beam_workers": args.workers,
        "runs": runs,
        "mean_test_accuracy": {"pipeline": mean(pipeline_acc)},
        "mean_wall_seconds": {"pipeline": round(pipeline_s, 1)},
    }
    rows = "".join(
        f"| seed {r['seed']} | {r['pipeline']['test_accuracy_pushed_model']:.4f} "
        f"({r['pipeline']['epochs_run']} epochs, {r['pipeline']['wall_seconds']:.0f} s, "
        f"median epoch {r['pipeline']['median_epoch_seconds']} s) |"
        + (
            f" {r['plain_keras']['test_accuracy']:.4f} "
            f"({r['plain_keras']['epochs_run']} epochs, {r['plain_keras']['wall_seconds']:.0f} s) |"
            if "plain_keras" in r
            else ""
        )
        + "\n"
        for r in runs
    )
    title = f"| {args.task}: test accuracy ({n_test:,} images) | TFX pipeline (pushed SavedModel) |"
    if args.pipeline_only:
        table = title + "\n|---|---|\n" + rows + f"| mean | **{mean(pipeline_acc):.4f}** ({pipeline_s:.0f} s) |\n"
    else:
        plain_acc = [r["plain_keras"]["test_accuracy"] for r in runs]
        keras_s = mean([r["plain_keras"]["wall_seconds"] for r in runs])
        result["mean_test_accuracy"]["plain_keras"] = mean(plain_acc)
        result["mean_wall_seconds"]["plain_keras"] = round(keras_s, 1)
        result["ratio_pipeline_to_plain_keras"] = round(pipeline_s / keras_s, 2)
        table = (
            title
            + " plain Keras script |\n|---|---|---|\n"
            + rows
            + f"| mean | **{mean(pipeline_acc):.4f}** | **{mean(plain_acc):.4f}** |\n"
            f"| mean wall time | {pipeline_s:.0f} s | {keras_s:.0f} s (ratio {pipeline_s / keras_s:.2f}) |\n"
        )
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    first = runs[0]["pipeline"]
    breakdown = "| component | seconds (first run) |\n|---|---:|\n" + "".join(
        f"| {component} | {seconds:.1f} |\n" for component, seconds in first["component_seconds"].items()
    )
    breakdown += (
        f"| *of the Trainer: `fit`, of which in epochs* | {first['trainer_fit_seconds']:.1f}, "
        f"{first['trainer_seconds_in_epochs']:.1f} |\n"
        f"| *whole `tfx-keras run` process* | {first['wall_seconds']:.1f} |\n"
        f"| *cached re-run, whole process* | {first['cached_rerun_wall_seconds']:.1f} |\n"
    )
    table += "\nWhere the pipeline's time went (ML Metadata's execution times):\n\n" + breakdown
    settings = f" ({', '.join(args.set)})" if args.set else ""
    (RESULTS / f"{name}.md").write_text(
        f"{args.task} benchmark{settings}, {result['date']}, {result['machine']}\n\n{table}"
    )
    print()
    print(table)
    print(f"written: {RESULTS / (name + '.json')}, {RESULTS / (name + '.md')}")


if __name__ == "__main__":
    main()

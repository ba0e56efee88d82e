"""Benchmark: the gRPC development server against an in-process call of the same signature.

MNIST's pushed model, ``serving_raw``, batch 1 and 64, concurrency 1, 8 and 32 (closed loop:
each client sends its next request when the previous one is answered), for a fixed time per
cell. The floor is the same SavedModel signature called in this process by as many threads.
The server runs as a separate process (``tfx-keras serve``) on loopback.

Prints p50/p99 latency and throughput per cell and the server/in-process ratios, and writes
``benchmarks/results/serving.{json,md}``. Compare ratios from one run; the machines are shared.

    .venv/bin/python benchmarks/serving_benchmark.py                      # trains a model if none is given
    .venv/bin/python benchmarks/serving_benchmark.py --model-dir outputs/serving/mnist/<version>
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from pipelines.keras_config import configure_keras  # noqa: E402

configure_keras()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from serving.client import ServingClient  # noqa: E402


def _latest_pushed(serving_root: Path) -> Path | None:
    versions = [p for p in (serving_root / "mnist").glob("*") if p.name.isdigit()] if serving_root.is_dir() else []
    return max(versions, key=lambda p: int(p.name)) if versions else None


def _train_model(work: Path, epochs: int) -> Path:
    """Run the MNIST pipeline (real data from ./tfds_data or ../shared/data) and return the pushed model."""
    data_dir = ROOT / "tfds_data"
    if not (data_dir / "mnist").is_dir():
        raw = ROOT.parent / "shared" / "data" / "mnist"
        if not raw.is_dir():
            sys.exit("SKIP: no MNIST model given (--model-dir) and no MNIST data to train one (../shared/data/mnist)")
        subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "data", "import", "mnist", "--source", str(raw), "--data-dir",
             str(data_dir)],
            check=True, cwd=ROOT,
        )  # fmt: skip
    cmd = [
        sys.executable, "-m", "pipelines.cli", "run", "mnist", "--data-dir", str(data_dir), "--output-dir", str(work),
        "--epochs", str(epochs), "--set", "eval.min_accuracy=0.9",
    ]  # fmt: skip
    print(f"$ {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    model = _latest_pushed(work / "serving")
    if model is None:
        sys.exit("the MNIST pipeline did not push a model; see its summary above")
    return model


def _closed_loop(call: Callable[[int], object], concurrency: int, seconds: float) -> dict[str, float]:
    """``concurrency`` threads call ``call(thread index)`` back to back for ``seconds``; latencies, rate."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []
    start_barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        start_barrier.wait()
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            try:
                call(i)
            except BaseException as exc:  # noqa: BLE001 - counted and reported
                errors.append(exc)
                continue
            latencies[i].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = np.array([x for per in latencies for x in per]) * 1000
    return {
        "requests": int(flat.size),
        "errors": len(errors),
        "p50_ms": float(np.percentile(flat, 50)) if flat.size else float("nan"),
        "p99_ms": float(np.percentile(flat, 99)) if flat.size else float("nan"),
        "requests_per_s": flat.size / elapsed,
    }


def _start_server(serving_root: Path) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable, "-m", "pipelines.cli", "serve", "--model-base-path", str(serving_root), "--port", "0",
        "--workers", "32",
    ]  # fmt: skip
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"gRPC API on (\S+)", line)
        if match:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining
            return process, match.group(1)
    raise SystemExit(f"the server did not start (exit code {process.wait()})")


def main() -> None:
    """Run every cell, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", help="an MNIST SavedModel pushed by the pipeline (default: train one)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each cell")
    parser.add_argument("--epochs", type=int, default=1, help="epochs when training a model for the benchmark")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serving_bench_"))
    model_dir = Path(args.model_dir) if args.model_dir else _latest_pushed(ROOT / "outputs" / "serving")
    model_dir = model_dir or _train_model(work / "run", args.epochs)
    serving_root = work / "serving"
    shutil.copytree(model_dir, serving_root / "mnist" / "1")
    print(f"model: {model_dir}")

    rng = np.random.default_rng(0)
    images = {b: rng.integers(0, 256, size=(b, 28, 28, 1), dtype=np.uint8) for b in args.batches}
    signature = tf.saved_model.load(str(model_dir)).signatures["serving_raw"]
    process, target = _start_server(serving_root)
    rows = []
    try:
        with ServingClient(target) as probe:
            probe.wait_until_ready("mnist", timeout=120)
        clients = [ServingClient(target, timeout=60) for _ in range(max(args.concurrency))]
        for batch in args.batches:
            tensor, array = tf.constant(images[batch]), images[batch]
            signature(image=tensor)  # warm up both paths
            clients[0].predict("mnist", {"image": array}, signature="serving_raw")
            for concurrency in args.concurrency:
                floor = _closed_loop(lambda _, t=tensor: signature(image=t), concurrency, args.seconds)
                served = _closed_loop(
                    lambda i, a=array: clients[i].predict("mnist", {"image": a}, signature="serving_raw"),
                    concurrency,
                    args.seconds,
                )
                row = {
                    "batch": batch,
                    "concurrency": concurrency,
                    "server": served,
                    "in_process": floor,
                    "p50_ratio": served["p50_ms"] / floor["p50_ms"],
                    "throughput_ratio": served["requests_per_s"] / floor["requests_per_s"],
                }
                rows.append(row)
                print(
                    f"batch {batch:3d} concurrency {concurrency:2d}: server p50 {served['p50_ms']:7.2f} ms "
                    f"p99 {served['p99_ms']:7.2f} ms {served['requests_per_s'] * batch:8.0f} images/s "
                    f"({served['errors']} errors) | in-process p50 {floor['p50_ms']:7.2f} ms "
                    f"{floor['requests_per_s'] * batch:8.0f} images/s | p50 x{row['p50_ratio']:.2f}, "
                    f"throughput x{row['throughput_ratio']:.2f}",
                    flush=True,
                )
        for c in clients:
            c.close()
    finally:
        process.send_signal(2)
        process.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
        "model": str(model_dir),
        "seconds_per_cell": args.seconds,
        "command": "python benchmarks/serving_benchmark.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Serving benchmark: gRPC development server vs. in-process SavedModel call (MNIST, serving_raw)",
        "",
        f"{result['date']}, {result['machine']}, {args.seconds:.0f} s per cell, closed loop.",
        f"Command: `{result['command'].strip()}`",
        "",
        "| batch | clients | server p50 ms | server p99 ms | server images/s | in-process p50 ms | in-process p99 ms "
        "| in-process images/s | p50 ratio | throughput ratio | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, f, b = r["server"], r["in_process"], r["batch"]
        lines.append(
            f"| {b} | {r['concurrency']} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['requests_per_s'] * b:.0f} "
            f"| {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['requests_per_s'] * b:.0f} | {r['p50_ratio']:.2f} "
            f"| {r['throughput_ratio']:.2f} | {s['errors']} |"
        )
    (RESULTS / "serving.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'serving.json'} and {RESULTS / 'serving.md'}")


if __name__ == "__main__":
    main()

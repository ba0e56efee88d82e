"""A/B of the development server: two checkouts of this project, one model, paired back to back.

A refactor of ``serving/`` must not make the server slower, and on a shared machine whose speed
drifts by 20-40% within minutes, two benchmark runs an hour apart cannot say whether it did. This
script starts ``tfx-keras serve`` from each checkout in turn (A B B A A B ..., so each leads as
often), over the same model, and measures with the same client code:

* batch-1 gRPC p50, one client (the default server);
* batch-1 throughput, 32 asyncio clients, with batching (``--enable-batching --batch-size 32
  --num-batch-threads 1``, TensorFlow on one thread per pool: the benchmark's best setting).

It prints each pair and the medians per checkout; compare them, not single runs.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/serving_ab.py --model-dir outputs/serving/mnist/<version> --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.keras_config import configure_keras

configure_keras()

import numpy as np  # noqa: E402

from serving.client import AsyncServingClient, ServingClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "mnist"
IMAGE = np.zeros((1, 28, 28, 1), np.uint8)
BATCHING = [
    "--enable-batching",
    "--batch-size",
    "32",
    "--batch-timeout-micros",
    "2000",
    "--num-batch-threads",
    "1",
    "--tensorflow-intra-op-parallelism",
    "1",
    "--tensorflow-inter-op-parallelism",
    "1",
]


def start(checkout: Path, serving_root: Path, flags: list[str]) -> tuple[subprocess.Popen, str]:
    """``tfx-keras serve`` of ``checkout`` (its own modules: run from its folder); (process, gRPC target)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--model-base-path", str(serving_root)]
        + ["--port", "0", "--rest-api-port", "0", *flags],
        cwd=checkout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(checkout)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if match := re.search(r"gRPC API on (\S+)", line):
            return process, match.group(1)
    raise RuntimeError(f"the server of {checkout} did not start:\n{''.join(lines)}")


def batch1_p50_ms(target: str, seconds: float) -> float:
    """Median latency of one client's batch-1 Predicts, after 50 to warm up."""
    with ServingClient(target, timeout=10) as client:
        client.wait_until_ready(MODEL)
        for _ in range(50):
            client.predict(MODEL, {"image": IMAGE}, signature="serving_raw")
        times, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            began = time.perf_counter()
            client.predict(MODEL, {"image": IMAGE}, signature="serving_raw")
            times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


async def _throughput(target: str, clients: int, seconds: float) -> float:
    async with AsyncServingClient(target, timeout=30) as client:
        await client.wait_until_ready(MODEL)
        count, end = 0, time.perf_counter() + seconds

        async def closed_loop() -> None:
            nonlocal count
            while time.perf_counter() < end:
                await client.predict(MODEL, {"image": IMAGE}, signature="serving_raw")
                count += 1

        await asyncio.gather(*(closed_loop() for _ in range(clients)))
        return count / seconds


def main() -> None:
    """Pair the two checkouts' servers, print each pair and the medians."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="an MNIST SavedModel (outputs/serving/mnist/<version>)")
    parser.add_argument("--baseline", required=True, help="the other checkout (a git worktree of the commit to beat)")
    parser.add_argument("--candidate", default=str(ROOT), help="this checkout (default)")
    parser.add_argument("--pairs", type=int, default=3, help="pairs; each checkout leads in half of them")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    args = parser.parse_args()
    serving_root = Path(tempfile.mkdtemp(prefix="serving_ab_"))
    (serving_root / MODEL).mkdir()
    (serving_root / MODEL / "1").symlink_to(Path(args.model_dir).resolve())
    checkouts = {"baseline": Path(args.baseline).resolve(), "candidate": Path(args.candidate).resolve()}
    order = []
    for pair in range(args.pairs):
        order += ["baseline", "candidate"] if pair % 2 == 0 else ["candidate", "baseline"]
    results: dict[str, list[tuple[float, float]]] = {"baseline": [], "candidate": []}
    for name in order:
        process, target = start(checkouts[name], serving_root, [])
        latency = batch1_p50_ms(target, args.seconds)
        process.terminate()
        process.wait()
        process, target = start(checkouts[name], serving_root, BATCHING)
        asyncio.run(_throughput(target, 32, 1.0))  # warm up the batch path
        rate = asyncio.run(_throughput(target, 32, args.seconds))
        process.terminate()
        process.wait()
        results[name].append((latency, rate))
        print(f"{name:9s} batch-1 gRPC p50 {latency:5.2f} ms   32 clients, batching {rate:6.0f}/s", flush=True)
    for name, rows in results.items():
        p50 = statistics.median(r[0] for r in rows)
        rate = statistics.median(r[1] for r in rows)
        print(f"median {name:9s} ({checkouts[name]}): p50 {p50:.2f} ms, {rate:.0f}/s")


if __name__ == "__main__":
    main()

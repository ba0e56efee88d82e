"""Benchmark: what request logging costs a request: batch-1 gRPC p50 with ``--request-log`` at rate 1.0 against off.

Two ``tfx-keras serve`` processes over the same MNIST model (``serving_raw``, one uint8 image per
request), one logging every request (``--request-log DIR --sampling-rate 1``), one not; one client
asks each in turn, ``--rounds`` rounds of ``--round-seconds``, the order alternating (ABBA...) so
that the machine's drift falls on both. The verdict is the median of the per-round p50 ratios
(target: logging at most 5% slower), and every sampled request must be on disk at the end
(the logging server's ``request_log_records{outcome="written"}`` against the requests it answered).

Also measured: 8 clients (throughput ratio), where the writer thread competes with the requests.

Prints every round and writes ``benchmarks/results/request_log.{json,md}``.

    .venv/bin/python benchmarks/request_log_cost.py                      # trains a model if none is pushed
    .venv/bin/python benchmarks/request_log_cost.py --model-dir outputs/serving/mnist/<version>
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_benchmark import (  # noqa: E402 - the serving benchmark's server process, loop and model
    INPUT,
    MODEL,
    ONE_THREAD,
    ROOT,
    SIGNATURE,
    Server,
    _latest_pushed,
    _train_model,
    closed_loop,
)

from serving.client import ServingClient  # noqa: E402
from serving.request_log import log_files, read_logs  # noqa: E402


def _written(rest_url: str) -> float:
    text = urllib.request.urlopen(f"{rest_url}/monitoring/prometheus/metrics", timeout=30).read().decode()
    match = re.search(r':tfx_keras:request_log_records_total\{model_name="mnist",outcome="written"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    """Alternate rounds against the two servers, print them, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model-dir", help="an MNIST SavedModel pushed by the pipeline (default: the latest, or train)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs when training a model for the benchmark")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per setting (even: each server leads equally)")
    parser.add_argument("--round-seconds", type=float, default=3.0, help="duration of each cell")
    args = parser.parse_args()
    if args.rounds < 1 or args.round_seconds <= 0:
        parser.error("--rounds must be >= 1 and --round-seconds > 0")

    work = Path(tempfile.mkdtemp(prefix="request_log_bench_"))
    model_dir = Path(args.model_dir) if args.model_dir else _latest_pushed(ROOT / "outputs" / "serving")
    model_dir = (model_dir or _train_model(work / "run", args.epochs)).resolve()
    root = work / "serving"
    os.makedirs(root / MODEL)
    os.symlink(model_dir, root / MODEL / "1")
    logs = work / "logs"
    servers = {
        "off": Server(root, ONE_THREAD),
        "logging": Server(root, (*ONE_THREAD, "--request-log", str(logs), "--sampling-rate", "1")),
    }
    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28, 1), dtype=np.uint8)
    clients = {name: ServingClient(server.target, timeout=60) for name, server in servers.items()}
    results: dict = {"model": str(model_dir), "rounds": {}, "ratios": {}}
    try:
        for client in clients.values():  # both warm before the first round
            for _ in range(50):
                client.predict(MODEL, {INPUT: image}, signature=SIGNATURE)
        for threads in (1, 8):
            rounds = []
            for i in range(args.rounds):
                order = ("off", "logging") if i % 2 == 0 else ("logging", "off")
                cells = {}
                for name in order:
                    client = clients[name]
                    cells[name] = closed_loop(
                        lambda _, c=client: c.predict(MODEL, {INPUT: image}, signature=SIGNATURE),
                        threads,
                        args.round_seconds,
                    )
                rounds.append(cells)
                off, on = cells["off"], cells["logging"]
                print(
                    f"{threads} client(s), round {i + 1}: p50 off {off['p50_ms']:.3f} ms, logging "
                    f"{on['p50_ms']:.3f} ms ({on['p50_ms'] / off['p50_ms']:.3f}x); "
                    f"{off['per_s']:.0f} vs {on['per_s']:.0f} req/s; errors "
                    f"{off['errors']} / {on['errors']}",
                    flush=True,
                )
            results["rounds"][str(threads)] = rounds
            results["ratios"][str(threads)] = {
                "p50": statistics.median(r["logging"]["p50_ms"] / r["off"]["p50_ms"] for r in rounds),
                "throughput": statistics.median(r["logging"]["per_s"] / r["off"]["per_s"] for r in rounds),
                "errors": sum(r["logging"]["errors"] + r["off"]["errors"] for r in rounds),
            }
        written = _written(servers["logging"].rest_url)
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
    answered = sum(r["logging"]["requests"] for rs in results["rounds"].values() for r in rs) + 50
    on_disk = len(read_logs(log_files(str(logs))))
    disk_mb = sum(os.path.getsize(f) for f in log_files(str(logs))) / 1e6
    results.update({"answered": answered, "written": written, "on_disk": on_disk, "disk_mb": disk_mb})
    p50 = results["ratios"]["1"]["p50"]
    verdict = "met" if p50 <= 1.05 else "NOT met"
    print(f"\nbatch-1 gRPC p50, logging every request / off: {p50:.3f}x (median of {args.rounds} rounds): target "
          f"<= 1.05x {verdict}")  # fmt: skip
    print(f"8 clients, throughput logging / off: {results['ratios']['8']['throughput']:.3f}x")
    print(f"logged: {on_disk} records on disk ({disk_mb:.1f} MB) of {answered} answered; metric written={written:.0f}")
    shutil.rmtree(work, ignore_errors=True)

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ROOT / "benchmarks" / "results"
    (out / "request_log.json").write_text(
        json.dumps({"when": when, "machine": platform.platform(), **results}, indent=2)
    )
    lines = [
        "# Request logging: what it costs a request",
        "",
        f"Measured {when} on {platform.platform()} ({os.cpu_count()} cores) with "
        "`.venv/bin/python benchmarks/request_log_cost.py`: two `tfx-keras serve` processes over one MNIST model "
        "(`serving_raw`, one image per request, TensorFlow at one thread per pool), one with `--request-log DIR "
        f"--sampling-rate 1`; {args.rounds} alternating rounds of {args.round_seconds:g} s per setting.",
        "",
        "| clients | p50 logging / off | throughput logging / off | errors |",
        "|---|---|---|---|",
    ]
    for threads, ratio in results["ratios"].items():
        lines.append(f"| {threads} | {ratio['p50']:.3f}x | {ratio['throughput']:.3f}x | {ratio['errors']} |")
    lines += [
        "",
        f"Target: batch-1 p50 with logging at most 1.05x off: **{verdict}** ({p50:.3f}x).",
        f"Records on disk at the end: {on_disk:,} of {answered:,} requests answered ({disk_mb:.1f} MB); "
        f'the server\'s `request_log_records{{outcome="written"}}`: {written:,.0f}.',
        "",
        "Per round (p50 ms, off / logging):",
        "",
    ]
    for threads, rounds in results["rounds"].items():
        pairs = ", ".join(f"{r['off']['p50_ms']:.3f}/{r['logging']['p50_ms']:.3f}" for r in rounds)
        lines.append(f"* {threads} client(s): {pairs}")
    (out / "request_log.md").write_text("\n".join(lines) + "\n")
    print(f"written: {out / 'request_log.md'}")


if __name__ == "__main__":
    main()

"""Benchmark: the development server (gRPC and REST) against the same signature called in-process.

One run measures, on MNIST's pushed model and its ``serving_raw`` signature (uint8 images):

1. **batch-1 latency**, one client: p50/p99 in-process, over gRPC, over REST. In-process is measured
   two ways: the public signature call on a ready tensor (as a user calls it) and the flat call the
   server itself makes (NumPy in and out, no per-call argument binding); the targets compare with
   the faster of the two, so the server's own shortcut cannot hide its overhead;
2. **batch-1 throughput** with 1, 8 and 32 closed-loop clients (each sends its next request when the
   previous one is answered): in-process threads, the server without batching, the server with
   batching (TF Serving's ``--enable_batching``);
3. **first-request latency on a fresh load**, with and without the model's warmup requests
   (``assets.extra/tf_serving_warmup_requests``): a new server process per trial, the first request
   timed as soon as the version is AVAILABLE.

gRPC clients are ``AsyncServingClient`` coroutines on one event loop (each one closed loop, as a
thread would be, but without 32 Python threads fighting over one GIL in the benchmark process);
the threaded ``ServingClient`` is measured too, at 1 and 32 clients. Each server setting is a
flag of ``tfx-keras serve``: the default, TensorFlow on one thread per pool
(``--tensorflow-intra-op-parallelism 1 --tensorflow-inter-op-parallelism 1``, TF Serving's flags of
the same names), and batching (two batch threads, or one: one model call at a time while the next
batch fills).

Targets (issue "Serve as TensorFlow Serving does"): gRPC batch-1 p50 at most in-process p50 + 1 ms;
with batching, 32 batch-1 clients get at least 0.6x the throughput of 32 in-process threads; zero
errors in every cell. Clients and server share this machine's cores, as they would on one host.

The sweep above picks, for each target, the best server setting and the faster in-process way; the
verdict then comes from **paired rounds**: that server against that in-process way, back to back,
``--rounds`` times, the order alternating (ABBA...), and the median of the per-round differences
(latency) or ratios (throughput). Cells measured minutes apart cannot carry a verdict on a machine
whose speed drifts by 20-40% within minutes; a pair measured seconds apart, in both orders, can.
And the rounds are fresh measurements, so picking the best setting on the sweep does not bias them.
Every cell and every round is printed and written.

Prints every cell and writes ``benchmarks/results/serving.{json,md}``. Compare ratios from one run.

    .venv/bin/python benchmarks/serving_benchmark.py                      # trains a model if none is pushed
    .venv/bin/python benchmarks/serving_benchmark.py --model-dir outputs/serving/mnist/<version>

Long because one script measures every serving path (in-process, gRPC, REST, batching, clients) and writes its report.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from pipelines.keras_config import configure_keras  # noqa: E402

configure_keras()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from common.contract import WARMUP_FILE  # noqa: E402
from serving.client import AsyncServingClient, ServingClient  # noqa: E402
from serving.rest_client import RestClient  # noqa: E402
from serving.signatures import signature_caller  # noqa: E402

MODEL = "mnist"
SIGNATURE = "serving_raw"
INPUT = "image"
GRPC_P50_MARGIN_MS = 1.0
BATCHED_THROUGHPUT_RATIO = 0.6


def _latest_pushed(serving_root: Path) -> Path | None:
    versions = [p for p in (serving_root / MODEL).glob("*") if p.name.isdigit()] if serving_root.is_dir() else []
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


def closed_loop(call: Callable[[int], object], clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads call ``call(thread index)`` back to back for ``seconds``; latencies and rate."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            try:
                call(i)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies[i].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    return _cell(latencies, errors, time.perf_counter() - began)


def closed_loop_async(call: Callable[[int], Awaitable[object]], clients: int, seconds: float) -> dict[str, float]:
    """As :func:`closed_loop`, with ``clients`` coroutines on one event loop awaiting ``call(index)``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    async def worker(i: int, deadline: float) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await call(i)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies[i].append(time.perf_counter() - t0)

    async def run() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(worker(i, began + seconds) for i in range(clients)))
        return time.perf_counter() - began

    return _cell(latencies, errors, LOOP.run_until_complete(run()))


def paired_rounds(in_process: Callable[[], dict], server: Callable[[], dict], rounds: int) -> list[dict[str, dict]]:
    """``rounds`` pairs of cells, in-process and server back to back, the order alternating (A B, B A, A B ...).

    Drift in the machine's speed then falls on both sides of the pairs alike, and each pair is compared alone.
    """
    pairs = []
    for i in range(rounds):
        first, second = ("in_process", "server") if i % 2 == 0 else ("server", "in_process")
        cells = {}
        for side in (first, second):
            cells[side] = in_process() if side == "in_process" else server()
        pairs.append({"first": first, **cells})
    return pairs


LOOP = asyncio.new_event_loop()  # the asyncio clients' loop, for the whole run (grpc.aio channels bind to
asyncio.set_event_loop(LOOP)  # the current loop when they are made)


def _cell(latencies: list[list[float]], errors: list[str], elapsed: float) -> dict[str, float]:
    flat = np.array([x for per in latencies for x in per]) * 1000
    return {
        "requests": int(flat.size),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "p50_ms": float(np.percentile(flat, 50)) if flat.size else float("nan"),
        "p99_ms": float(np.percentile(flat, 99)) if flat.size else float("nan"),
        "per_s": flat.size / elapsed,
    }


# TensorFlow's thread pools in the server at one thread each: no TensorFlow threads spinning on cores
# the clients and the server's own Python threads need.
ONE_THREAD = ("--tensorflow-intra-op-parallelism", "1", "--tensorflow-inter-op-parallelism", "1")
SETTINGS: dict[str, Sequence[str]] = {"": (), "_one_thread": ONE_THREAD}  # + the batching ones, set in main()
BATCHING_PATHS = ("grpc_batching", "grpc_batching_one_thread", "grpc_batching_one_thread_one_batch_thread")


class Server:
    """``tfx-keras serve`` in its own process on loopback, gRPC and REST on free ports."""

    def __init__(self, model_root: Path, extra: Sequence[str] = ()) -> None:
        cmd = [
            sys.executable, "-m", "pipelines.cli", "serve", "--model-base-path", str(model_root), "--port", "0",
            "--rest-api-port", "-1", "--workers", "64", *extra,
        ]  # fmt: skip
        self.started = time.perf_counter()
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        self.target = self.rest_url = ""
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if match := re.search(r"gRPC API on (\S+)", line):
                self.target = match.group(1)
            if match := re.search(r"REST API on (http://[^/\s]+)", line):
                self.rest_url = match.group(1)
            if "Ctrl-C stops" in line:
                threading.Thread(target=self.process.stdout.read, daemon=True).start()  # keep draining
                return
        raise SystemExit(f"the server did not start (exit code {self.process.wait()}):\n{''.join(lines[-20:])}")

    def stop(self) -> None:
        """Stop it as Ctrl-C does."""
        self.process.send_signal(2)
        self.process.wait(timeout=60)


def fresh_load(model_dir: Path, work: Path, image: np.ndarray) -> dict[str, float]:
    """A new server on ``model_dir``: seconds until AVAILABLE, then the first and second request's latency."""
    root = work / f"fresh-{time.monotonic_ns()}"
    os.makedirs(root / MODEL)
    os.symlink(model_dir, root / MODEL / "1")
    server = Server(root, ["--poll-seconds", "0.2"])
    try:
        with ServingClient(server.target, timeout=120) as client:
            client.wait_until_ready(MODEL, timeout=300)
            available = time.perf_counter() - server.started
            latencies = []
            for _ in range(2):
                t0 = time.perf_counter()
                client.predict(MODEL, {INPUT: image}, signature=SIGNATURE)
                latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {"available_s": available, "first_ms": latencies[0], "second_ms": latencies[1]}


def main() -> None:
    """Run every section, print the cells and the verdicts, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model-dir", help="an MNIST SavedModel pushed by the pipeline (default: the latest, or train)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each cell")
    parser.add_argument("--epochs", type=int, default=1, help="epochs when training a model for the benchmark")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--fresh-loads", type=int, default=3, help="trials per warmup setting")
    parser.add_argument("--batch-timeout-micros", type=int, default=2000, help="batching: the longest wait")
    parser.add_argument(
        "--rounds", type=int, default=6, help="paired rounds per target (even: each side leads equally)"
    )
    parser.add_argument("--round-seconds", type=float, default=3.0, help="duration of each cell of a paired round")
    args = parser.parse_args()
    if args.rounds < 1 or args.round_seconds <= 0 or args.seconds <= 0:
        parser.error("--rounds must be >= 1, and --seconds and --round-seconds > 0")

    work = Path(tempfile.mkdtemp(prefix="serving_bench_"))
    model_dir = Path(args.model_dir) if args.model_dir else _latest_pushed(ROOT / "outputs" / "serving")
    model_dir = (model_dir or _train_model(work / "run", args.epochs)).resolve()
    if not (model_dir / "saved_model.pb").is_file():
        sys.exit(f"{model_dir} is not a SavedModel folder: give outputs/serving/mnist/<version> of a pushed model")
    if not (model_dir / WARMUP_FILE).is_file():
        sys.exit(f"{model_dir} has no {WARMUP_FILE}: give a model pushed by the pipeline (it writes one)")
    cold_model = work / "no_warmup"
    shutil.copytree(model_dir, cold_model)
    shutil.rmtree(cold_model / "assets.extra")
    serving_root = work / "serving"
    os.makedirs(serving_root / MODEL)
    os.symlink(model_dir, serving_root / MODEL / "1")
    print(f"model: {model_dir}", flush=True)

    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28, 1), dtype=np.uint8)
    tensor = tf.constant(image)
    signature = tf.saved_model.load(str(model_dir)).signatures[SIGNATURE]
    signature(**{INPUT: tensor})
    result: dict = {"latency": {}, "throughput": [], "paired": {}, "fresh_load": {}}
    batching = (
        "--enable-batching", "--batch-size", str(max(args.clients)), "--batch-timeout-micros",
        str(args.batch_timeout_micros), "--num-batch-threads", "2",
    )  # fmt: skip
    one_batch_thread = (*batching[:-1], "1")  # --num-batch-threads 1: one model call at a time, batches fill up
    SETTINGS.update(
        {
            "_batching": batching,
            "_batching_one_thread": batching + ONE_THREAD,
            "_batching_one_thread_one_batch_thread": one_batch_thread + ONE_THREAD,
        }
    )

    def in_process(_: int) -> None:
        signature(**{INPUT: tensor})

    flat = signature_caller(signature)

    def in_process_flat(_: int) -> None:
        for value in flat({INPUT: image}).values():
            value.numpy()

    # Two ways to call the signature in-process: as a user would (the public call on a ready tensor), and
    # as the server does (the flat call, NumPy in and out). The targets compare with the faster.
    in_process_ways = {"in_process": in_process, "in_process_flat": in_process_flat}
    in_process_runs: dict = {}  # (way, clients) -> cells, one per run
    client_counts = sorted(set(args.clients) | {1})

    def measure_in_process(again: str = "") -> None:
        for way, call in in_process_ways.items():
            for clients in client_counts:
                cell = closed_loop(call, clients, args.seconds)
                in_process_runs.setdefault((way, clients), []).append(cell)
                show(f"{LABELS[way]}, {clients} threads{again}", cell)

    def async_grpc(server: Server, clients: int) -> tuple[list[AsyncServingClient], Callable[[int], Awaitable]]:
        """``clients`` asyncio clients of ``server``, ready; and the call each one makes."""
        connected = [AsyncServingClient(server.target, timeout=60) for _ in range(clients)]
        LOOP.run_until_complete(connected[0].wait_until_ready(MODEL, timeout=120))
        return connected, lambda i: connected[i].predict(MODEL, {INPUT: image}, signature=SIGNATURE)

    def threaded_grpc(server: Server, clients: int) -> tuple[list[ServingClient], Callable[[int], object]]:
        connected = [ServingClient(server.target, timeout=60) for _ in range(clients)]
        connected[0].wait_until_ready(MODEL, timeout=120)
        return connected, lambda i: connected[i].predict(MODEL, {INPUT: image}, signature=SIGNATURE)

    def show(name: str, cell: dict) -> None:
        print(
            f"   {name:34s} p50 {cell['p50_ms']:6.2f} ms  p99 {cell['p99_ms']:6.2f} ms  {cell['per_s']:6.0f}/s"
            f"  errors {cell['errors']}",
            flush=True,
        )

    latency: dict = result["latency"]
    throughput: dict = {}  # (path, clients) -> cell
    top = max(args.clients)
    try:
        print("== batch-1 latency, one client; throughput with 1, 8 and 32 closed-loop clients", flush=True)
        measure_in_process()
        for setting, extra in SETTINGS.items():
            server = Server(serving_root, extra)
            try:
                asynchronous, call = async_grpc(server, top)
                threaded, threaded_call = threaded_grpc(server, top)
                LOOP.run_until_complete(asyncio.gather(*(call(i) for i in range(top))))  # connected, warm
                for i in range(top):
                    threaded_call(i)
                if "batching" not in setting:
                    latency[f"grpc{setting}"] = cell = closed_loop_async(call, 1, args.seconds)
                    show(f"gRPC{setting}", cell)
                    latency[f"grpc_threaded{setting}"] = cell = closed_loop(threaded_call, 1, args.seconds)
                    show(f"gRPC{setting}, ServingClient", cell)
                if setting == "":
                    rest = RestClient(server.rest_url, timeout=60)
                    rest.predict(MODEL, {INPUT: image}, signature=SIGNATURE)
                    latency["rest"] = cell = closed_loop(
                        lambda _, r=rest: r.predict(MODEL, {INPUT: image}, signature=SIGNATURE), 1, args.seconds
                    )
                    show("REST", cell)
                if setting == "" or "batching" in setting:
                    for clients in client_counts:
                        throughput[(f"grpc{setting}", clients)] = cell = closed_loop_async(call, clients, args.seconds)
                        show(f"gRPC{setting}, {clients} clients", cell)
                    throughput[(f"grpc_threaded{setting}", top)] = cell = closed_loop(threaded_call, top, args.seconds)
                    show(f"gRPC{setting}, {top} ServingClient threads", cell)
                for c in asynchronous:
                    LOOP.run_until_complete(c.close())
                for c in threaded:
                    c.close()
            finally:
                server.stop()
        # In-process again, after the servers: the verdicts compare with the better of the two runs, so a noisy
        # first measurement cannot make the server look closer than it is.
        measure_in_process(" (again)")
        for (way, clients), runs in in_process_runs.items():
            better = max(runs, key=lambda c: c["per_s"])
            throughput[(way, clients)] = {**better, "runs_per_s": [c["per_s"] for c in runs]}
            if clients == 1:
                best = min(runs, key=lambda c: c["p50_ms"])
                latency[way] = {**best, "runs_p50_ms": [c["p50_ms"] for c in runs]}
        result["throughput"] = [
            {"path": path, "clients": clients, **cell} for (path, clients), cell in throughput.items()
        ]

        # The sweep picks each target's best server setting and the faster in-process way; paired rounds decide.
        fastest = min(in_process_ways, key=lambda way: latency[way]["p50_ms"])
        floor_way = max(in_process_ways, key=lambda way: throughput[(way, top)]["per_s"])
        best_latency = min((k for k in latency if k.startswith("grpc")), key=lambda k: latency[k]["p50_ms"])
        best_batching = max(BATCHING_PATHS, key=lambda k: throughput[(k, top)]["per_s"])
        result["best"] = {
            "latency": best_latency,
            "batching": best_batching,
            "in_process_latency": fastest,
            "in_process_rate": floor_way,
        }
        print(f"== paired rounds: {args.rounds} x {args.round_seconds:g} s per side, the order alternating", flush=True)
        paired: dict = result["paired"]
        for target, path, way, clients in (
            ("latency", best_latency, fastest, 1),
            ("throughput", best_batching, floor_way, top),
        ):
            threaded_path = path.startswith("grpc_threaded")
            server = Server(serving_root, SETTINGS[path.removeprefix("grpc_threaded" if threaded_path else "grpc")])
            try:
                if threaded_path:
                    connected, call = threaded_grpc(server, clients)
                    remote = functools.partial(closed_loop, call, clients, args.round_seconds)
                    for i in range(clients):
                        call(i)  # connected and warm
                else:
                    connected, call = async_grpc(server, clients)
                    remote = functools.partial(closed_loop_async, call, clients, args.round_seconds)
                    LOOP.run_until_complete(asyncio.gather(*(call(i) for i in range(clients))))
                local = functools.partial(closed_loop, in_process_ways[way], clients, args.round_seconds)
                # One round's worth of load first, not counted: a fresh server is slower in its first seconds
                # (measured: x0.48 in a first round, x0.56-0.68 in the next five), and in-process is warm by now.
                remote()
                rounds = paired_rounds(local, remote, args.rounds)
                for number, pair in enumerate(rounds, 1):
                    a, b = pair["in_process"], pair["server"]
                    if target == "latency":
                        pair["difference_ms"] = b["p50_ms"] - a["p50_ms"]
                        text = f"p50 {a['p50_ms']:.2f} vs {b['p50_ms']:.2f} ms: {pair['difference_ms']:+.2f} ms"
                    else:
                        pair["ratio"] = b["per_s"] / a["per_s"]
                        text = f"{a['per_s']:.0f} vs {b['per_s']:.0f}/s: x{pair['ratio']:.2f}"
                    print(f"   {target} round {number} ({pair['first'].replace('_', '-')} first): {text}", flush=True)
                key = "difference_ms" if target == "latency" else "ratio"
                paired[target] = {
                    "server": path,
                    "in_process": way,
                    "clients": clients,
                    "rounds": rounds,
                    "median": statistics.median(p[key] for p in rounds),
                }
                for c in connected:
                    closing = c.close()
                    if asyncio.iscoroutine(closing):
                        LOOP.run_until_complete(closing)
            finally:
                server.stop()

        print("== first request on a fresh load", flush=True)
        for label, path in (("without_warmup", cold_model), ("with_warmup", model_dir)):
            trials = [fresh_load(path, work, image) for _ in range(args.fresh_loads)]
            cell = {k: statistics.median(t[k] for t in trials) for k in trials[0]}
            cell["trials"] = trials
            result["fresh_load"][label] = cell
            print(
                f"   {label:15s} first {cell['first_ms']:7.1f} ms  second {cell['second_ms']:5.1f} ms"
                f"  (AVAILABLE after {cell['available_s']:.1f} s; median of {args.fresh_loads})",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best, paired = result["best"], result["paired"]
    sweep_latency = latency[best["latency"]]["p50_ms"] - latency[best["in_process_latency"]]["p50_ms"]
    sweep_ratio = throughput[(best["batching"], top)]["per_s"] / throughput[(best["in_process_rate"], top)]["per_s"]
    difference, ratio = paired["latency"]["median"], paired["throughput"]["median"]
    round_cells = [p[side] for target in paired.values() for p in target["rounds"] for side in ("in_process", "server")]
    verdicts = {
        f"gRPC batch-1 p50 <= in-process p50 + {GRPC_P50_MARGIN_MS:g} ms ({LABELS[best['latency']]} vs "
        f"{LABELS[best['in_process_latency']]}: median of {args.rounds} paired rounds {difference:+.2f} ms; "
        f"sweep {sweep_latency:+.2f} ms)": difference <= GRPC_P50_MARGIN_MS,
        f"batching: {top} clients >= {BATCHED_THROUGHPUT_RATIO}x {top} in-process threads "
        f"({LABELS[best['batching']]} vs {LABELS[best['in_process_rate']]}: median of {args.rounds} paired rounds "
        f"x{ratio:.2f}; sweep x{sweep_ratio:.2f})": ratio >= BATCHED_THROUGHPUT_RATIO,
        "zero errors in every cell": all(
            c["errors"] == 0 for c in [*latency.values(), *throughput.values(), *round_cells]
        ),
    }
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    result.update(
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        model=str(model_dir),
        seconds_per_cell=args.seconds,
        round_seconds=args.round_seconds,
        batching=" ".join(batching),
        command="python benchmarks/serving_benchmark.py " + " ".join(sys.argv[1:]),
        verdicts=verdicts,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "serving.md").write_text(markdown(result))
    print(f"wrote {RESULTS / 'serving.json'} and {RESULTS / 'serving.md'}")


LABELS = {
    "in_process": "in-process",
    "in_process_flat": "in-process, flat call",
    "grpc": "gRPC",
    "grpc_threaded": "gRPC, ServingClient",
    "rest": "REST",
    "grpc_one_thread": "gRPC, TF one thread",
    "grpc_threaded_one_thread": "gRPC, TF one thread, ServingClient",
    "grpc_batching": "gRPC + batching",
    "grpc_threaded_batching": "gRPC + batching, ServingClient threads",
    "grpc_batching_one_thread": "gRPC + batching, TF one thread",
    "grpc_threaded_batching_one_thread": "gRPC + batching, TF one thread, ServingClient threads",
    "grpc_batching_one_thread_one_batch_thread": "gRPC + batching, TF one thread, 1 batch thread",
    "grpc_threaded_batching_one_thread_one_batch_thread": (
        "gRPC + batching, TF one thread, 1 batch thread, ServingClient threads"
    ),
}


def markdown(result: dict) -> str:
    """The results as the Markdown page users read."""
    latency, fresh = result["latency"], result["fresh_load"]
    cells = {(r["path"], r["clients"]): r for r in result["throughput"]}
    top = max(c for _, c in cells)
    lines = [
        "# Serving benchmark: development server (gRPC, REST) vs. the signature called in-process",
        "",
        f"MNIST, `{SIGNATURE}`, batch 1. {result['date']}, {result['machine']}, {result['seconds_per_cell']:g} s per "
        f"cell, closed loop; clients and server on the same cores. Command: `{result['command'].strip()}`",
        "",
        "gRPC clients are `AsyncServingClient` coroutines on one event loop unless the row says `ServingClient`"
        " (the threaded client). Server settings: *TF one thread* is "
        f"`{' '.join(ONE_THREAD)}`; *batching* is `{result['batching']}`.",
        "",
        "## Batch-1 latency, one client",
        "",
        "| path | p50 ms | p99 ms | requests | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, c in sorted(latency.items(), key=lambda item: not item[0].startswith("in_process")):  # in-process first
        label = LABELS[name]
        if "runs_p50_ms" in c:
            label += (
                " (the lower p50 of runs before and after the servers: "
                + ", ".join(f"{x:.2f}" for x in c["runs_p50_ms"])
                + ")"
            )
        lines.append(f"| {label} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | {c['requests']} | {c['errors']} |")
    lines += [
        "",
        "In-process: *in-process* is the public call on a ready tensor, as a user would call the signature;"
        " *flat call* is the call the server makes (`serving.signatures.signature_caller`, NumPy in and out)."
        " Each is the better of runs before and after the servers; the targets compare with the faster.",
    ]
    paths = ("grpc", *BATCHING_PATHS)
    ways = ("in_process", "in_process_flat")
    lines += [
        "",
        "## Batch-1 throughput (requests/s) and the ratio to in-process threads",
        "",
        "In-process rates, runs before and after the servers: "
        + "; ".join(
            f"{LABELS[w]} {c}: " + ", ".join(f"{x:.0f}" for x in cells[(w, c)]["runs_per_s"])
            for w in ways
            for c in sorted({c for _, c in cells})
        )
        + ". The ratio is to the faster way.",
        "",
        "| clients | "
        + " | ".join(f"{LABELS[w]} threads" for w in ways)
        + " | "
        + " | ".join(f"{LABELS[p]} | ratio" for p in paths)
        + " | errors |",
        "|---:|" + "---:|" * len(ways) + "---:|---:|" * len(paths) + "---:|",
    ]
    for clients in sorted({c for _, c in cells}):
        floor = max(cells[(w, clients)]["per_s"] for w in ways)
        row = [str(clients)] + [f"{cells[(w, clients)]['per_s']:.0f}" for w in ways]
        errors = sum(cells[(w, clients)]["errors"] for w in ways)
        for path in paths:
            cell = cells[(path, clients)]
            row += [f"{cell['per_s']:.0f}", f"{cell['per_s'] / floor:.2f}"]
            errors += cell["errors"]
        lines.append("| " + " | ".join(row + [str(errors)]) + " |")
    floor = max(cells[(w, top)]["per_s"] for w in ways)
    lines += ["", f"With {top} threads of the threaded `ServingClient` in the benchmark process:", ""]
    for (path, _), cell in cells.items():
        if path.startswith("grpc_threaded"):
            lines.append(
                f"- {LABELS[path]}: {cell['per_s']:.0f}/s (x{cell['per_s'] / floor:.2f}), p50 {cell['p50_ms']:.2f} ms,"
                f" errors {cell['errors']}"
            )
    lines += [
        "",
        "## Paired rounds: the verdicts",
        "",
        "Each target's best server setting in the sweep above against the faster in-process way, back to back,"
        f" {result['round_seconds']:g} s per side, the order alternating; the verdict is the median of the rounds.",
    ]
    for target, entry in result["paired"].items():
        server, local = LABELS[entry["server"]], LABELS[entry["in_process"]]
        if target == "latency":
            lines += ["", f"Batch-1 p50, one client: {server} vs {local}", "", "| round | first | in-process ms"]
            lines[-1] += " | server ms | difference ms | errors |"
        else:
            lines += ["", f"Throughput, {entry['clients']} clients: {server} vs {local} threads", ""]
            lines.append("| round | first | in-process /s | server /s | ratio | errors |")
        lines.append("|---:|---|---:|---:|---:|---:|")
        for number, pair in enumerate(entry["rounds"], 1):
            a, b = pair["in_process"], pair["server"]
            errors = a["errors"] + b["errors"]
            if target == "latency":
                values = f"{a['p50_ms']:.2f} | {b['p50_ms']:.2f} | {pair['difference_ms']:+.2f}"
            else:
                values = f"{a['per_s']:.0f} | {b['per_s']:.0f} | {pair['ratio']:.2f}"
            lines.append(f"| {number} | {pair['first'].replace('_', '-')} | {values} | {errors} |")
        median = f"{entry['median']:+.2f} ms" if target == "latency" else f"x{entry['median']:.2f}"
        lines += ["", f"Median: **{median}**."]
    lines += [
        "",
        "## First request on a fresh load (new server process per trial, median)",
        "",
        "| model | first request ms | second request ms | AVAILABLE after s |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("without_warmup", "without warmup"), ("with_warmup", "with warmup (as pushed)")):
        c = fresh[name]
        lines.append(f"| {label} | {c['first_ms']:.1f} | {c['second_ms']:.1f} | {c['available_s']:.1f} |")
    lines += ["", "## Targets (from the paired rounds; the sweep's own comparison beside each)", ""]
    lines += [f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in result["verdicts"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

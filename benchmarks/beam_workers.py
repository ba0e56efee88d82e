"""Benchmark: the Beam part of the ticket pipeline with 1 worker against N workers (DirectRunner).

Runs TicketExampleGen -> StatisticsGen -> SchemaGen -> Transform (the components that run on
Beam before training) from scratch with ``--direct_running_mode=in_memory`` (1 worker) and
``--direct_running_mode=multi_processing --direct_num_workers=N``, on the same generated tickets,
alternating the two so that drifts in machine load hit both. Checks that both wrote the same
number of examples, prints the wall times and their ratio, and writes
``benchmarks/results/beam_workers.{json,md}``.

    .venv/bin/python benchmarks/beam_workers.py --tickets 50000 --workers 2 --repeats 2
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from pipelines.keras_config import configure_keras  # noqa: E402

configure_keras()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfx import v1 as tfx  # noqa: E402

from components.generator_example_gen import GeneratorExampleGen  # noqa: E402
from pipelines.local_runner import beam_args  # noqa: E402
from pipelines.ticket.config import TicketConfig  # noqa: E402


def beam_stage(tickets: int, root: Path, workers: int) -> tfx.dsl.Pipeline:
    """The Beam components of the ticket pipeline, caching off."""
    data = TicketConfig().data
    example_gen = GeneratorExampleGen(
        "pipelines.ticket.generator",
        num_examples=tickets,
        splits=dict(data.splits),
        seed=data.seed,
        shard_size=data.shard_size,
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="pipelines.ticket.preprocessing.preprocessing_fn",
        splits_config=tfx.proto.SplitsConfig(analyze=[data.train_split], transform=[data.train_split, data.eval_split]),
        disable_statistics=True,
    )
    return tfx.dsl.Pipeline(
        pipeline_name="beam_workers",
        pipeline_root=str(root / "pipeline"),
        components=[example_gen, statistics_gen, schema_gen, transform],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")
        ),
        beam_pipeline_args=beam_args(workers),
        enable_cache=False,
    )


def count_examples(root: Path) -> int:
    """Transformed examples written (train + eval)."""
    import tensorflow as tf

    files = glob.glob(str(root / "pipeline" / "Transform" / "transformed_examples" / "*" / "Split-*" / "*"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def main() -> None:
    """Alternate 1-worker and N-worker runs; print and write the times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    times: dict[int, list[float]] = {1: [], args.workers: []}
    counts: dict[int, int] = {}
    for repeat in range(args.repeats):
        for workers in (1, args.workers):
            with tempfile.TemporaryDirectory(prefix="beam_workers_") as tmp:
                root = Path(tmp)
                start = time.perf_counter()
                tfx.orchestration.LocalDagRunner().run(beam_stage(args.tickets, root, workers))
                seconds = time.perf_counter() - start
                counts[workers] = count_examples(root)
            times[workers].append(seconds)
            print(f"run {repeat + 1}: {workers} worker(s): {seconds:.1f} s, {counts[workers]} examples", flush=True)
    if counts[1] != counts[args.workers]:
        raise SystemExit(f"the runs wrote different numbers of examples: {counts}")
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "tickets": args.tickets,
        "examples_transformed": counts[1],
        "components": ["TicketExampleGen", "StatisticsGen", "SchemaGen", "Transform"],
        "seconds": {str(k): v for k, v in times.items()},
        "median_seconds_1_worker": one,
        f"median_seconds_{args.workers}_workers": many,
        "speedup": one / many,
        "command": f"python benchmarks/beam_workers.py --tickets {args.tickets} --workers {args.workers} "
        f"--repeats {args.repeats}",
    }
    print(f"median: 1 worker {one:.1f} s, {args.workers} workers {many:.1f} s, speed-up x{one / many:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "beam_workers.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "beam_workers.md").write_text(
        "# Beam DirectRunner: 1 worker vs. multi-processing\n\n"
        f"{result['date']}, {result['machine']}. Ticket pipeline's Beam components "
        f"({', '.join(result['components'])}) on {args.tickets:,} tickets, caching off.\n\n"
        "| workers | runs (s) | median (s) |\n|---:|---|---:|\n"
        + "".join(
            f"| {k} | {', '.join(f'{t:.1f}' for t in v)} | {statistics.median(v):.1f} |\n" for k, v in times.items()
        )
        + f"\nSpeed-up with {args.workers} workers: x{one / many:.2f}. Command: `{result['command']}`\n"
    )
    print(f"wrote {RESULTS / 'beam_workers.json'} and {RESULTS / 'beam_workers.md'}")


if __name__ == "__main__":
    main()

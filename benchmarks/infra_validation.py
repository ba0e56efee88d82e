"""How long infra validation takes on a task's pushed model: the InfraValidator's own command, timed.

    .venv/bin/python benchmarks/infra_validation.py --output-dir outputs --task mnist [--baseline-repo DIR]

Takes the newest version under ``<output-dir>/serving/<task>/`` and 16 examples of the eval split the
pipeline wrote, and runs ``python -m serving.validate`` as the InfraValidator does (a separate
process: Python and TensorFlow start-up included; warmup written, the task's contract and latency
budget), ``--rounds`` times. With ``--baseline-repo`` (a checkout of an older commit), the same
command of that checkout runs in alternate rounds on the same model, with the flags it knows.
Prints one JSON line per round and the medians.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _examples(output_dir: str, task: str, split: str, count: int) -> list[bytes]:
    import tensorflow as tf

    pattern = os.path.join(output_dir, "pipelines", task, "*ExampleGen", "examples", "*", f"Split-{split}", "*")
    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"no {split} examples under {output_dir}/pipelines/{task}: run the task's pipeline first")
    return list(tf.data.TFRecordDataset(files[-1:], compression_type="GZIP").take(count).as_numpy_iterator())


def _round(repo: Path, model: str, examples: list[bytes], contract: dict, budget: float, new: bool) -> dict:
    import time

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="infra_bench_") as work:
        shutil.copytree(model, f"{work}/model")
        shutil.rmtree(f"{work}/model/assets.extra", ignore_errors=True)  # as the Trainer leaves it
        with tf.io.TFRecordWriter(f"{work}/requests.tfrecord") as writer:
            for example in examples:
                writer.write(example)
        Path(work, "contract.json").write_text(json.dumps(contract))
        command = [sys.executable, "-m", "serving.validate", "--model-dir", f"{work}/model", "--examples",
                   f"{work}/requests.tfrecord", "--out", f"{work}/report.json", "--write-warmup"]  # fmt: skip
        if new:
            command += ["--contract", f"{work}/contract.json", "--max-latency-ms", str(budget)]
        start = time.monotonic()
        subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
        wall = time.monotonic() - start
        report = json.loads(Path(work, "report.json").read_text())
    return {"repo": str(repo), "wall_s": round(wall, 2), "blessed": report["blessed"],
            "stages_s": report.get("seconds"), "latency_ms": report.get("latency_ms"),
            "checks": len(report.get("checks", []))}  # fmt: skip


def main() -> int:
    """Time the validation; print each round and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="outputs")
    parser.add_argument("--task", default="mnist")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-repo", help="a checkout of an older commit, timed in alternate rounds")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from pipelines import tasks

    spec = tasks.get(args.task)
    config = spec.default_config()
    versions = sorted(glob.glob(os.path.join(args.output_dir, "serving", args.task, "[0-9]*")))
    if not versions:
        raise SystemExit(f"no pushed {args.task} model under {args.output_dir}/serving: run the pipeline first")
    examples = _examples(args.output_dir, args.task, config.data.eval_split, config.infra.num_examples)
    contract = spec.serving(config).output_contract()
    sides = [(ROOT, True)] + ([(Path(args.baseline_repo).resolve(), False)] if args.baseline_repo else [])
    walls: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for repo, new in sides:
            result = _round(repo, versions[-1], examples, contract, config.infra.max_latency_ms, new)
            walls.setdefault(result["repo"], []).append(result["wall_s"])
            print(json.dumps(result), flush=True)
    for repo, values in walls.items():
        print(f"{repo}: median {statistics.median(values):.1f} s over {len(values)} rounds ({values})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

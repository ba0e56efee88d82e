"""What the day-2 checks cost: a task's pipeline over two days, this checkout against an older one, alternating.

    .venv/bin/python benchmarks/day2_checks.py --task penguin --baseline-repo /tmp/old [--rounds 2]
    .venv/bin/python benchmarks/day2_checks.py --task ticket --baseline-repo /tmp/old --set data.num_examples=2000
    .venv/bin/python benchmarks/day2_checks.py --task mnist --baseline-repo /tmp/old --set training.epochs=1

Each round runs ``tfx-keras run TASK --json`` twice in a fresh output folder, as a user's first and
second day, once with this checkout's code and once with the older checkout's (``git worktree add
/tmp/old <commit>``; both use this virtual environment), in alternating order. Day 2 of a file
task is day 1's files as a new span (one row less), so the second run measures drift against the
first; MNIST reads the TFDS data set ``../shared/data/mnist`` imported offline, day 2 with its eval
split one percent larger so that nothing is cached. The day-2 checks (StatisticsGen given the
schema, the drift-baseline and window resolvers reading ML Metadata's lineage, the DataValidator's
new checks) show in the components' seconds and the run's wall time; the medians are written to
``benchmarks/results/day2_checks_<task>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The components the checks changed; the resolvers run inside the orchestrator (in the pipeline run's time).
WATCHED = ("StatisticsGen", "DataValidator")
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
# MNIST's two days: the same TFDS data set, the second day's eval split 1% larger (so ExampleGen runs again).
MNIST_DAYS = {
    1: 'data.splits={"train": "train[:90%]", "eval": "train[90%:]", "test": "test"}',
    2: 'data.splits={"train": "train[:89%]", "eval": "train[89%:]", "test": "test"}',
}


def _mnist_data(work: Path) -> Path:
    """The full MNIST data set imported offline into a TFDS data_dir under ``work`` (once per benchmark)."""
    data_dir = work / "tfds"
    if not (data_dir / "mnist").is_dir():
        if not SHARED_MNIST.is_dir():
            raise SystemExit(f"SKIP: {SHARED_MNIST} does not exist (the MNIST upstream files)")
        subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "data", "import", "mnist", "--source", str(SHARED_MNIST),
             "--data-dir", str(data_dir)],
            check=True, cwd=ROOT, capture_output=True,
        )  # fmt: skip
    return data_dir


def _days(task: str, work: Path, overrides: list[str]) -> Path:
    """Two spans of the task's data under ``work/in``: day 1 and day 2 (the same rows, another span)."""
    base = work / "in"
    if task == "penguin":
        shutil.copytree(ROOT / "pipelines" / "penguin" / "data" / "span-1", base / "span-1")
    else:
        for span in (1, 2):
            subprocess.run(
                [sys.executable, "-m", "pipelines.cli", "data", "generate", task, "--span", str(span), "--out",
                 str(base), *sum((["--set", o] for o in overrides if o.startswith("data.")), [])],
                check=True, cwd=ROOT, capture_output=True,
            )  # fmt: skip
        return base
    first = next((base / "span-1").iterdir())
    (base / "span-2").mkdir()
    # Nearly the same birds as another day (one row less: a content-equal span would be refused).
    lines = first.read_text().splitlines()
    (base / "span-2" / first.name).write_text("\n".join(lines[:-1]) + "\n")
    return base


def _run(repo: Path, task: str, base: Path, out: Path, span: int, overrides: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    if task == "mnist":
        source, day = ["--data-dir", str(base)], MNIST_DAYS[span]
    else:
        source, day = ["--input-base", str(base)], f"data.span={span}"
    sets = sum((["--set", o] for o in [*overrides, day]), [])
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", task, *source, "--output-dir", str(out), "--json", *sets],
        cwd=repo, env=env, capture_output=True, text=True,
    )  # fmt: skip
    start = done.stdout.find("{")
    if start < 0:
        raise SystemExit(f"{repo}: tfx-keras run printed no JSON (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return {**json.loads(done.stdout[start:]), "command_seconds": time.monotonic() - began}


def main(argv: list[str] | None = None) -> int:
    """Run the rounds; print one JSON line per run and the medians; write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="penguin", choices=("penguin", "ticket", "mnist"))
    parser.add_argument("--baseline-repo", help="a checkout of an older commit (git worktree add DIR COMMIT)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="SECTION.FIELD=VALUE")
    args = parser.parse_args(argv)
    overrides = ["training.epochs=5", *args.overrides]
    sides = [("this checkout", ROOT)] + (
        [("baseline", Path(args.baseline_repo).resolve())] if args.baseline_repo else []
    )
    results: dict[str, list[dict]] = {name: [] for name, _ in sides}
    data_home = Path(tempfile.mkdtemp(prefix="day2_bench_data_"))  # MNIST's TFDS data_dir, shared by all runs
    for round_number in range(args.rounds):
        for name, repo in sides if round_number % 2 == 0 else list(reversed(sides)):
            with tempfile.TemporaryDirectory(prefix="day2_bench_") as tmp:
                work = Path(tmp)
                base = _mnist_data(data_home) if args.task == "mnist" else _days(args.task, work, overrides)
                for span in (1, 2):
                    summary = _run(repo, args.task, base, work / "out", span, overrides)
                    row = {
                        "side": name,
                        "day": span,
                        "exit_code": summary["exit_code"],
                        "wall_s": round(summary["wall_seconds"], 1),
                        "command_s": round(summary["command_seconds"], 1),
                        **{node: round(summary["seconds"].get(node, 0.0), 2) for node in WATCHED},
                    }
                    results[name].append(row)
                    print(json.dumps(row), flush=True)
    medians = {
        name: {
            f"day {day}": {
                key: statistics.median(r[key] for r in rows if r["day"] == day)
                for key in ("command_s", "wall_s", *WATCHED)
            }
            for day in (1, 2)
        }
        for name, rows in results.items()
    }
    lines = [
        f"# Day-2 checks: {args.task}, {args.rounds} rounds, medians (seconds)",
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/day2_checks.py', *(argv or sys.argv[1:])])}`",
        "",
        f"| side | day | command | pipeline run | {' | '.join(WATCHED)} |",
        f"|---|---|---|---|{'---|' * len(WATCHED)}",
    ]
    for name, days in medians.items():
        for day, values in days.items():
            lines.append(
                f"| {name} | {day} | {values['command_s']:.1f} | {values['wall_s']:.1f} | "
                + " | ".join(f"{values[k]:.2f}" for k in WATCHED)
                + " |"
            )
    if len(medians) == 2:
        for day in ("day 1", "day 2"):
            new, old = (medians[name][day]["wall_s"] for name, _ in sides)
            lines.append(f"\n{day.capitalize()} pipeline run time, this checkout / baseline: {new / old:.3f}")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results"
    (out / f"day2_checks_{args.task}.md").write_text(text)
    (out / f"day2_checks_{args.task}.json").write_text(json.dumps({"medians": medians, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

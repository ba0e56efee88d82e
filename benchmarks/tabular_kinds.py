"""Benchmark: what the new tabular kinds buy and cost, and the trivial baselines beside each model.

Runs, each on its own fresh output folder, on the same data:

1. the trips test task (``tests/helpers/trips_fixture.py``: bucketized trip length and coordinates,
   their cross, the pickup time's hour/weekday/month, a derived fare per mile; a derived label);
2. the same table declared with numbers and categories only (``tests/helpers/trips_plain_fixture.py``);
3. the shipped ``penguin`` task on its own CSV (it uses none of the new kinds: unchanged).

For each: accuracy and AUC on the eval split (TFMA), the trivial baselines (majority class, best
one-column rule), the Transform and Evaluator seconds, the pipeline's wall time. ``--rounds`` runs
the two trips variants alternately so the time difference is measured in one sitting.
Writes ``benchmarks/results/tabular_kinds.{json,md}``.

    .venv/bin/python benchmarks/tabular_kinds.py --rows 4000 --rounds 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import trips_fixture, trips_plain_fixture  # noqa: E402

from pipelines import tasks  # noqa: E402
from pipelines.config import apply_overrides  # noqa: E402
from pipelines.local_runner import run_pipeline  # noqa: E402


def _run(task: str, overrides: list[str]) -> dict:
    spec = tasks.get(task)
    summary = run_pipeline(spec, apply_overrides(spec.default_config(), overrides), tempfile.mkdtemp(prefix="kinds_"))
    if not summary.succeeded:
        raise SystemExit(f"{task} failed:\n{summary.describe()}")
    trivial = summary.trivial
    return {
        "accuracy": summary.metrics.get("categorical_accuracy"),
        "auc": summary.metrics.get("auc"),
        "blessed": summary.blessed,
        "trivial": dict(trivial.get("baselines", [])),
        "trivial_seconds": trivial.get("seconds"),
        "transform_s": summary.seconds.get("Transform"),
        "evaluator_s": summary.seconds.get("Evaluator"),
        "wall_s": sum(v for v in summary.seconds.values() if v),
    }


def main() -> None:
    """Run the variants, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4000, help="trips rows (span 1)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two trips variants")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="trips_data_"))
    trips_fixture.write_span(data / "span-1", trips_fixture.rows(args.rows))
    runs: dict[str, list[dict]] = {"trips (new kinds)": [], "trips (numbers and categories)": []}
    modules = {
        "trips (new kinds)": trips_fixture.__name__,
        "trips (numbers and categories)": trips_plain_fixture.__name__,
    }
    for i in range(args.rounds):
        order = list(modules) if i % 2 == 0 else list(reversed(modules))
        for name in order:
            runs[name].append(_run(modules[name], [f"data.input_base={data}"]))
            print(name, runs[name][-1], flush=True)
    runs["penguin (shipped)"] = [_run("penguin", [])]
    print("penguin", runs["penguin (shipped)"][-1], flush=True)

    def median(name: str, key: str) -> float:
        values = [r[key] for r in runs[name] if r[key] is not None]
        return statistics.median(values) if values else float("nan")

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# The new tabular kinds: what they buy and cost",
        "",
        f"Measured {when} on {platform.platform()} ({os.cpu_count()} cores) with `.venv/bin/python "
        f"benchmarks/tabular_kinds.py --rows {args.rows} --rounds {args.rounds}` (medians of the rounds; eval split).",
        "",
        "| task | accuracy | AUC | majority class | best one-column rule | blessed | Transform s | Evaluator s "
        "(trivial baselines s) | components s (sum) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        trivial = results[-1]["trivial"]
        majority = next((f"{v:.4f}" for k, v in trivial.items() if k.startswith("majority")), "")
        rule = next((f"{k}: {v:.4f}" for k, v in trivial.items() if not k.startswith("majority")), "")
        lines.append(
            f"| {name} | {median(name, 'accuracy'):.4f} | {median(name, 'auc'):.4f} | {majority} | {rule} | "
            f"{results[-1]['blessed']} | {median(name, 'transform_s'):.1f} | {median(name, 'evaluator_s'):.1f} "
            f"({median(name, 'trivial_seconds'):.1f}) | {median(name, 'wall_s'):.1f} |"
        )
    out = ROOT / "benchmarks" / "results"
    (out / "tabular_kinds.md").write_text("\n".join(lines) + "\n")
    (out / "tabular_kinds.json").write_text(json.dumps({"when": when, "rows": args.rows, "runs": runs}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

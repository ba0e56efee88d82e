"""The day-2 story of the ticket task at full size: four runs into one output directory.

1. span 1 -> trained and pushed;
2. span 2 with a new product line (benign drift) -> drift measured, retrained on the last
   ``--window`` spans, compared with span 1's model, pushed if better;
3. span 3 from a broken export -> stopped at validation, nothing trained or pushed;
4. span 3 fixed -> validated against span 2 and run to the end.

For each run it records what ran, the drift scores against their thresholds, the ideal predictor's
ceiling on the span's evaluation and test splits, and the pushed model's department accuracy and
priority RMSE on the span's held-out test split (through ``serving_raw``). Results go to
``benchmarks/results/continuous_training.{json,md}``.

    .venv/bin/python benchmarks/continuous_training.py                 # 50,000 tickets per span (the default)
    .venv/bin/python benchmarks/continuous_training.py --tickets 5000  # a quicker look
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from pipelines.keras_config import configure_keras  # noqa: E402

configure_keras()


def test_scores(model_dir: str, seed: int, span: int, drift: str, tickets: int, splits: dict) -> dict[str, float]:
    """The pushed model's department accuracy and priority RMSE on the span's test tickets."""
    from ticket_scores import score_saved_model

    from common.splits import split_ranges
    from pipelines.ticket import generator

    start, end = split_ranges(tickets, splits)["test"]
    rows = [generator.make_record(seed, i, {"span": span, "drift": drift}) for i in range(start, end)]
    return score_saved_model(model_dir, rows)


def main() -> None:
    """Run the four days and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=None, help="tickets per span (default: the config's)")
    parser.add_argument("--window", type=int, default=2, help="spans to train on (data.window_spans)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    args = parser.parse_args()

    from pipelines import tasks
    from pipelines.config import apply_overrides
    from pipelines.local_runner import run_pipeline

    spec = tasks.get("ticket")
    common = [f"data.window_spans={args.window}"]
    if args.tickets:
        common.append(f"data.num_examples={args.tickets}")
    if args.epochs:
        common.append(f"training.epochs={args.epochs}")
    days = [
        ("span 1", 1, "none"),
        ("span 2, new product line", 2, "new_product_line"),
        ("span 3, broken export", 3, "broken_export"),
        ("span 3, fixed", 3, "new_product_line"),
    ]
    work = Path(tempfile.mkdtemp(prefix="day2_"))
    rows = []
    try:
        for label, span, drift in days:
            config = apply_overrides(spec.default_config(), [*common, f"data.span={span}", f"data.drift={drift}"])
            print(f"== {label}", flush=True)
            start = time.time()
            summary = run_pipeline(spec, config, str(work), printer=lambda line: print("   " + line, flush=True))
            row = {
                "day": label,
                "span": span,
                "drift_kind": drift,
                "wall_seconds": round(time.time() - start, 1),
                "components": summary.components,
                "stopped_at": summary.failure.component if summary.failure else None,
                "anomalies": summary.failure.details[:-2] if summary.failure else [],
                "drift": summary.drift,
                "ceiling": summary.ceiling,
                "tfma": {k: v for k, v in summary.metrics.items() if not k.endswith("_diff")},
                "blessed": summary.blessed,
                "pushed": summary.pushed,
            }
            if summary.pushed:
                data = config.data
                row["pushed_model_test"] = test_scores(
                    summary.pushed_destination, data.seed, span, drift, data.num_examples, dict(data.splits)
                )
            rows.append(row)
            print(summary.describe(), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "tickets_per_span": rows and apply_overrides(spec.default_config(), common).data.num_examples,
        "window_spans": args.window,
        "days": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "continuous_training.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "| day | outcome | drift: department L∞ / body L∞ / priority JSD (thresholds 0.25 / 0.1 / 0.1) "
        "| ceiling (test): department accuracy, priority RMSE "
        "| pushed model (test): department accuracy, priority RMSE |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        drift = {d["feature"]: d["value"] for d in row["drift"]}
        shown = " / ".join(f"{drift[f]:.3f}" if f in drift else "-" for f in ("department", "body", "priority"))
        if row["stopped_at"]:
            shown = "stopped before measuring: see the anomalies" if not drift else shown
        ceiling = row["ceiling"].get("test", {})
        outcome = (
            f"stopped at {row['stopped_at']} ({len(row['anomalies'])} anomalies)"
            if row["stopped_at"]
            else ("pushed" if row["pushed"] else "not pushed (not better)")
        )
        test = row.get("pushed_model_test")
        lines.append(
            f"| {row['day']} | {outcome} | {shown} | "
            + (f"{ceiling['department_accuracy']:.4f}, {ceiling['priority_rmse']:.4f}" if ceiling else "-")
            + " | "
            + (f"{test['department_accuracy']:.4f}, {test['priority_rmse']:.4f}" if test else "-")
            + " |"
        )
    table = "\n".join(lines) + "\n"
    (RESULTS / "continuous_training.md").write_text(
        f"Continuous training, {result['date']}, {result['machine']}: {result['tickets_per_span']:,} tickets per "
        f"span, training on the last {args.window} spans\n\n{table}"
    )
    print()
    print(table)


if __name__ == "__main__":
    main()

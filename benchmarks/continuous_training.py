"""The day-2 story of the ticket task at full size, on files: a span folder lands each day, one run per day.

Each day writes one CSV file into the input folder as ``tfx-keras data generate ticket --span N``
does (``span-<N>/ticket-<N>.csv``), then runs ``tfx-keras run ticket --input-base DIR`` on the
latest span, into one output directory:

1. span 1 -> trained and pushed;
2. span 2 with a new product line (benign drift) -> drift measured, retrained on the last
   ``--window`` spans, compared with span 1's model, pushed if better;
3. span 3 from a broken export -> stopped at validation, nothing trained or pushed;
4. span 3 fixed (the export delivered again into the same folder) -> read again, validated against
   span 2 and run to the end.

For each run it records what ran, the drift scores against their thresholds, and, on the span's
held-out test split as the ExampleGen cut it from the file, the ideal predictor's ceiling and the
pushed model's department accuracy and priority RMSE (through ``serving_raw``). Results go to
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


def test_tickets(output_dir: Path, drift: str) -> list[dict]:
    """The tickets of the latest ExampleGen execution's test split (read back from its tf.Examples)."""
    import glob

    import tensorflow as tf

    examples = Path(output_dir) / "pipelines" / "ticket" / "CsvExampleGen" / "examples"
    latest = max(examples.iterdir(), key=lambda p: int(p.name))
    tickets = []
    for path in sorted(glob.glob(str(latest / "Split-test" / "*"))):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            feature = tf.train.Example.FromString(record.numpy()).features.feature

            def text(name: str, feature: object = feature) -> list[str]:
                return [v.decode() for v in feature[name].bytes_list.value] if name in feature else []

            tickets.append(
                {
                    "title": text("title")[0],
                    "body": text("body")[0],
                    "tags": text("tags"),
                    "department": text("department")[0],
                    "difficulty": text("difficulty")[0],
                    "priority": float(feature["priority"].float_list.value[0]),
                    "drift": drift,  # which words the ideal predictor knows
                }
            )
    return tickets


def ideal_scores(tickets: list[dict]) -> dict[str, float]:
    """The ideal predictor's scores on ``tickets`` (it knows the labelling rule)."""
    from pipelines.ticket import generator

    summary = generator.Summary()
    for ticket in tickets:
        summary.add(ticket)
    return summary.report()


def main() -> None:
    """Run the four days and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=None, help="tickets per span (default: the config's)")
    parser.add_argument("--window", type=int, default=2, help="spans to train on (data.window_spans)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    args = parser.parse_args()

    from ticket_scores import score_saved_model

    from pipelines import tasks
    from pipelines.config import apply_overrides
    from pipelines.datagen import write_span
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
    inbox = work / "input"
    rows = []
    try:
        for label, span, drift in days:
            export = apply_overrides(spec.default_config(), [*common, f"data.span={span}", f"data.drift={drift}"])
            path = write_span(spec, export, str(inbox), "csv", overwrite=True)
            print(f"== {label}: {path}", flush=True)
            config = apply_overrides(spec.default_config(), [*common, f"data.input_base={inbox}"])
            start = time.time()
            summary = run_pipeline(
                spec, config, str(work / "out"), printer=lambda line: print("   " + line, flush=True)
            )
            row = {
                "day": label,
                "span": span,
                "drift_kind": drift,
                "wall_seconds": round(time.time() - start, 1),
                "components": summary.components,
                "stopped_at": summary.failure.component if summary.failure else None,
                "anomalies": summary.failure.details[:-2] if summary.failure else [],
                "drift": summary.drift,
                "trained_on_spans": summary.trained_on_spans,
                "tfma": {k: v for k, v in summary.metrics.items() if not k.endswith("_diff")},
                "blessed": summary.blessed,
                "pushed": summary.pushed,
            }
            tickets = test_tickets(work / "out", drift) if summary.components.get("CsvExampleGen") else []
            row["ceiling"] = {"test": ideal_scores(tickets)} if tickets else {}
            if summary.pushed:
                row["pushed_model_test"] = score_saved_model(summary.pushed_destination, tickets)
            rows.append(row)
            print(summary.describe(), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "tickets_per_span": rows and apply_overrides(spec.default_config(), common).data.num_examples,
        "input": "one CSV file per span, span-<N>/ticket-<N>.csv, read by CsvExampleGen (the latest span)",
        "window_spans": args.window,
        "days": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "continuous_training.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "| day | outcome | trained on spans "
        "| drift: department L∞ / body L∞ / priority JSD (thresholds 0.25 / 0.1 / 0.1) "
        "| ceiling (test): department accuracy, priority RMSE "
        "| pushed model (test): department accuracy, priority RMSE |",
        "|---|---|---|---|---|---|",
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
        trained = ", ".join(map(str, row["trained_on_spans"])) or "-"
        lines.append(
            f"| {row['day']} | {outcome} | {trained} | {shown} | "
            + (f"{ceiling['department_accuracy']:.4f}, {ceiling['priority_rmse']:.4f}" if ceiling else "-")
            + " | "
            + (f"{test['department_accuracy']:.4f}, {test['priority_rmse']:.4f}" if test else "-")
            + " |"
        )
    table = "\n".join(lines) + "\n"
    (RESULTS / "continuous_training.md").write_text(
        f"Continuous training on files, {result['date']}, {result['machine']}: {result['tickets_per_span']:,} "
        f"tickets per span (one CSV file each), training on the last {args.window} spans\n\n"
        f"Command: `.venv/bin/python benchmarks/continuous_training.py`\n\n{table}"
    )
    print()
    print(table)


if __name__ == "__main__":
    main()

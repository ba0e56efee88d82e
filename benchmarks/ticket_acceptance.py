"""Acceptance run of the ticket pipeline: the pushed model against the generator's ceiling.

Runs ``tfx-keras run ticket`` from scratch (default: 50,000 tickets, splits
train 70% / eval 10% / test 20%), loads the *pushed* SavedModel and scores
it on the held-out ``test`` split (10,000 tickets that no component trained
or selected on), re-generated from the same seed, through the ``serving_raw``
signature (plain text and tags). It compares the department accuracy and the
priority RMSE with those of the ideal predictor that knows the labelling rule
(the ceiling the ExampleGen reports), and writes
``benchmarks/results/ticket.{json,md}``.

Targets: department accuracy within 2 percentage points of the ceiling,
priority RMSE within 10% of the ideal predictor's.

    .venv/bin/python benchmarks/ticket_acceptance.py [--num-examples 50000] [--epochs 10]
    .venv/bin/python benchmarks/ticket_acceptance.py --set model.api=subclassed --name ticket_subclassed
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    """Run the pipeline, score the pushed model on the test split, compare with the ceiling."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-examples", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="config override")
    parser.add_argument("--name", default="ticket", help="results file stem (benchmarks/results/NAME.{json,md})")
    args = parser.parse_args()

    from pipelines.keras_config import configure_keras

    configure_keras()

    from ticket_scores import score_saved_model

    from common.splits import split_ranges
    from components.generator_example_gen.executor import read_summary
    from pipelines.ticket import generator
    from pipelines.ticket.config import TicketConfig

    config = TicketConfig()
    cli = str(Path(sys.executable).parent / "tfx-keras")
    work = Path(tempfile.mkdtemp(prefix="ticket_accept_"))
    cmd = [
        cli,
        "run",
        "ticket",
        "--output-dir",
        str(work),
        "--workers",
        str(args.workers),
        "--json",
        "--set",
        f"data.num_examples={args.num_examples}",
        *(arg for override in args.set for arg in ("--set", override)),
    ] + (["--epochs", str(args.epochs)] if args.epochs else [])
    print("$ " + " ".join(cmd), flush=True)
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - start
    for line in proc.stdout.splitlines():
        if line.startswith(("[pipeline]", "[trainer] epoch", "[trainer] eval")):
            print("   " + line, flush=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit("the pipeline failed")
    summary = json.loads(proc.stdout[proc.stdout.rindex("\n{") + 1 :])
    if not summary["pushed"]:
        raise SystemExit(f"no model was pushed: {json.dumps(summary, indent=2)}")
    examples = sorted((work / "pipelines" / "ticket" / "GeneratorExampleGen" / "examples").iterdir())[-1]
    ceiling = read_summary(str(examples))["test"]

    start_i, end_i = split_ranges(args.num_examples, config.data.splits)["test"]
    tickets = [generator.make_ticket(config.data.seed, i) for i in range(start_i, end_i)]
    scores = score_saved_model(summary["pushed_destination"], tickets)
    accuracy, rmse = scores["department_accuracy"], scores["priority_rmse"]
    history = json.loads((Path(summary["artifacts"]["report"]).parent / "history.json").read_text())
    report_copy = RESULTS / f"{args.name}_report"
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(report_copy, ignore_errors=True)
    shutil.copytree(summary["artifacts"]["report"], report_copy)
    shutil.rmtree(work, ignore_errors=True)

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "num_examples": args.num_examples,
        "overrides": args.set,
        "test_examples": len(tickets),
        "wall_seconds": round(wall, 1),
        "epochs_run": history["epochs_run"],
        "department_accuracy": accuracy,
        "department_accuracy_ceiling": ceiling["department_accuracy"],
        "department_gap_points": round(100 * (ceiling["department_accuracy"] - accuracy), 2),
        "priority_rmse": rmse,
        "priority_rmse_ideal": ceiling["priority_rmse"],
        "priority_rmse_ratio": round(rmse / ceiling["priority_rmse"], 3),
        "targets_met": bool(
            ceiling["department_accuracy"] - accuracy <= 0.02 and rmse <= 1.10 * ceiling["priority_rmse"]
        ),
        "tfma_eval_metrics": summary["metrics"],
    }
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = (
        f"| ticket, {len(tickets):,} held-out tickets | pushed model | ideal predictor (ceiling) | target |\n"
        "|---|---|---|---|\n"
        f"| department accuracy | {accuracy:.4f} | {ceiling['department_accuracy']:.4f} | within 2 points "
        f"({result['department_gap_points']:+.2f}) |\n"
        f"| priority RMSE | {rmse:.4f} | {ceiling['priority_rmse']:.4f} | "
        f"within 10% (x{result['priority_rmse_ratio']}) |\n"
    )
    settings = f" ({', '.join(args.set)})" if args.set else ""
    (RESULTS / f"{args.name}.md").write_text(
        f"Ticket acceptance{settings}, {result['date']}, {result['machine']}: {args.num_examples:,} tickets, "
        f"{history['epochs_run']} epochs, pipeline wall time {wall:.0f} s\n\n{table}"
    )
    print()
    print(table)
    print(f"targets met: {result['targets_met']}; written {RESULTS / f'{args.name}.json'}")


if __name__ == "__main__":
    main()

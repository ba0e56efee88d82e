"""TFX's own penguin example and this project's ``penguin`` task, on the same data and machine, one after the other.

TFX's side is ``tfx/examples/penguin/penguin_pipeline_local.py`` as installed with the ``tfx``
package: its ``create_pipeline`` with its module file ``penguin_utils_keras.py``, the arguments of
its ``__main__`` (DirectRunner in multi-processing mode, the BulkInferrer on the unlabelled rows),
except two that do not run on this stack: ``TF_USE_LEGACY_KERAS=1`` (under Keras 3 its Evaluator
cannot find the model's variables) and ``enable_tuning=False`` (KerasTuner 1.4 refuses tf-keras
models). Ours is ``tfx-keras run penguin --input-base DIR`` with the same CSV as span 1: curated
schema, DataValidator with a drift check, TFMA, infra validation over gRPC and REST, atomic push.

Each side runs in its own process; the benchmark records the process's wall time, the pipeline's
per-component times from its ML Metadata, and the held-out accuracy of the pushed model: on the
rows its own Trainer never saw (TFX: its eval split, hash 2:1; ours: the test split, hash 15%), and
both models on the rows neither saw. Results go to ``benchmarks/results/penguin.{json,md}``.

    .venv/bin/python benchmarks/penguin_side_by_side.py                    # data: ../shared/data/penguin
    .venv/bin/python benchmarks/penguin_side_by_side.py --data DIR         # DIR/labelled/, DIR/unlabelled/

Long because a benchmark a user runs as one file: both sides, their timing and the report.
"""

from __future__ import annotations

import argparse
import datetime
import glob
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
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "penguin"
FEATURES = ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")


# Beam arguments for TFX's example: its own (__main__'s DirectRunner, one process per core), and the
# in-process DirectRunner that `tfx-keras run` uses, to tell Beam's start-up from the rest.
TFX_BEAM = {"shipped": None, "in_process": ["--direct_running_mode=in_memory", "--direct_num_workers=1"]}


def run_tfx_example(data_root: str, work: str, beam: str) -> None:
    """TFX's example pipeline (run in a child process with TF_USE_LEGACY_KERAS=1 set before TensorFlow loads)."""
    import absl
    from tfx import v1 as tfx
    from tfx.examples.penguin import penguin_pipeline_local as example

    absl.logging.set_verbosity(absl.logging.WARNING)
    module_file = os.path.join(os.path.dirname(example.__file__), "penguin_utils_keras.py")
    name = "penguin_local_keras"
    pipeline = example.create_pipeline(
        pipeline_name=name,
        pipeline_root=os.path.join(work, "pipelines", name),
        data_root=data_root,
        module_file=module_file,
        accuracy_threshold=0.6,
        serving_model_dir=os.path.join(work, "serving_model", name),
        metadata_path=os.path.join(work, "metadata.db"),
        user_provided_schema_path=None,
        enable_tuning=False,  # KerasTuner 1.4 refuses tf-keras models
        enable_bulk_inferrer=True,
        examplegen_input_config=None,
        examplegen_range_config_date=None,
        resolver_range_config=None,
        beam_pipeline_args=TFX_BEAM[beam] or example._beam_pipeline_args_by_runner["DirectRunner"],  # noqa: SLF001
        enable_transform_input_cache=True,
        enable_example_diff=False,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def component_seconds(metadata_path: str) -> dict[str, float]:
    """Each component's execution time (ML Metadata timestamps) in the only run of the database."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    nodes = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
    seconds = {}
    for execution in store.get_executions():
        if execution.last_known_state not in (
            metadata_store_pb2.Execution.COMPLETE,
            metadata_store_pb2.Execution.CACHED,
        ):
            continue
        node = next((nodes[c.id] for c in store.get_contexts_by_execution(execution.id) if c.id in nodes), "?")
        seconds[node] = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    return seconds


def split_examples(pipeline_root: Path, component: str, split: str) -> list[bytes]:
    """The serialized examples of one split of an ExampleGen's output."""
    import tensorflow as tf

    files = sorted(glob.glob(str(pipeline_root / component / "examples" / "*" / f"Split-{split}" / "*")))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def key(example: bytes) -> tuple:
    """A row's identity: its four measurements and species."""
    import tensorflow as tf

    feature = tf.train.Example.FromString(example).features.feature
    return (*(round(feature[f].float_list.value[0], 6) for f in FEATURES), feature["species"].int64_list.value[0])


def accuracy(model_dir: str, examples: list[bytes]) -> float:
    """Accuracy of a pushed model's ``serving_default`` (serialized tf.Examples in) on labelled examples."""
    import numpy as np
    import tensorflow as tf

    if not examples:
        return float("nan")
    out = tf.saved_model.load(model_dir).signatures["serving_default"](examples=tf.constant(examples))
    scores = out["probabilities"] if "probabilities" in out else next(iter(out.values()))
    truth = np.array([key(e)[-1] for e in examples])
    return float(np.mean(scores.numpy().argmax(axis=-1) == truth))


def pushed_model(serving_dir: Path) -> str:
    """The newest version folder under a model's serving directory."""
    versions = [p for p in serving_dir.iterdir() if p.name.isdigit()]
    return str(max(versions, key=lambda p: int(p.name)))


def timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Run ``command``; its output goes to ``log``. Returns (wall seconds, exit code)."""
    start = time.time()
    with open(log, "w") as out:
        code = subprocess.call(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))
    return time.time() - start, code


def main() -> int:
    """Run both pipelines, score both models, write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder with labelled/ and unlabelled/ CSVs")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    parser.add_argument("--tfx-child", nargs=3, metavar=("DATA", "WORK", "BEAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tfx_child:
        run_tfx_example(*args.tfx_child)
        return 0
    data = Path(args.data)
    labelled = data / "labelled" / "penguins_processed.csv"
    if not labelled.is_file() or not (data / "unlabelled").is_dir():
        print(f"error: {labelled} (and {data / 'unlabelled'}/) not found: give --data DIR with TFX's penguin data")
        return 2
    work = Path(tempfile.mkdtemp(prefix="penguin_side_by_side_"))
    try:
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        tfx_env = {**env, "TF_USE_LEGACY_KERAS": "1"}
        tfx_runs = {}
        for beam in TFX_BEAM:
            print(f"[bench] TFX's penguin example, Beam {beam} ...", flush=True)
            folder = work / f"tfx_{beam}"
            seconds, code = timed(
                [sys.executable, __file__, "--tfx-child", str(data), str(folder), beam],
                tfx_env,
                work / f"tfx_{beam}.log",
            )
            if code:
                print(f"error: TFX's example failed (exit {code}); see {work / f'tfx_{beam}.log'}")
                return 1
            log = (work / f"tfx_{beam}.log").read_text(errors="replace")
            wheels = {"built": log.count("running bdist_wheel"), "installed": log.count("Successfully installed")}
            tfx_runs[beam] = (folder, seconds, wheels)
        inbox = work / "ours_input" / "span-1"
        inbox.mkdir(parents=True)
        shutil.copy(labelled, inbox / labelled.name)
        print("[bench] tfx-keras run penguin ...", flush=True)
        tfx_keras = str(Path(sys.executable).parent / "tfx-keras")
        command = [tfx_keras, "run", "penguin", "--input-base", str(inbox.parent), "--output-dir", str(work / "ours")]
        ours_seconds, code = timed(command, env, work / "ours.log")
        if code:
            print(f"error: tfx-keras run penguin failed (exit {code}); see {work / 'ours.log'}")
            return 1
        ours_root = work / "ours" / "pipelines" / "penguin"
        ours_held_out = split_examples(ours_root, "CsvExampleGen", "test")
        ours_model = pushed_model(work / "ours" / "serving" / "penguin")
        result = {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "data": str(labelled),
            "ours": {
                "process_seconds": round(ours_seconds, 1),
                "components": component_seconds(str(work / "ours" / "metadata" / "penguin.sqlite")),
                "held_out": {"rows": len(ours_held_out), "accuracy": accuracy(ours_model, ours_held_out)},
            },
        }
        for beam, (folder, seconds, wheels) in tfx_runs.items():
            tfx_root = folder / "pipelines" / "penguin_local_keras"
            held_out = split_examples(tfx_root, "CsvExampleGen", "eval")
            trained = {key(e) for e in split_examples(tfx_root, "CsvExampleGen", "train")}
            common = [e for e in ours_held_out if key(e) not in trained]  # our test rows TFX did not train on
            model = pushed_model(folder / "serving_model" / "penguin_local_keras")
            result[f"tfx_{beam}"] = {
                "process_seconds": round(seconds, 1),
                "module_file_wheels": wheels,
                "components": component_seconds(str(folder / "metadata.db")),
                "held_out": {"rows": len(held_out), "accuracy": accuracy(model, held_out)},
                "rows_neither_saw": {
                    "rows": len(common),
                    "tfx_accuracy": accuracy(model, common),
                    "ours_accuracy": accuracy(ours_model, common),
                },
            }
    finally:
        if args.keep:
            print(f"[bench] work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "penguin.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (RESULTS / "penguin.md").write_text(table)
    print(table)
    return 0


def markdown(result: dict) -> str:
    """The side-by-side table: seconds per component, process totals, held-out accuracy."""
    sides = [
        ("TFX's example, as shipped", result["tfx_shipped"]),
        ("TFX's example, Beam in-process", result["tfx_in_process"]),
    ]
    sides.append(("ours", result["ours"]))
    pairs = [
        ("CsvExampleGen", "CsvExampleGen"),
        ("StatisticsGen", "StatisticsGen"),
        ("SchemaGen (inferred)", "SchemaGen"),
        ("ImportSchemaGen (curated)", "ImportSchemaGen"),
        ("DataValidator (schema + drift)", "DataValidator"),
        ("Transform", "Transform"),
        ("Trainer", "Trainer"),
        ("Evaluator", "Evaluator"),
        ("InfraValidator (gRPC + REST)", "InfraValidator"),
        ("Pusher", "Pusher"),
        ("AtomicPusher", "AtomicPusher"),
        ("CsvExampleGen_Unlabelled", "CsvExampleGen_Unlabelled"),
        ("BulkInferrer", "BulkInferrer"),
    ]
    named = {node for _, node in pairs}

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"TFX's penguin example vs the `penguin` task, {result['date']}, {result['machine']}, same CSV "
        f"({Path(result['data']).name}, 334 rows), one after the other, each in its own process.",
        "",
        "Command: `.venv/bin/python benchmarks/penguin_side_by_side.py`",
        "",
        "| seconds | " + " | ".join(name for name, _ in sides) + " |",
        "|---|" + "---:|" * len(sides),
    ]
    for label, node in pairs:
        values = [side["components"].get(node) for _, side in sides]
        if any(v is not None for v in values):
            lines.append(f"| {label} | " + " | ".join(cell(v) for v in values) + " |")
    others = [sum(v for k, v in side["components"].items() if k not in named) for _, side in sides]
    lines.append("| resolvers and other nodes | " + " | ".join(cell(v) for v in others) + " |")
    totals = [sum(side["components"].values()) for _, side in sides]
    lines.append("| **components, total** | " + " | ".join(f"**{v:.1f}**" for v in totals) + " |")
    lines.append(
        "| **process (start to exit)** | " + " | ".join(f"**{s['process_seconds']:.1f}**" for _, s in sides) + " |"
    )
    lines.append(
        "| held-out accuracy (rows its Trainer never saw) | "
        + " | ".join(f"{s['held_out']['accuracy']:.4f} ({s['held_out']['rows']} rows)" for _, s in sides)
        + " |"
    )
    common = result["tfx_shipped"]["rows_neither_saw"]
    lines.append(
        f"| accuracy on our test rows TFX did not train on ({common['rows']}) | {common['tfx_accuracy']:.4f} "
        f"| {result['tfx_in_process']['rows_neither_saw']['tfx_accuracy']:.4f} | {common['ours_accuracy']:.4f} |"
    )
    shipped = result["ours"]["process_seconds"] / result["tfx_shipped"]["process_seconds"]
    in_process = result["ours"]["process_seconds"] / result["tfx_in_process"]["process_seconds"]
    verdict = "met" if max(shipped, in_process) <= 1.0 else "missed"
    wheels = result["tfx_in_process"]["module_file_wheels"]
    lines += [
        "",
        f"Target (ours no slower than TFX's own, process wall time): **{verdict}**: x{shipped:.2f} of TFX's example "
        f"as shipped, x{in_process:.2f} of it with the same in-process Beam as ours.",
        "",
        "Held-out rows: TFX's eval split (hash 2:1), our test split (hash 15%, used by no component).",
        "",
        "Where the seconds go:",
        "",
        f"* Beam's multi-processing DirectRunner, which TFX's example asks for, starts worker processes in each "
        f"Beam component: {totals[0] - totals[1]:.0f} s of its {totals[0]:.0f} s of components (the two TFX "
        "columns differ only in that).",
        f"* TFX's example builds its module file into a wheel ({wheels['built']} times) and pip-installs it "
        f"({wheels['installed']} times) for the "
        "components that use it (Transform, Trainer); each install takes ~1.7 s here. Ours imports the installed "
        "package by dotted path.",
        "* TFX's example also runs a second ExampleGen and the BulkInferrer on the unlabelled rows; ours runs the "
        "DataValidator (curated schema, drift against the last validated span) and the InfraValidator (the "
        "candidate served from a sealed copy and asked over gRPC and REST), which TFX's example does not.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

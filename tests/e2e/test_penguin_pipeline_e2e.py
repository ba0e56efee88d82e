"""The penguin task end to end: TFX's penguin CSV as span 1, held-out accuracy, both signatures, a skewed span 2.

The data is TFX's own ``penguins_processed.csv`` (the copy in ``pipelines/penguin/data/``, the same
file as ``../shared/data/penguin/labelled/``). Span 2 is that file with TFX's skew: the one value
TFX's ``skewed/penguins_processed.csv`` changes (a culmen length of -1).
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.data import penguin_rows, write_penguin_span

from e2e.conftest import PENGUIN_RUN
from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.local_runner import run_pipeline
from pipelines.run_summary import RunSummary

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("pipelines")]  # see pytest.ini
MEASUREMENTS = ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")


def _split(output_dir: Path, split: str) -> list[bytes]:
    files = glob.glob(
        str(output_dir / "pipelines" / "penguin" / "CsvExampleGen" / "examples" / "*" / f"Split-{split}" / "*")
    )
    return [r.numpy() for r in tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")]


def test_every_component_ran_and_the_model_was_pushed(penguin_run: tuple) -> None:
    summary, output_dir, _ = penguin_run
    assert summary.succeeded and summary.blessed and summary.infra_blessed and summary.pushed, summary.describe()
    assert summary.span == 1 and "input: 334 rows from 1 csv file(s)" in summary.describe()
    assert summary.metrics["categorical_accuracy"] >= 0.9 and {"auc", "recall"} <= set(summary.metrics)
    report = Path(summary.artifacts["report"])
    for name in ("model.png", "training_curves.png", "confusion_matrix.png", "per_class_accuracy.png"):
        assert (report / name).stat().st_size > 1000, name
    from common.contract import RAW_SIGNATURE, SERVING_PROMISE_FILE

    promise = json.loads(Path(summary.pushed_destination, SERVING_PROMISE_FILE).read_text())  # for a by-hand check
    assert promise["max_latency_ms"] == 500.0 and "probabilities" in promise["outputs"][RAW_SIGNATURE]


def test_held_out_accuracy_and_both_signatures_agree(penguin_run: tuple) -> None:
    summary, output_dir, _ = penguin_run
    model = tf.saved_model.load(summary.pushed_destination)
    assert {"serving_default", "serving_raw", "classification", "transform_features"} <= set(model.signatures)
    test = _split(output_dir, "test")
    assert 30 <= len(test) <= 80  # 15% of 334 rows by hash, never seen by the Trainer or the Evaluator
    parsed = [tf.train.Example.FromString(e).features.feature for e in test]
    species = np.array([f["species"].int64_list.value[0] for f in parsed])
    served = model.signatures["serving_default"](examples=tf.constant(test))
    accuracy = float(np.mean(served["class_ids"].numpy() == species))
    assert accuracy >= 0.95, accuracy
    raw = model.signatures["serving_raw"](
        **{m: tf.constant([f[m].float_list.value[0] for f in parsed], tf.float32) for m in MEASUREMENTS}
    )
    np.testing.assert_allclose(raw["probabilities"].numpy(), served["probabilities"].numpy(), atol=1e-6)
    names = {n.decode() for n in raw["class_names"].numpy()}
    assert names <= {"Adelie", "Chinstrap", "Gentoo"}
    scores = model.signatures["classification"](inputs=tf.constant(test))["scores"].numpy()
    np.testing.assert_allclose(scores, served["probabilities"].numpy(), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError):  # a measurement missing from an example: refused
        only_one = tf.train.Example()
        only_one.features.feature["body_mass_g"].float_list.value.append(0.5)
        model.signatures["serving_default"](examples=tf.constant([only_one.SerializeToString()]))


def _run_span(output_dir: Path, penguin_input: Path, span: int, rows: list[dict], *overrides: str) -> RunSummary:
    """Write ``rows`` as span ``span`` of the input folder and run the pipeline on it (the latest span)."""
    write_penguin_span(penguin_input, span, "csv", rows)
    spec = tasks.get("penguin")
    config = apply_overrides(spec.default_config(), [*PENGUIN_RUN, f"data.input_base={penguin_input}", *overrides])
    return run_pipeline(spec, config, str(output_dir))


@pytest.mark.reliability
def test_the_skewed_span_is_stopped_by_the_data_validator(penguin_run: tuple, penguin_input: Path) -> None:
    summary, output_dir, _ = penguin_run
    serving = output_dir / "serving" / "penguin"
    before = sorted(os.listdir(serving))
    rows = penguin_rows()
    rows[1]["culmen_length_mm"] = -1.0  # TFX's skewed file
    skewed = _run_span(output_dir, penguin_input, 2, rows)
    assert skewed.span == 2 and skewed.failure is not None and skewed.failure.component == "DataValidator"
    found = "\n".join(skewed.failure.details)
    assert "feature culmen_length_mm: Out-of-range values" in found and "-1<0" in found, found
    assert skewed.components["Trainer"] == "NOT_RUN" and not skewed.pushed
    assert sorted(os.listdir(serving)) == before


@pytest.mark.reliability
def test_a_span_with_nan_measurements_is_stopped_with_the_count(penguin_run: tuple, penguin_input: Path) -> None:
    """A quiet failure: the export wrote "nan" for 5% of the body masses; TFDV alone lets NaN through."""
    summary, output_dir, _ = penguin_run
    serving = output_dir / "serving" / "penguin"
    before = sorted(os.listdir(serving))
    rows = penguin_rows()
    for row in rows[::20]:
        row["body_mass_g"] = float("nan")
    stopped = _run_span(output_dir, penguin_input, 3, rows)
    assert stopped.span == 3 and stopped.failure is not None and stopped.failure.component == "DataValidator"
    found = "\n".join(stopped.failure.details)
    assert "feature body_mass_g: Invalid values. Float feature has NaN values:" in found, found
    assert "A NaN is not a missing value" in found
    assert sorted(os.listdir(serving)) == before and not stopped.pushed


@pytest.mark.reliability
def test_a_model_much_worse_on_yesterdays_traffic_is_not_pushed(penguin_run: tuple, penguin_input: Path) -> None:
    """A quiet failure: the export now writes every measurement 10 times larger, and the user lets it through.

    The new model, trained on the new scale, beats the old one on today's eval split (the old one has
    never seen such numbers), but on yesterday's traffic (span 1's eval split, what most requests still
    look like) it is far worse: not blessed, not pushed, and the summary says both scores and the way out
    (``evaluator.previous_traffic=gone``, tested in tests/test_evaluator.py).
    """
    summary, output_dir, _ = penguin_run
    serving = output_dir / "serving" / "penguin"
    before = sorted(os.listdir(serving))
    rows = penguin_rows()
    for row in rows:
        for measurement in MEASUREMENTS:
            row[measurement] = 10 * row[measurement]
    rescaled = _run_span(output_dir, penguin_input, 4, rows, "validation.allow_anomalies=true")
    text = rescaled.describe()
    assert rescaled.span == 4 and rescaled.succeeded and rescaled.blessed is False, text
    traffic = rescaled.previous_traffic
    assert traffic["span"] == 1 and not traffic["passed"], text
    (scores,) = traffic["metrics"].values()
    assert scores["candidate"] < scores["baseline"] - 0.2, scores
    assert "yesterday's traffic (span 1 eval split), candidate vs baseline: categorical_accuracy" in text
    assert "not blessed (if that traffic is gone for good, run with --set evaluator.previous_traffic=gone)" in text
    assert "no-regression margin (41 eval examples): categorical_accuracy 0.0663" in text  # sqrt(2*.9*.1/41)
    assert sorted(os.listdir(serving)) == before and rescaled.exit_code == 4


def _log_requests(serving_root: Path, logs: Path, rows: list[dict]) -> None:
    """Serve the pushed penguin model with request logging and ask it about ``rows``, ten per request."""
    from serving.client import ServingClient
    from serving.model_store import ModelSource, ModelStore
    from serving.request_log import LogConfig
    from serving.server import ServerOptions, ServingServer

    logged = LogConfig(str(logs / "penguin" / "requests"), 1.0)
    store = ModelStore([ModelSource("penguin", str(serving_root / "penguin"), request_log=logged)], 3600)
    with ServingServer(store, ServerOptions(port=0)) as server, ServingClient(server.target) as client:
        for start in range(0, len(rows), 10):
            batch = rows[start : start + 10]
            inputs = {m: np.array([r[m] for r in batch], np.float32) for m in MEASUREMENTS}
            client.predict("penguin", inputs, signature="serving_raw")


def test_monitor_finds_skew_in_requests_from_a_shifted_span_and_none_in_the_training_data(
    penguin_run: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main

    summary, output_dir, _ = penguin_run
    version = Path(summary.pushed_destination).name
    _log_requests(output_dir / "serving", tmp_path / "today", penguin_rows())
    assert main(["monitor", "penguin", "--requests", str(tmp_path / "today"), "--output-dir", str(output_dir)]) == 0
    printed = capsys.readouterr().out
    assert f"penguin version {version}: 34 requests (334 examples), no skew vs span 1 (the training data" in printed
    argv = ["monitor", "penguin", "--requests", str(tmp_path / "today"), "--output-dir", str(output_dir)]
    assert main([*argv, "--agreement", version]) == 0  # the served model against itself: a check of the check
    assert "on 334 logged examples: class_ids 100.0% equal: agrees" in capsys.readouterr().out
    shifted = penguin_rows()
    for row in shifted:  # a client sending grams where the model was trained on scaled masses
        row["body_mass_g"] = row["body_mass_g"] * 5000 + 2700
    _log_requests(output_dir / "serving", tmp_path / "shifted", shifted)
    assert main(["monitor", "penguin", "--requests", str(tmp_path / "shifted"), "--output-dir", str(output_dir)]) == 3
    printed = capsys.readouterr().out
    assert f"penguin version {version}: 34 requests (334 examples), skew vs span 1" in printed, printed
    assert "feature body_mass_g: JENSEN_SHANNON_DIVERGENCE" in printed and "culmen_length_mm" not in printed, printed
    report = next(line.split("report: ")[1] for line in printed.splitlines() if "report: " in line)
    assert Path(report).is_file() and json.loads((Path(report).parent / "skew.json").read_text())["examples"] == 334

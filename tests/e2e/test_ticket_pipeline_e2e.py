"""The whole ticket pipeline on a span of 1,000 tickets read from TFRecord; serving from raw text and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipelines.ticket import generator
from pipelines.ticket.generator import DEPARTMENTS, to_example

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ticket")]  # see pytest.ini


def test_every_component_ran_and_both_heads_were_evaluated(ticket_run: tuple) -> None:
    summary, output_dir, _ = ticket_run
    assert all(state == "COMPLETE" for state in summary.components.values()), summary.components
    assert "ImportExampleGen" in summary.components and summary.blessed and summary.pushed
    assert summary.metrics["categorical_accuracy"] >= 0.4
    assert summary.metrics["root_mean_squared_error"] <= 0.3
    assert "mean_absolute_error" in summary.metrics and "recall" in " ".join(summary.metrics)
    assert Path(summary.pushed_destination).parent == output_dir / "serving" / "ticket"
    report = Path(summary.artifacts["report"])
    for name in ("model.png", "training_curves.png", "confusion_matrix.png", "priority.png"):
        assert (report / name).stat().st_size > 1000, name
    history = json.loads((report.parent / "history.json").read_text())["history"]
    assert {"val_priority_rmse", "val_department_accuracy", "val_difficulty_accuracy"} <= set(history)


def test_predicts_from_raw_text_through_both_signatures(ticket_run: tuple) -> None:
    summary, _, _ = ticket_run
    model = tf.saved_model.load(summary.pushed_destination)
    assert {"serving_default", "serving_raw", "transform_features"} <= set(model.signatures)
    tickets = [generator.make_ticket(99, i) for i in range(200)]
    width = max(1, max(len(t["tags"]) for t in tickets))
    raw = model.signatures["serving_raw"](
        title=tf.constant([t["title"] for t in tickets]),
        body=tf.constant([t["body"] for t in tickets]),
        tags=tf.constant([t["tags"] + [""] * (width - len(t["tags"])) for t in tickets]),
    )
    parsed = model.signatures["serving_default"](
        examples=tf.constant([to_example(t).SerializeToString() for t in tickets])
    )
    np.testing.assert_allclose(raw["priority"].numpy(), parsed["priority"].numpy().reshape(-1), atol=1e-5)
    np.testing.assert_allclose(raw["department_probabilities"].numpy(), parsed["department"].numpy(), atol=1e-5)
    names = [n.decode() for n in raw["department_class_names"].numpy()]
    assert set(names) <= set(DEPARTMENTS) and "difficulty_class_names" in raw
    accuracy = np.mean([n == t["department"] for n, t in zip(names, tickets, strict=True)])
    assert accuracy >= 0.4, accuracy  # chance is 0.25


@pytest.mark.reliability
def test_bad_input_has_a_defined_answer(ticket_run: tuple) -> None:
    summary, _, _ = ticket_run
    model = tf.saved_model.load(summary.pushed_destination)
    raw = model.signatures["serving_raw"](
        title=tf.constant(["", "Refund please"]),
        body=tf.constant(["", "invoice"]),
        tags=tf.constant([["no-such-tag", ""], ["", ""]]),
    )
    assert raw["priority"].shape == (2,) and np.all((raw["priority"].numpy() >= 0) & (raw["priority"].numpy() <= 1))
    np.testing.assert_allclose(raw["department_probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    # An example with missing fields: no title, no tags, no labels -> treated as empty, not an error.
    only_body = tf.train.Example(
        features=tf.train.Features(
            feature={"body": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"parcel delayed"]))}
        )
    )
    out = model.signatures["serving_default"](examples=tf.constant([only_body.SerializeToString(), b""]))
    assert out["department"].shape == (2, 4)
    with pytest.raises(tf.errors.InvalidArgumentError):  # a non-example is refused with INVALID_ARGUMENT
        model.signatures["serving_default"](examples=tf.constant([b"not a serialized example"]))


def test_subclassed_model_exports_the_functional_models_signatures(ticket_run: tuple, tmp_path: Path) -> None:
    import tensorflow_transform as tft

    from pipelines.config import apply_overrides
    from pipelines.export import export_model
    from pipelines.ticket import model as ticket_model

    summary, output_dir, config = ticket_run
    graph = sorted((output_dir / "pipelines" / "ticket" / "Transform" / "transform_graph").iterdir())[-1]
    tft_output = tft.TFTransformOutput(str(graph))
    exported = {}
    for api in ("functional", "subclassed"):
        api_config = apply_overrides(config, [f"model.api={api}"])
        model = ticket_model.build_model(api_config)
        export_model(
            model, tft_output, str(tmp_path / api), ticket_model.inputs(api_config), ticket_model.serving(api_config)
        )
        exported[api] = tf.saved_model.load(str(tmp_path / api))

    def contract(saved: object) -> dict:
        return {
            name: (fn.structured_input_signature, {k: (v.dtype, v.shape) for k, v in fn.structured_outputs.items()})
            for name, fn in saved.signatures.items()
        }

    assert contract(exported["subclassed"]) == contract(exported["functional"])
    assert set(exported["subclassed"].signatures) == set(tf.saved_model.load(summary.pushed_destination).signatures)
    ticket = generator.make_ticket(5, 0)
    answer = exported["subclassed"].signatures["serving_raw"](
        title=tf.constant([ticket["title"]]),
        body=tf.constant([ticket["body"]]),
        tags=tf.constant([ticket["tags"] or [""]]),
    )
    assert answer["department_class_names"].numpy()[0].decode() in DEPARTMENTS

"""Day 2 on files: a new span folder of tickets arrives each day, one drifted, one broken, then fixed.

The story of docs/data-validation.md, run for real in one input folder (a TFRecord file of
tf.Examples per span, written as ``tfx-keras data generate`` writes it) and one output directory:

1. span 1 -> trained, evaluated, pushed;
2. span 2, a new product line (benign drift: more technical tickets, new words) -> drift measured
   and below its thresholds, retrained on the last two spans, compared with span 1's model on the
   new span, pushed only because it is better;
3. span 3, a broken export -> stopped by the DataValidator with every anomaly named; nothing
   transformed, trained or pushed; the serving directory byte for byte unchanged;
4. span 4, a normal day -> its drift measured against span 2 (the data of the serving model, named),
   trained on span 4 alone: the stopped span 3 keeps its place in the window of two but is never
   trained on, and the summary says why;
5. span 3 again, fixed (the export delivered again into the same folder, after span 4) -> a late span
   that belongs in the window: read now, validated, and span 3 and 4 are trained on;
6. the newest pushed version misbehaves in production: ``tfx-keras serving rollback ticket``; span 5,
   a normal day -> the Evaluator's baseline is the model served again, never the rolled-back one, and
   the rolled-back model is never pushed again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2e.conftest import TICKET_RUN, write_ticket_span
from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.local_runner import run_pipeline
from pipelines.run_summary import RunSummary

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ticket")]  # see pytest.ini

STOPPED_BEFORE = ("Transform", "Trainer", "Evaluator", "AtomicPusher")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def days(ticket_run: tuple, ticket_input: Path) -> dict:
    """Span 1 is the ticket e2e run (conftest); spans 2 and 3 land in its input folder, one run each."""
    spec = tasks.get("ticket")
    out = ticket_run[1]
    serving = out / "serving" / "ticket"

    def day(span: int, drift: str) -> RunSummary:
        write_ticket_span(ticket_input, span, f"data.drift={drift}")
        config = apply_overrides(spec.default_config(), [*TICKET_RUN, f"data.input_base={ticket_input}"])
        return run_pipeline(spec, config, str(out))  # the latest span: nothing names it

    results: dict = {"span1": ticket_run[0]}
    results["span2"] = day(2, "new_product_line")
    results["before_broken"] = _tree(serving)
    results["span3_broken"] = day(3, "broken_export")
    results["after_broken"] = _tree(serving)
    results["latest_after_broken"] = max(int(v) for v in os.listdir(serving) if v.isdigit())
    results["span4"] = day(4, "new_product_line")
    results["span3_fixed"] = day(3, "new_product_line")  # written after span 4 was read: a late span
    results["serving"] = serving
    from pipelines.cli import main

    results["versions_before_rollback"] = sorted(int(p.name) for p in serving.iterdir() if p.name.isdigit())
    assert main(["serving", "rollback", "ticket", "--output-dir", str(out)]) == 0
    results["span5"] = day(5, "new_product_line")
    return results


def test_span_1_is_trained_and_pushed(days: dict) -> None:
    first = days["span1"]
    assert first.succeeded and first.pushed and first.span == 1
    assert first.drift == []  # nothing validated before: nothing to compare with
    assert first.input["splits"]["single_split"]["files"] == ["span-1/ticket-1.tfrecord.gz"]
    assert first.trained_on_spans == [1]


def test_span_2_with_benign_drift_is_retrained_compared_and_pushed_because_it_is_better(days: dict) -> None:
    second = days["span2"]
    assert second.succeeded and second.span == 2
    measured = {(d["feature"], d["measure"]): d for d in second.drift}
    assert set(measured) == {
        ("body", "L_INFTY"),
        ("department", "L_INFTY"),
        ("priority", "JENSEN_SHANNON_DIVERGENCE"),
        ("title", "UNKNOWN_SHARE"),
        ("body", "UNKNOWN_SHARE"),
        ("title", "TEXT_LENGTH_JSD"),
        ("body", "TEXT_LENGTH_JSD"),
    }
    for text in ("title", "body"):  # tokens per text: the same on a benign day
        assert measured[(text, "TEXT_LENGTH_JSD")]["value"] < measured[(text, "TEXT_LENGTH_JSD")]["threshold"] / 3
    drift = {
        feature: d for (feature, measure), d in measured.items() if measure in ("L_INFTY", "JENSEN_SHANNON_DIVERGENCE")
    }
    assert 0.05 < drift["department"]["value"] < drift["department"]["threshold"]  # moved, within bounds
    assert drift["body"]["value"] < 0.01 and drift["priority"]["value"] < 0.05
    # The product line's ten new words: measured, below the new-word thresholds (a real, benign change).
    for text in ("title", "body"):
        new_words = measured[(text, "UNKNOWN_SHARE")]
        assert 0 < new_words["value"] < new_words["threshold"], new_words
    # Compared with span 1's model on span 2's evaluation split, and pushed only because it is better.
    assert second.metrics["categorical_accuracy_diff"] >= 0 and second.metrics["root_mean_squared_error_diff"] <= 0
    assert second.blessed and second.pushed
    assert int(Path(second.pushed_destination).name) > int(Path(days["span1"].pushed_destination).name)
    assert second.trained_on_spans == [1, 2]  # a window of two file spans (data.window_spans=2)
    assert "trained on spans: 1, 2" in second.describe()
    text = second.describe()
    assert "drift: department l_infty" in text and "input: 1000 rows from 1 tfrecord file(s)" in text


@pytest.mark.reliability
def test_span_3_broken_is_stopped_at_validation_and_nothing_is_pushed(days: dict) -> None:
    broken = days["span3_broken"]
    assert broken.failure is not None and broken.failure.component == "DataValidator"
    assert broken.exit_code == 3  # what `tfx-keras run` exits with: the data was stopped
    assert all(broken.components[c] == "NOT_RUN" for c in STOPPED_BEFORE), broken.components
    found = "\n".join(broken.failure.details)
    for expected in (
        "split train, feature body: High Linfty distance",  # empty bodies, caught by drift
        "feature department: Unexpected string values. Examples contain values missing from the schema: sales",
        "feature priority: Out-of-range values",  # a 0-100 scale
        "feature tags: Column dropped",
        "split eval, feature tags: Column dropped",
    ):
        assert expected in found, found
    assert "Fix the data; or, if it changed legitimately, update the curated schema" in found
    assert "pipelines/ticket/schema.pbtxt" in broken.failure.hint
    report = next(line.split("data report: ")[1] for line in broken.failure.details if "data report: " in line)
    assert Path(report).is_file() and "Column dropped" in Path(report).read_text()  # kept after the failure
    text = broken.describe()
    assert "pushed: no (the run stopped at DataValidator; the serving directory is unchanged)" in text
    assert days["after_broken"] == days["before_broken"]  # byte for byte
    latest = days["latest_after_broken"]
    assert str(latest) == Path(days["span2"].pushed_destination).name  # span 2's model is still served


@pytest.mark.reliability
def test_span_4_after_the_stopped_span_trains_without_it_and_says_why(days: dict) -> None:
    fourth = days["span4"]
    assert fourth.succeeded and fourth.span == 4
    # The window of two spans is 3 and 4; span 3 was stopped, so only span 4 is trained on, never "3, 4".
    assert fourth.trained_on_spans == [4]
    assert set(fourth.skipped_spans) == {3}
    assert fourth.skipped_spans[3].startswith("span 3 was stopped on ")
    assert "feature body: High Linfty distance" in fourth.skipped_spans[3] or "anomal" in fourth.skipped_spans[3]
    text = fourth.describe()
    assert "trained on spans: 4 (span 3 was stopped on " in text
    # The drift baseline is named: span 2, the newest span of the serving model's data (not the broken span 3).
    served = Path(days["span2"].pushed_destination).name
    assert fourth.baseline == f"span 2 (the data of the serving model, version {served})"
    assert f"drift vs span 2 (the data of the serving model, version {served})" in text
    drift = {d["feature"]: d["value"] for d in fourth.drift if d["measure"] == "L_INFTY"}
    assert drift["department"] < 0.06  # span 4 is like span 2


def test_span_3_fixed_after_span_4_is_a_late_span_read_into_the_window(days: dict) -> None:
    fixed = days["span3_fixed"]
    assert fixed.succeeded and fixed.span == 3 and fixed.failure is None
    assert fixed.components["ImportExampleGen"] == "COMPLETE"  # the re-delivered file is read, not the cached span 4
    assert fixed.span_notes == [
        "span 3 arrived after span 4 was read: read now into the training window (data.window_spans=2)"
    ]
    assert fixed.trained_on_spans == [3, 4] and fixed.skipped_spans == {}
    assert all(fixed.components[c] in ("COMPLETE", "CACHED") for c in STOPPED_BEFORE)
    drift = {d["feature"]: d["value"] for d in fixed.drift if d["measure"] in ("L_INFTY", "JENSEN_SHANNON_DIVERGENCE")}
    # Compared with the serving model's data (span 4's model, or span 2's if it was refused), never the broken span.
    assert fixed.baseline.startswith(("span 4 (the data of the serving model", "span 2 (the data of the serving model"))
    assert drift["department"] < 0.06 and drift["body"] < 0.01 and drift["priority"] < 0.05


@pytest.mark.reliability
def test_a_pinned_baseline_must_name_a_validated_span(days: dict) -> None:
    from components.baseline_resolver import check_pinned_span
    from pipelines import metadata_store
    from pipelines.config import ConfigError  # what the CLI maps to exit 2

    out = Path(days["serving"]).parent.parent
    store = metadata_store.open_existing(metadata_store.connection_config("", str(out / "metadata" / "ticket.sqlite")))
    check_pinned_span(store, "ticket", "DataValidator", 2)  # validated: accepted
    with pytest.raises(ConfigError, match=r"baseline_span=9: span 9 has no validated data .* are 1, 2, 3, 4, 5\."):
        check_pinned_span(store, "ticket", "DataValidator", 9)
    with pytest.raises(ConfigError, match=r"spans that have are none yet"):
        check_pinned_span(None, "ticket", "DataValidator", 1)  # before the first run


def _evaluator_baseline(out: Path) -> int:
    """The id of the baseline Model the newest Evaluator execution read."""
    from ml_metadata.proto import metadata_store_pb2

    from pipelines import metadata_store

    store = metadata_store.open_existing(metadata_store.connection_config("", str(out / "metadata" / "ticket.sqlite")))
    context = store.get_context_by_type_and_name("node", "ticket.Evaluator")
    newest = max(store.get_executions_by_context(context.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([newest.id])
    return next(
        e.artifact_id
        for e in events
        if e.type == metadata_store_pb2.Event.INPUT and e.path.steps and e.path.steps[0].key == "baseline_model"
    )


def test_after_a_rollback_the_baseline_is_the_model_served_again_and_the_bad_one_never_returns(days: dict) -> None:
    from pipelines import metadata_store
    from pipelines.rollback import pushed_models

    serving = Path(days["serving"])
    out = serving.parent.parent
    before = days["versions_before_rollback"]
    bad, good = before[-1], before[-2]
    fifth = days["span5"]
    assert fifth.succeeded and fifth.span == 5, fifth.describe()
    store = metadata_store.open_existing(metadata_store.connection_config("", str(out / "metadata" / "ticket.sqlite")))
    pushes = pushed_models(store, "ticket", {good, bad})
    good_model, bad_model = pushes[good][1], pushes[bad][1]
    assert _evaluator_baseline(out) == good_model.id != bad_model.id  # compared with the model served again
    on_disk = sorted(int(p.name) for p in serving.iterdir() if p.name.isdigit())
    assert bad not in on_disk and (serving.parent / ".rolled_back" / "ticket" / str(bad)).is_dir()
    if fifth.pushed:  # a new model, better than the one served again: a new version, never the rolled-back one
        assert int(Path(fifth.pushed_destination).name) not in before

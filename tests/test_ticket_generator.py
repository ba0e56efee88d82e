"""The synthetic ticket generator (the ticket task's), and the generic GeneratorExampleGen that runs it."""

from __future__ import annotations

import collections
import glob
import math
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from common.splits import split_ranges
from components.generator_example_gen import GeneratorExampleGen, GeneratorExampleGenError
from components.generator_example_gen import executor as generator_executor
from pipelines.local_runner import beam_args as local_beam_args
from pipelines.ticket import generator

TICKETS = "pipelines.ticket.generator"


def test_a_ticket_is_a_pure_function_of_seed_and_index() -> None:
    assert generator.make_ticket(7, 123) == generator.make_ticket(7, 123)
    assert generator.make_ticket(7, 123) != generator.make_ticket(8, 123)
    assert generator.make_ticket(7, 123) != generator.make_ticket(7, 124)


def test_tickets_have_the_help_desk_fields() -> None:
    tickets = [generator.make_ticket(1, i) for i in range(500)]
    lexicon = generator.LEXICON
    assert len(lexicon.tags) == 100
    for t in tickets:
        assert set(t) == {"ticket_id", "title", "body", "tags", "department", "priority", "difficulty"}
        assert t["department"] in generator.DEPARTMENTS and t["difficulty"] in generator.DIFFICULTIES
        assert 0.0 <= t["priority"] <= 1.0 and set(t["tags"]) <= set(lexicon.tags)
    assert any(t["title"] == "" for t in tickets) and any(t["tags"] == [] for t in tickets)
    assert collections.Counter(t["department"] for t in tickets).keys() == set(generator.DEPARTMENTS)


def test_the_rule_scores_words_and_tags() -> None:
    scores = generator.department_scores(
        "Refund for my invoice", "the invoice and a tracking number", ["refunds", "android"]
    )
    # billing: title {refund, invoice} 2 x 1.5 + body {invoice} 1.0 + tag {refunds} 2.0; shipping: body {tracking}
    assert scores.tolist() == [6.0, 0.0, 0.0, 1.0]
    assert generator.priority_mean("Urgent outage", "", ["vip"]) > generator.priority_mean("Question", "", [])
    assert generator.ideal_predictions({"title": "Refund", "body": "", "tags": []})["department"] == "billing"


def test_expected_priority_is_the_mean_of_the_clipped_noise() -> None:
    rng = np.random.default_rng(0)
    for mu in (0.02, 0.5, 0.97):
        simulated = np.clip(mu + rng.normal(0, generator.PRIORITY_NOISE, 200_000), 0, 1).mean()
        assert abs(generator.expected_priority(mu) - simulated) < 1e-3


def test_labels_follow_the_rule_up_to_the_stated_noise() -> None:
    tickets = [generator.make_ticket(3, i) for i in range(3000)]
    ceiling = generator.Summary()
    for t in tickets:
        ceiling.add(t)
    report = ceiling.report()
    # The expected accuracy of argmax under the softmax noise, computed from the rule itself.
    expected = np.mean(
        [
            generator._softmax(
                generator.department_scores(t["title"], t["body"], t["tags"]) / generator.DEPARTMENT_TEMPERATURE
            ).max()
            for t in tickets
        ]
    )
    assert abs(report["department_accuracy"] - expected) < 0.02
    assert 0.8 < report["department_accuracy"] < 0.99  # learnable, but not trivially
    assert abs(report["priority_rmse"] - generator.PRIORITY_NOISE) < 0.01  # what is left is the noise
    merged = generator.Summary().merge([generator.Summary().add(tickets[0]), generator.Summary().add(tickets[1])])
    assert merged.count == 2


def test_split_ranges_are_contiguous_and_complete() -> None:
    assert split_ranges(1000, {"train": 0.8, "eval": 0.2}) == {"train": (0, 800), "eval": (800, 1000)}
    assert split_ranges(10, {"a": 1, "b": 1, "c": 1}) == {"a": (0, 3), "b": (3, 6), "c": (6, 10)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_examples": 0, "splits": {"train": 1.0}}, "positive integer"),
        ({"num_examples": 10, "splits": {}}, "splits is empty"),
        ({"num_examples": 10, "splits": {"train": -1}}, "must be a positive number"),
        ({"num_examples": 10, "splits": {"bad name": 1}}, "must be an identifier"),
        ({"num_examples": 3, "splits": {"train": 0.9, "eval": 0.05, "test": 0.05}}, "get no records"),
        ({"num_examples": 10, "splits": {"train": 1}, "shard_size": 0}, "shard_size=0 must be an integer >= 1"),
        ({"num_examples": 10, "splits": {"train": 1}, "generator": "no.such.module"}, "cannot be imported"),
        ({"num_examples": 10, "splits": {"train": 1}, "generator": "common.splits"}, "has no function make_record"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(GeneratorExampleGenError, match=message):
        GeneratorExampleGen(**{"generator": TICKETS, **kwargs})


def _run(component: GeneratorExampleGen, uri: Path, beam_args: list[str]) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(uri)
    props = {
        k: proto_utils.proto_to_json(v) if hasattr(v, "DESCRIPTOR") else v for k, v in component.exec_properties.items()
    }
    executor = generator_executor.Executor(generator_executor.Executor.Context(beam_pipeline_args=beam_args))
    executor.Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, props)
    return examples


def _split(uri: Path, split: str) -> collections.Counter:
    files = glob.glob(os.path.join(uri, f"Split-{split}", "*.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    # Map order inside a serialized proto is not fixed: compare canonical serializations.
    return collections.Counter(
        tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True) for r in records
    )


@pytest.mark.slow
def test_same_data_whatever_the_workers_and_shards(tmp_path: Path) -> None:
    one = _run(
        GeneratorExampleGen(TICKETS, 300, {"train": 0.8, "eval": 0.2}, seed=5, shard_size=300),
        tmp_path / "one",
        local_beam_args(1),
    )
    many = _run(
        GeneratorExampleGen(TICKETS, 300, {"train": 0.8, "eval": 0.2}, seed=5, shard_size=7),
        tmp_path / "many",
        local_beam_args(2),
    )
    for split, size in (("train", 240), ("eval", 60)):
        assert _split(tmp_path / "one", split) == _split(tmp_path / "many", split)
        assert sum(_split(tmp_path / "one", split).values()) == size
    written = [tf.train.Example.FromString(r) for r in _split(tmp_path / "one", "eval")]
    expected = {generator.make_ticket(5, i)["ticket_id"] for i in range(240, 300)}
    assert {e.features.feature["ticket_id"].bytes_list.value[0].decode() for e in written} == expected
    # The ceiling (the generator's summary) is reported per split and equals a direct computation.
    ceiling = generator_executor.read_summary(one.uri)
    direct = generator.Summary()
    for i in range(240, 300):
        direct.add(generator.make_ticket(5, i))
    assert ceiling["eval"]["examples"] == 60
    assert math.isclose(ceiling["eval"]["priority_rmse"], direct.report()["priority_rmse"], rel_tol=1e-9)
    assert ceiling["eval"]["department_accuracy"] == direct.report()["department_accuracy"]
    other = generator_executor.read_summary(many.uri)  # same up to the order of floating-point sums
    for split, report in ceiling.items():
        for key, value in report.items():
            assert math.isclose(other[split][key], value, rel_tol=1e-12), (split, key)


def test_encoding_keeps_empty_values() -> None:
    ticket = {
        "ticket_id": "1-0",
        "title": "",
        "body": "x",
        "tags": [],
        "department": "billing",
        "priority": 0.0,
        "difficulty": "quick",
    }
    feature = generator.to_example(ticket).features.feature
    assert list(feature["title"].bytes_list.value) == [b""] and list(feature["tags"].bytes_list.value) == []
    assert list(feature["priority"].float_list.value) == [0.0]

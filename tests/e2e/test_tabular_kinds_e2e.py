"""A table that needs more than numbers and categories: a derived label, buckets, a cross, a timestamp, a missing int.

The trips fixture (tests/helpers/trips_fixture.py) runs to a pushed model; then each new kind is
checked for what it serves: the Transform graph's buckets, cross and time parts, the derived label
computed from a training-only column and absent at serving, and an optional integer sent missing
over REST (``null``) and gRPC (its marker), while a required column sent missing is refused by name.
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import trips_fixture
from helpers.dev_server import serving

from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.local_runner import run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tabular")]  # see pytest.ini
MODULE = trips_fixture.__name__


@pytest.fixture(scope="module")
def trips_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The trips task on 1,200 rows of CSV (span 1): (summary, output dir)."""
    base = tmp_path_factory.mktemp("trips")
    trips_fixture.write_span(base / "in" / "span-1", trips_fixture.rows(1200))
    spec = tasks.get(MODULE)
    config = apply_overrides(spec.default_config(), [f"data.input_base={base / 'in'}"])
    return run_pipeline(spec, config, str(base / "out")), base / "out"


def _request(when: datetime.datetime, **overrides: object) -> dict:
    row = {"fare": 20.0, "trip_miles": 6.0, "trip_seconds": 1200, "pickup_lat": 41.8, "pickup_lon": -87.8,
           "payment_type": "card", "pickup_time": int(when.timestamp())}  # fmt: skip
    return {**row, **overrides}


def test_the_trips_task_is_trained_and_pushed_beating_the_majority(trips_run: tuple) -> None:
    summary, _ = trips_run
    assert summary.succeeded and summary.blessed and summary.pushed, summary.describe()
    assert summary.metrics["categorical_accuracy"] >= 0.9, summary.metrics  # the majority class: ~0.82


def test_buckets_cross_and_time_parts_are_computed_in_the_transform_graph(trips_run: tuple) -> None:
    import glob

    import tensorflow_transform as tft

    _, out = trips_run
    [transform_dir] = glob.glob(str(out / "pipelines" / trips_fixture.NAME / "Transform" / "transform_graph" / "*"))
    layer = tft.TFTransformOutput(transform_dir).transform_features_layer()
    tuesday_evening = datetime.datetime(2026, 12, 8, 19, 30, tzinfo=datetime.timezone.utc)
    rows = [_request(tuesday_evening, trip_miles=0.5), _request(tuesday_evening, trip_miles=30.0)]
    types = {"pickup_time": tf.int64, "payment_type": tf.string}
    raw = {k: tf.constant([[r[k]] for r in rows], types.get(k, tf.float32)) for k in rows[0] if k != "trip_seconds"}
    raw["trip_seconds"] = tf.sparse.from_dense(tf.constant([[1200], [1300]], tf.int64))
    out_ = {k: v.numpy() for k, v in layer(raw).items()}
    miles = out_["trip_miles_xf"]
    assert miles.shape == (2, 5) and miles.sum(axis=1).tolist() == [1.0, 1.0]
    assert np.argmax(miles[0]) == 0 and np.argmax(miles[1]) == 4  # the shortest and the longest quantile
    assert out_["pickup_lat_x_pickup_lon_xf"].shape == (2, 64) and out_["pickup_lat_x_pickup_lon_xf"].sum() == 2.0
    time = out_["pickup_time_xf"][0]
    assert time.shape == (24 + 7 + 12,)
    assert np.flatnonzero(time).tolist() == [19, 24 + 1, 24 + 7 + 11]  # 19 h, a Tuesday, December
    assert out_["fare_per_mile_xf"].shape == (2, 1)  # derived in the graph, then a z-score


def test_the_derived_label_is_computed_from_a_training_only_column_and_absent_at_serving(trips_run: tuple) -> None:
    summary, _ = trips_run
    model = tf.saved_model.load(summary.pushed_destination)
    raw_inputs = set(model.signatures["serving_raw"].structured_input_signature[1])
    assert "tips" not in raw_inputs and "big_tipper" not in raw_inputs and "fare" in raw_inputs
    assert "fare_per_mile" not in raw_inputs and "pickup_lat_x_pickup_lon" not in raw_inputs  # computed, not sent

    def example(tips: float, fare: float) -> bytes:  # a whole row of the files, as the Evaluator reads them
        row = {**_request(datetime.datetime(2026, 12, 8, tzinfo=datetime.timezone.utc), fare=fare), "tips": tips}
        feature = {
            k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))
            if isinstance(v, str)
            else tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
            if isinstance(v, int)
            else tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
            for k, v in row.items()
        }
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    labels = model.signatures["transform_features"](examples=tf.constant([example(5.0, 20.0), example(1.0, 20.0)]))
    assert labels["big_tipper_xf"].numpy().tolist() == [[0.0, 1.0], [1.0, 0.0]]  # 25% -> yes, 5% -> no


def test_an_optional_integer_is_served_missing_over_rest_and_grpc_and_a_required_one_is_named(
    trips_run: tuple, tmp_path: Path
) -> None:
    import shutil

    from serving.client import ServingClient, ServingError
    from serving.codec import ModelClient

    summary, _ = trips_run
    pushed = Path(summary.pushed_destination)
    shutil.copytree(pushed, tmp_path / trips_fixture.NAME / pushed.name)
    when = datetime.datetime(2026, 12, 8, 20, 0, tzinfo=datetime.timezone.utc)
    with serving(tmp_path, rest_api_port=-1) as server:
        url = f"{server.rest_url}/v1/models/{trips_fixture.NAME}:predict"

        def rest(instances: list[dict]) -> tuple[int, dict]:
            body = json.dumps({"signature_name": "serving_raw", "instances": instances}).encode()
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as err:
                return err.code, json.loads(err.read())

        code, answer = rest([_request(when), _request(when, trip_seconds=None)])  # null: the missing marker
        assert code == 200 and len(answer["predictions"]) == 2, answer
        code, answer = rest([_request(when, fare=None)])
        assert code == 400 and "column fare is required" in answer["error"], answer
        with ServingClient(server.target) as client:
            record = {k: v for k, v in _request(when).items() if k != "trip_seconds"}  # left out entirely
            [grpc_answer] = ModelClient(client, trips_fixture.NAME).predict([record])
            assert grpc_answer.heads[""][0] in ("no", "yes")
            with pytest.raises(ServingError, match="column pickup_time is required"):
                ModelClient(client, trips_fixture.NAME).predict(
                    [{k: v for k, v in record.items() if k != "pickup_time"}]
                )


def test_the_candidate_beat_the_majority_class_and_the_best_one_column_rule(trips_run: tuple) -> None:
    summary, _ = trips_run
    trivial = summary.trivial
    baselines = dict(trivial["baselines"])
    assert trivial["passed"] and trivial["baselines"][0][0] == "majority class (0)", trivial
    assert baselines["majority class (0)"] > 0.75 and len(baselines) == 2  # and the best rule
    assert trivial["candidate"] > max(baselines.values()) + trivial["margin"]
    assert "trivial baselines (categorical_accuracy, eval split): majority class (0) 0." in summary.describe()


@pytest.mark.reliability
def test_a_model_that_cannot_beat_its_one_column_rule_is_not_blessed(tmp_path: Path) -> None:
    from helpers import card_fixture

    trips_fixture.write_span(tmp_path / "in" / "span-1", trips_fixture.rows(600, seed=1))
    spec = tasks.get(card_fixture.__name__)
    config = apply_overrides(spec.default_config(), [f"data.input_base={tmp_path / 'in'}", "training.epochs=5"])
    summary = run_pipeline(spec, config, str(tmp_path / "out"))
    assert summary.blessed is False and not summary.pushed, summary.describe()
    assert (
        summary.trivial["best"] == "payment_type lookup"
        and dict(summary.trivial["baselines"])["payment_type lookup"] == 1.0
    )
    line = next(x for x in summary.describe().splitlines() if "trivial baselines" in x)
    assert "NOT beaten by the margin" in line and "the model learned no more than payment_type lookup" in line, line


def test_predict_asks_by_label_and_names_an_unknown_one(
    trips_run: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main
    from serving.model_store import ModelSource, ModelStore
    from serving.server import ServerOptions, ServingServer

    summary, _ = trips_run
    pushed = Path(summary.pushed_destination)
    version = int(pushed.name)
    source = ModelSource(trips_fixture.NAME, str(pushed.parent), labels={"stable": version})
    when = datetime.datetime(2026, 12, 8, 20, 0, tzinfo=datetime.timezone.utc)
    fields = [f"{k}={v}" for k, v in _request(when).items() if k != "trip_seconds"]  # left out: its marker is sent
    with ServingServer(ModelStore([source], 3600), ServerOptions(port=0, rest_api_port=-1)) as server:
        for address in (server.target, server.rest_url):
            argv = ["predict", trips_fixture.NAME, *fields, "--server", address, "--json"]
            assert main([*argv, "--label", "stable"]) == 0
            assert json.loads(capsys.readouterr().out.splitlines()[0])["heads"][""][0] in ("no", "yes")
            assert main([*argv, "--label", "canary"]) == 2
            assert "Unrecognized servable version label: canary" in capsys.readouterr().err

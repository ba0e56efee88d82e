"""``tfx-keras monitor``'s parts that need no pipeline run: logged requests to examples, the skew schema, its errors.

The whole loop (a pushed penguin model, its logged requests, skew found and not found) is
``tests/e2e/test_penguin_pipeline_e2e.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from helpers.dev_server import grpc_client
from helpers.toy_model import toy_example, write_toy_model
from tensorflow_metadata.proto.v0 import schema_pb2

from pipelines.cli import main
from pipelines.config import ConfigError
from pipelines.monitor import logged_examples, raw_examples, skew_schema
from serving.model_store import ModelSource, ModelStore
from serving.request_log import LogConfig, RequestLogger, log_files, read_logs
from serving.server import ServerOptions, ServingServer


def test_every_logged_request_becomes_examples_of_the_version_that_answered(tmp_path: Path) -> None:
    write_toy_model(str(tmp_path / "serving" / "toy"), 2)
    logged = LogConfig(str(tmp_path / "logs" / "toy" / "requests"), 1.0)
    store = ModelStore([ModelSource("toy", str(tmp_path / "serving" / "toy"), request_log=logged)], 3600)
    with ServingServer(store, ServerOptions(port=0)) as server, grpc_client(server) as client:
        client.predict("toy", {"x": np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)}, signature="serving_raw")
        examples = [toy_example(5.0, 6.0).SerializeToString()]
        client.predict("toy", {"examples": np.array(examples, dtype=object)}, signature="serving_default")
        client.regress("toy", [toy_example(7.0, 8.0)])
    by_version, requests = logged_examples(
        read_logs(log_files(str(tmp_path / "logs"))), "toy", str(tmp_path / "serving")
    )
    assert requests == {2: 3} and list(by_version) == [2]
    values = [list(tf.train.Example.FromString(e).features.feature["x"].float_list.value) for e in by_version[2]]
    assert values == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]
    assert logged_examples(read_logs(log_files(str(tmp_path / "logs"))), "other", str(tmp_path)) == ({}, {})


def test_a_raw_image_becomes_the_png_the_training_data_holds() -> None:
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    labels = np.array([b"a", b"b"], dtype=object)
    examples = raw_examples({"image": images, "tag": labels}, {"image": {"dtype": "string"}})
    first = tf.train.Example.FromString(examples[1]).features.feature
    decoded = tf.io.decode_png(first["image"].bytes_list.value[0]).numpy()
    np.testing.assert_array_equal(decoded[..., 0], images[1])
    assert first["tag"].bytes_list.value == [b"b"]


def test_the_skew_schema_keeps_skew_comparators_and_leaves_out_the_label() -> None:
    schema = text_format.Parse(
        """
        default_environment: "TRAINING" default_environment: "SERVING"
        feature { name: "label" type: INT not_in_environment: "SERVING"
                  drift_comparator { infinity_norm { threshold: 0.25 } } }
        feature { name: "a" type: FLOAT drift_comparator { jensen_shannon_divergence { threshold: 0.3 } } }
        feature { name: "b" type: FLOAT drift_comparator { jensen_shannon_divergence { threshold: 0.3 } }
                  skew_comparator { jensen_shannon_divergence { threshold: 0.1 } } }
        """,
        schema_pb2.Schema(),
    )
    features = {f.name: f for f in skew_schema(schema).feature}
    assert not features["label"].HasField("skew_comparator")
    assert features["a"].skew_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.3)
    assert features["b"].skew_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.1)


@pytest.mark.reliability
def test_monitor_without_logs_or_metadata_says_what_to_give(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "logs").mkdir()
    argv = ["monitor", "penguin", "--output-dir", str(tmp_path / "outputs")]
    assert main([*argv, "--requests", str(tmp_path / "missing")]) == 2
    assert "give the folder of `tfx-keras serve --request-log DIR`" in capsys.readouterr().err
    assert main([*argv, "--requests", str(tmp_path / "logs")]) == 2
    assert "no request log files (*.tfrecord) in" in capsys.readouterr().err
    logger = RequestLogger(lambda _: LogConfig(str(tmp_path / "logs" / "penguin" / "requests"), 1.0))
    logger.offer("penguin", 1, "serving_raw", "predict", lambda: b"", lambda: b"")
    logger.stop()
    assert main([*argv, "--requests", str(tmp_path / "logs")]) == 2
    assert "no ML Metadata of penguin at" in capsys.readouterr().err


def test_agreement_compares_two_models_answers_on_the_logged_examples(tmp_path: Path) -> None:
    from pipelines.agreement import agreement

    for version in (1, 2):  # y = version * (x0 + x1)
        write_toy_model(str(tmp_path / "toy"), version)
    examples = [toy_example(1.0, 1.0).SerializeToString(), toy_example(2.0, 3.0).SerializeToString()]
    same = agreement(examples, str(tmp_path / "toy" / "1"), str(tmp_path / "toy" / "1"), 0.95)
    other = agreement(examples, str(tmp_path / "toy" / "1"), str(tmp_path / "toy" / "2"), 0.95)
    assert same.per_output["y"] == 0.0 and other.per_output["y"] == pytest.approx((2.0 + 5.0) / 2)
    assert same.agrees and other.agrees  # no class ids: the numbers are reported, not judged
    with pytest.raises(ConfigError, match="is not a SavedModel folder"):
        agreement(examples, str(tmp_path / "toy" / "1"), str(tmp_path), 0.95)

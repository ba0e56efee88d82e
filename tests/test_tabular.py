"""The tabular family on known rows: Transform, the models, the serving contract, the declaration's checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models.tabular import build_tabular_model
from pipelines import tasks
from pipelines.config import ConfigError, FileData, apply_overrides
from pipelines.tabular import Categorical, Label, Numeric, Table, TabularConfig, tabular_task
from pipelines.tabular_transform import transform

SPEC = {
    "mass": tf.io.FixedLenFeature([1], tf.float32),
    "age": tf.io.VarLenFeature(tf.float32),  # optional
    "island": tf.io.FixedLenFeature([1], tf.string),
    "colour": tf.io.VarLenFeature(tf.string),  # optional, learned vocabulary
    "grade": tf.io.FixedLenFeature([1], tf.int64),
    "kind": tf.io.FixedLenFeature([1], tf.string),  # the class label, by name
    "price": tf.io.FixedLenFeature([1], tf.float32),  # a regression target
}
TABLE = Table(
    columns=(
        Numeric("mass"),
        Numeric("age", optional=True),
        Categorical("island", vocabulary=("Biscoe", "Dream")),
        Categorical("colour", max_tokens=2, oov_buckets=1, optional=True),
        Categorical("grade", vocabulary=(1, 2)),
    ),
    label=Label("kind", class_names=("cat", "dog")),
    aux=Label("price"),
)


def _row(mass: float, age: list[float], island: str, colour: list[str], grade: int, kind: str, price: float) -> dict:
    return {
        "mass": [mass],
        "age": age,
        "island": [island.encode()],
        "colour": [c.encode() for c in colour],
        "grade": [grade],
        "kind": [kind.encode()],
        "price": [price],
    }


@pytest.mark.slow  # a tf.Transform Beam pipeline: seconds
def test_known_rows_through_tf_transform(tmp_path: Path) -> None:
    rows = [
        _row(1.0, [10.0], "Biscoe", ["red"], 1, "cat", 3.0),
        _row(2.0, [], "Dream", ["red"], 2, "dog", 5.0),  # age missing: filled with the mean (20) and flagged
        _row(3.0, [30.0], "Torgersen", [], 7, "bird", 7.0),  # an unknown island, grade and kind; no colour
        _row(6.0, [20.0], "Biscoe", ["blue"], 1, "dog", 9.0),
    ]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (out, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(lambda inputs: transform(TABLE, inputs))
    mass = np.array([r["mass_xf"][0] for r in out])
    np.testing.assert_allclose(mass, (np.array([1, 2, 3, 6]) - 3) / np.std([1, 2, 3, 6]), rtol=1e-5)  # full pass
    age = np.array([r["age_xf"] for r in out])
    np.testing.assert_allclose(age[:, 0], np.array([-10, 0, 10, 0]) / np.std([10, 30, 20]), rtol=1e-5)
    assert age[:, 1].tolist() == [0, 1, 0, 0]  # the missing flag
    assert [list(r["island_xf"]) for r in out] == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]  # last: "other"
    assert [list(r["grade_xf"]) for r in out] == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]  # integer codes
    colour = np.array([r["colour_xf"] for r in out])
    assert colour.shape == (4, 4)  # 2 learned values + 1 OOV bucket + the missing flag
    assert colour[0, 0] == 1 and colour[1, 0] == 1  # "red", the most frequent, is id 0
    assert colour[2, 3] == 1 and colour[:, 3].tolist() == [0, 0, 1, 0]
    assert [list(r["kind_xf"]) for r in out] == [[1, 0], [0, 1], [0, 0], [0, 1]]  # an unknown class: no class
    assert [r["price_xf"][0] for r in out] == [3.0, 5.0, 7.0, 9.0]  # a regression target as it is


def test_models_dnn_wide_and_deep_and_an_auxiliary_head() -> None:
    dnn = build_tabular_model({"a": 1, "b": 3}, ("kind", 2, "softmax"), hidden_units=(8, 4))
    assert dnn.input_names == ["a", "b"] and dnn.output_names == ["kind"]
    assert dnn.count_params() == (4 * 8 + 8) + (8 * 4 + 4) + (4 * 2 + 2)
    wide = build_tabular_model(
        {"a": 1, "b": 3}, ("price", 1, None), hidden_units=(8,), wide=["b"], aux_head=("price_aux", 1, None)
    )
    assert wide.output_names == ["price", "price_aux"]
    # The head reads the wide input next to the deep path: 3 + 8 inputs; the aux head reads the deep path alone.
    assert wide.get_layer("price").kernel.shape == (11, 1) and wide.get_layer("price_aux").kernel.shape == (8, 1)
    with pytest.raises(ValueError, match="wide inputs \\['c'\\] are not among the inputs"):
        build_tabular_model({"a": 1}, ("y", 1, None), wide=["c"])


def test_the_penguin_spec_from_its_declaration() -> None:
    spec = tasks.get("penguin")
    config = spec.default_config()
    model = spec.build_model(config)
    assert model.input_names == ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert model.output_names == ["species"] and model.output_shape == (None, 3)
    wide = spec.build_model(apply_overrides(config, ["model.architecture=wide_deep"]))
    assert wide.get_layer("species").kernel.shape == (4 + 32, 3)  # every column is wide when none is categorical
    contract = spec.serving(config)
    assert {n: s.dtype for n, s in contract.raw_inputs.items()} == {n: tf.float32 for n in model.input_names}
    assert contract.classify == ("species", ("Adelie", "Chinstrap", "Gentoo")) and contract.regress is None
    assert contract.transformed_labels == ["species_xf"]


def test_optional_columns_are_missing_when_a_client_sends_nan_or_an_empty_text(tmp_path: Path) -> None:
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(
        'feature { name: "age" type: FLOAT }\nfeature { name: "island" type: BYTES }\n'
        'feature { name: "kind" type: BYTES }\n'
    )
    spec = tabular_task(
        name="animals",
        description="",
        config_class=TabularConfig,
        columns=[Numeric("age", optional=True), Categorical("island", vocabulary=("a",), optional=True)],
        label=Label("kind", ("cat", "dog")),
        schema_file=str(schema),
    )
    contract = spec.serving(None)
    features = contract.raw_to_features({"age": tf.constant([1.5, np.nan]), "island": tf.constant([b"", b"a"])})
    assert tf.sparse.to_dense(features["age"]).numpy().tolist() == [[1.5], [0.0]]
    assert features["age"].indices.numpy().tolist() == [[0, 0]]  # the NaN row has no value
    assert features["island"].indices.numpy().tolist() == [[1, 0]]


def test_declarations_that_cannot_work_are_refused(tmp_path: Path) -> None:
    common = {"name": "t", "description": "", "config_class": TabularConfig, "schema_file": str(tmp_path / "s")}
    with pytest.raises(ValueError, match="columns \\['a'\\] are declared more than once"):
        tabular_task(columns=[Numeric("a"), Numeric("a")], label=Label("y"), **common)
    with pytest.raises(ValueError, match="a target \\(a\\) cannot also be an input column"):
        tabular_task(columns=[Numeric("a")], label=Label("a"), **common)
    with pytest.raises(ValueError, match="column a has a default but is not optional"):
        tabular_task(columns=[Numeric("a", default=0.0)], label=Label("y"), **common)


@pytest.mark.reliability
def test_file_data_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="mixes proportions and patterns"):
        FileData(splits={"train": 0.8, "eval": "eval/*"})
    with pytest.raises(ValueError, match="span=2 needs a \\{SPAN\\}"):
        FileData(pattern="*.csv", span=2)
    with pytest.raises(ValueError, match="must be relative to data.input_base"):
        FileData(pattern="/data/*.csv")
    for escaping in ("../other/span-{SPAN}/*.csv", "span-{SPAN}/../../*.csv", "..\\x\\*.csv"):
        with pytest.raises(ValueError, match="must stay inside data.input_base: no '..' in it"):
            FileData(pattern=escaping)  # neither a run reads, nor `data generate` writes, outside the folder
    config = tasks.get("penguin").default_config()
    with pytest.raises(ConfigError, match="data.format='xlsx' is invalid"):
        apply_overrides(config, ["data.format=xlsx"])
    split = apply_overrides(config, ['data.splits={"train": "train/*.csv", "eval": "eval/*.csv"}'])
    assert split.data.split_patterns == {"train": "train/*.csv", "eval": "eval/*.csv"}
    ticket = tasks.get("ticket").default_config()
    with pytest.raises(ConfigError, match="split patterns read files: set data.input_base"):
        apply_overrides(ticket, ['data.splits={"train": "train/*", "eval": "eval/*"}'])


DISAGREEING_SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "mass" type: FLOAT presence { min_fraction: 1 } shape { dim { size: 1 } } }
feature { name: "age" type: FLOAT presence { min_fraction: 0.8 } }
feature {
  name: "island" type: BYTES presence { min_fraction: 1 }
  string_domain { name: "island" value: "Biscoe" value: "Dream" }
}
feature { name: "grade" type: BYTES presence { min_fraction: 1 } }
feature { name: "kind" type: BYTES presence { min_fraction: 1 } }
"""


@pytest.mark.reliability
def test_a_declaration_the_curated_schema_disagrees_with_is_refused_before_any_component(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Each disagreement one line with its fix, exit 2; before, a Keras shape error in the Trainer after 47 s."""
    from pipelines.cli import main

    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("")
    (tmp_path / "userpkg" / "schema.pbtxt").write_text(DISAGREEING_SCHEMA)
    (tmp_path / "userpkg" / "pets.py").write_text(
        "import os\n"
        "from pipelines.config import FileData\n"
        "from pipelines.tabular import Categorical, Label, Numeric, TabularConfig, tabular_task\n"
        "class C(TabularConfig):\n"
        "    data: FileData = FileData(format='csv')\n"
        "SPEC = tabular_task(name='pets', description='', config_class=C, columns=[Numeric('mass'), Numeric('age'),\n"
        "    Categorical('island', vocabulary=('Biscoe', 'Torgersen')), Categorical('grade', vocabulary=(1, 2))],\n"
        "    label=Label('kind', class_names=('cat', 'dog')),\n"
        "    schema_file=os.path.join(os.path.dirname(__file__), 'schema.pbtxt'))\n"
    )  # fmt: skip
    (tmp_path / "in" / "span-1").mkdir(parents=True)
    (tmp_path / "in" / "span-1" / "pets.csv").write_text("mass,age,island,grade,kind\n1,2,Biscoe,1,cat\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert main(["run", "userpkg.pets", "--input-base", str(tmp_path / "in"), "--dry-run"]) == 2
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "userpkg"]:
            del sys.modules[name]
    err = capsys.readouterr().err
    assert f"error: the declaration of pets and its curated schema {tmp_path}/userpkg/schema.pbtxt disagree:" in err
    for line in (
        "column age is required in the declaration but optional in the schema (presence.min_fraction 0.8): "
        "declare it Numeric('age', optional=True), or set presence { min_fraction: 1 }",
        "column island: vocabulary values ['Torgersen'] are not in the schema's domain ['Biscoe', 'Dream']",
        "column grade has a vocabulary of integers but the schema says BYTES",
        'label kind is not marked absent at serving: add not_in_environment: "SERVING" to it in the schema',
    ):
        assert f"\n  {line}" in err, err
    assert "Traceback" not in err


def test_a_timestamps_hour_weekday_and_month_are_the_calendars() -> None:
    import datetime

    from pipelines.tabular_kinds import Timestamp
    from pipelines.tabular_transform import encode_timestamp

    moments = [datetime.datetime(2026, 12, 8, 19, 30), datetime.datetime(2024, 2, 29, 0, 5),  # a Tuesday; leap day
               datetime.datetime(1969, 12, 31, 23, 59), datetime.datetime(2100, 3, 1, 12)]  # fmt: skip
    seconds = [int(m.replace(tzinfo=datetime.timezone.utc).timestamp()) for m in moments]
    hot = encode_timestamp(Timestamp("t"), tf.constant([[s] for s in seconds], tf.int64)).numpy()
    for moment, row in zip(moments, hot, strict=True):
        assert np.flatnonzero(row).tolist() == [moment.hour, 24 + moment.weekday(), 24 + 7 + moment.month - 1]


@pytest.mark.slow  # a tf.Transform Beam pipeline: seconds
def test_buckets_crosses_derived_columns_and_a_derived_label_through_tf_transform(tmp_path: Path) -> None:
    from pipelines.tabular_kinds import Bucketized, Crossed, Derived

    table = Table(
        columns=(
            Bucketized("x", buckets=4),
            Crossed(("x", "colour"), hash_buckets=16),
            Derived(Numeric("x_per_y"), lambda x, y: x / y, inputs=("x", "y")),
        ),
        label=Label("big", class_names=("no", "yes"), derive=lambda y, x: tf.cast(y > x, tf.int64), inputs=("y", "x")),
    )
    spec = {name: tf.io.FixedLenFeature([1], tf.float32) for name in ("x", "y")}
    spec["colour"] = tf.io.FixedLenFeature([1], tf.string)
    rows = [{"x": [float(i)], "y": [float(i % 3 + 4)], "colour": [b"red" if i % 2 else b"blue"]} for i in range(8)]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (out, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(lambda inputs: transform(table, inputs))
    buckets = [int(np.argmax(r["x_xf"])) for r in out]
    assert buckets == sorted(buckets) and buckets[0] == 0 and buckets[-1] == 3  # quantiles of 0..7: two per bucket
    crossed = [int(np.argmax(r["x_x_colour_xf"])) for r in out]
    assert all(len(r["x_x_colour_xf"]) == 16 and sum(r["x_x_colour_xf"]) == 1 for r in out)
    assert len(set(crossed)) > 2  # the combinations land in several buckets
    ratio = np.array([r["x_per_y_xf"][0] for r in out])
    expected = np.array([i / (i % 3 + 4) for i in range(8)])
    np.testing.assert_allclose(ratio, (expected - expected.mean()) / expected.std(), rtol=1e-4)  # then a z-score
    assert [list(r["big_xf"]) for r in out] == [[0, 1] if i % 3 + 4 > i else [1, 0] for i in range(8)]


def test_the_new_kinds_are_checked_against_the_schema(tmp_path: Path) -> None:
    from pipelines.tabular_kinds import Bucketized, Crossed, Derived, Timestamp
    from pipelines.tabular_schema import declaration_problems

    schema = tmp_path / "schema.pbtxt"
    schema.write_text(
        'default_environment: "TRAINING" default_environment: "SERVING"\n'
        'feature { name: "when" type: FLOAT presence { min_fraction: 1 } }\n'
        'feature { name: "x" type: BYTES presence { min_fraction: 1 } }\n'
        'feature { name: "tips" type: FLOAT presence { min_fraction: 1 } }\n'
    )
    table = Table(
        columns=(Timestamp("when"), Bucketized("x"), Crossed(("x", "nope")), Derived(Numeric("d"), tf.add, ("x", "z"))),
        label=Label("big", class_names=("no", "yes"), derive=tf.greater, inputs=("tips", "gone")),
    )
    assert declaration_problems(table, str(schema)) == [
        "column when is a Timestamp (seconds since 1970-01-01 UTC) but the schema says FLOAT: give it as an "
        "integer column",
        "column x is Bucketized but the schema says BYTES (text): declare it Categorical('x'), or fix its type in the "
        "schema",
        "column x_x_nope reads nope, which is not in the schema: add it, or fix the name",
        "column d reads z, which is not in the schema: add it, or fix the name",
        'label big is derived from tips, which no request carries: add not_in_environment: "SERVING" to tips in the '
        "schema",
        "label big is derived from gone, which is not in the schema: add it",
    ]
    common = {"name": "t", "description": "", "config_class": TabularConfig, "schema_file": str(schema)}
    with pytest.raises(ValueError, match="label big has derive but no inputs"):
        tabular_task(columns=[Numeric("a")], label=Label("big", ("n", "y"), derive=tf.greater), **common)
    with pytest.raises(ValueError, match="derived column d cannot be optional"):
        tabular_task(columns=[Derived(Numeric("d", optional=True), tf.add, ("a", "b"))], label=Label("y"), **common)
    with pytest.raises(ValueError, match="buckets must be at least 2"):
        Bucketized("a", buckets=1)

"""A second tabular task, declared by the tests: Parquet files, a regression label with an auxiliary head.

It covers what `penguin` does not: Parquet input, a float label (RMSE thresholds, the `regression`
signature, the regression report), optional columns missing in some rows (filled and flagged in
Transform, NaN and "" at serving time), a learned and a declared vocabulary, wide & deep. Its ML
Metadata is on a real MariaDB (``--metadata mysql://...``; SQLite where MariaDB is not installed), and
a second run of the command line against it finds everything cached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from helpers import tabular_fixture
from helpers.mariadb import PASSWORD, missing_reason
from helpers.tabular_fixture import NAME

from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.local_runner import run_pipeline
from pipelines.pipeline import BASELINE_STATISTICS_ID, RESOLVER_ID

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tabular")]  # see pytest.ini
MODULE = tabular_fixture.__name__  # helpers.tabular_fixture: a task by module path, not a shipped one


@pytest.fixture(scope="module")
def prices_metadata(request: pytest.FixtureRequest) -> str:
    """The runs' metadata URL: a database on the session's MariaDB ("": SQLite, where MariaDB is not installed)."""
    return "" if missing_reason() else request.getfixturevalue("mariadb").create_database("prices")


@pytest.fixture(scope="module")
def prices_run(tmp_path_factory: pytest.TempPathFactory, prices_metadata: str) -> tuple:
    """The fixture task's pipeline on 600 rows of Parquet (span 1): (summary, output dir, input folder)."""
    folder = tmp_path_factory.mktemp("prices") / "in" / "span-1"
    folder.mkdir(parents=True)
    rows = tabular_fixture.rows(600)
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), str(folder / "prices.parquet"))
    spec = tasks.get(MODULE)  # a task by module path: Transform and the Trainer find it by the same path
    overrides = [f"data.input_base={folder.parent}", f"metadata.url={prices_metadata}"]
    config = apply_overrides(spec.default_config(), overrides)
    out = folder.parents[1] / "out"
    return run_pipeline(spec, config, str(out)), out, folder.parent


def test_the_regression_task_is_trained_evaluated_and_pushed(prices_run: tuple) -> None:
    summary, *_ = prices_run
    assert summary.succeeded and summary.blessed and summary.infra_blessed and summary.pushed, summary.describe()
    assert summary.components["ParquetExampleGen"] == "COMPLETE"
    # The price's spread is ~3.3; a model that learned the rule is far below it (the noise is 0.1).
    assert summary.metrics["root_mean_squared_error"] < 1.0, summary.metrics
    assert "mean_absolute_error" in summary.metrics
    report = Path(summary.artifacts["report"])
    for name in ("model.png", "training_curves.png", "price.png", "price_residuals.png"):
        assert (report / name).stat().st_size > 1000, name


def test_missing_optional_values_and_every_signature(prices_run: tuple) -> None:
    summary, *_ = prices_run
    model = tf.saved_model.load(summary.pushed_destination)
    assert {"serving_default", "serving_raw", "regression", "transform_features"} <= set(model.signatures)
    raw = model.signatures["serving_raw"](
        size=tf.constant([1.0, 1.0, 4.0]),
        age=tf.constant([30.0, np.nan, 10.0]),  # NaN: missing
        colour=tf.constant(["red", "red", "purple"]),  # purple: never seen, an OOV bucket
        plan=tf.constant(["basic", "", "pro"]),  # "": missing, taken as the default "basic"
    )
    price, aux = raw["price"].numpy(), raw["price_aux"].numpy()
    assert price.shape == (3,) and aux.shape == (3,) and np.all(np.isfinite(price))
    assert abs(price[0] - (2 + 1.5 + 3)) < 1.0  # the rule: 6.5
    assert abs(price[1] - price[0]) < 1.0  # a missing age is filled with the training mean (~30)

    def example(**features: tf.train.Feature) -> bytes:
        return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()

    one = example(
        size=tf.train.Feature(float_list=tf.train.FloatList(value=[1.0])),
        colour=tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"red"])),
    )  # no age, no plan: both optional
    parsed = model.signatures["serving_default"](examples=tf.constant([one]))
    np.testing.assert_allclose(parsed["price"].numpy().reshape(-1), price[1:2], atol=1e-4)  # the raw head, [1, 1]
    regressed = model.signatures["regression"](inputs=tf.constant([one]))["outputs"].numpy()
    np.testing.assert_allclose(regressed, price[1:2], atol=1e-4)


def test_on_mariadb_the_summary_and_the_cache_come_from_the_shared_database(
    prices_run: tuple, prices_metadata: str, capsys: pytest.CaptureFixture
) -> None:
    if not prices_metadata:
        pytest.skip(missing_reason())
    from pipelines.cli import main

    summary, out, input_base = prices_run
    assert summary.succeeded and summary.pushed, summary.describe()
    assert not (out / "metadata" / f"{tabular_fixture.NAME}.sqlite").exists()  # nothing went to SQLite
    argv = ["run", MODULE, "--metadata", prices_metadata, "--output-dir", str(out)]
    assert main([*argv, "--input-base", str(input_base)]) == 0  # nothing changed: nothing to do
    printed = capsys.readouterr().out
    assert "; ML Metadata: mysql://tfx@127.0.0.1:" in printed and PASSWORD not in printed
    states = {line.split()[1]: line.split()[2] for line in printed.splitlines() if line.startswith("[pipeline]")}
    assert list(states) == list(summary.components), states  # the progress lines read states from MySQL
    resolvers = {RESOLVER_ID, BASELINE_STATISTICS_ID}  # they resolve again; they have nothing to cache
    assert {node: "cached" for node in states if node not in resolvers} == {
        node: state for node, state in states.items() if node not in resolvers
    }
    assert "pushed: no (nothing changed since an earlier run, which already pushed or refused this model" in printed


def test_the_ui_shows_the_runs_on_mariadb_in_a_browser(prices_run: tuple, prices_metadata: str) -> None:
    """The UI over the shared database: run list, DAG states, a picture, the pushed model's lineage, metrics."""
    if not prices_metadata:
        pytest.skip(missing_reason())
    from helpers import ui_browser
    from ml_metadata import metadata_store

    from pipelines.metadata_store import connection_config
    from pipelines.run_records import read_runs
    from pipelines.ui.reads import Catalog
    from pipelines.ui.server import serve_in_background
    from pipelines.ui.stores import sources_for

    summary, out, input_base = prices_run
    store = metadata_store.MetadataStore(connection_config(prices_metadata, "", read_only=True))
    cached = [r.run_id for r in read_runs(store, NAME) if r.states().get("AtomicPusher") == "CACHED"]
    if not cached:  # run alone: the cached second run of the test above makes one
        from pipelines.cli import main

        argv = ["run", MODULE, "--metadata", prices_metadata, "--output-dir", str(out), "--input-base", str(input_base)]
        assert main(argv) == 0
        cached = [r.run_id for r in read_runs(store, NAME) if r.states().get("AtomicPusher") == "CACHED"]
    executed = {n for n, state in summary.components.items() if state == "COMPLETE"} - {
        RESOLVER_ID,
        BASELINE_STATISTICS_ID,
    }
    driver = ui_browser.chromium()
    ui = serve_in_background(Catalog(sources_for(str(out), prices_metadata), str(out)))
    try:
        ui_browser.check_ui(
            driver, ui.url.rstrip("/"), summary.run_id, cached[0], executed, NAME, "root_mean_squared_error"
        )
    finally:
        driver.quit()
        ui.stop()

"""A tabular task the tests declare on taxi-like trips: the column kinds a table needs beyond numbers and categories.

Predict whether the tip is over 20% of the fare, a label *derived* in Transform from two columns
(``tips``, which no request carries, and ``fare``); the pickup coordinates bucketized and crossed,
the trip length bucketized, the pickup time as hour, weekday and month, a derived fare per mile, and
an optional integer (``trip_seconds``, missing in a fifth of the rows) that a client may leave out.
The big tippers follow a known rule: paying by card in the evening, or picked up in the north-east
cell of the grid, so the buckets, the cross and the time carry the signal.
"""

from __future__ import annotations

import csv
import datetime
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipelines.config import ClassifierEval, FileData, TrainingConfig
from pipelines.tabular import (
    Bucketized,
    Categorical,
    Crossed,
    Derived,
    Label,
    Numeric,
    TabularConfig,
    TabularModelConfig,
    Timestamp,
    tabular_task,
)

NAME = "fixture_trips"
HERE = os.path.dirname(__file__)
COLUMNS = ("fare", "tips", "trip_miles", "trip_seconds", "pickup_lat", "pickup_lon", "payment_type", "pickup_time")


class TripsConfig(TabularConfig):
    """Small and quick: the e2e test sets data.input_base."""

    data: FileData = FileData(format="csv")
    model: TabularModelConfig = TabularModelConfig(architecture="wide_deep", hidden_units=[32, 16])
    training: TrainingConfig = TrainingConfig(epochs=25, batch_size=32, optimizer="adam", learning_rate=0.01)
    eval: ClassifierEval = ClassifierEval(min_accuracy=0.85)  # the majority class scores ~0.82


def big_tipper(tips: tf.Tensor, fare: tf.Tensor) -> tf.Tensor:
    return tf.cast(tips > 0.2 * fare, tf.int64)  # an empty fare (its marker, NaN) compares false: no


def _per_mile(fare: tf.Tensor, trip_miles: tf.Tensor) -> tf.Tensor:
    return fare / tf.maximum(trip_miles, 0.1)


SPEC = tabular_task(
    name=NAME,
    description="big tippers among taxi-like trips (a test fixture)",
    config_class=TripsConfig,
    columns=[
        Numeric("fare"),
        Bucketized("trip_miles", buckets=5),
        Numeric("trip_seconds", optional=True),
        Bucketized("pickup_lat", buckets=4),
        Bucketized("pickup_lon", buckets=4),
        Crossed(("pickup_lat", "pickup_lon"), hash_buckets=64),
        Categorical("payment_type", vocabulary=("card", "cash")),
        Timestamp("pickup_time"),
        Derived(Numeric("fare_per_mile"), _per_mile, inputs=("fare", "trip_miles")),
    ],
    label=Label("big_tipper", class_names=("no", "yes"), derive=big_tipper, inputs=("tips", "fare")),
    schema_file=os.path.join(HERE, "trips_fixture.schema.pbtxt"),
)

START = datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc)  # a Monday


def rows(count: int, seed: int = 0) -> list[dict]:
    """Trips whose tip is 25% of the fare (else 10%) for card payments after 18:00 or pickups in the NE cell."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        miles = float(rng.gamma(2.0, 2.0))
        fare = round(3.0 + 2.5 * miles + float(rng.normal(0, 1)), 2)
        lat, lon = float(rng.uniform(41.7, 42.1)), float(rng.uniform(-87.9, -87.5))
        when = START + datetime.timedelta(seconds=int(rng.integers(0, 180 * 86400)))
        payment = str(rng.choice(["card", "cash"], p=[0.6, 0.4]))
        big = (payment == "card" and when.hour >= 18) or (lat > 42.0 and lon > -87.6)
        tips = round(max(fare, 1.0) * (0.25 if big else 0.1) + float(rng.normal(0, 0.1)), 2)
        seconds = None if rng.random() < 0.2 else int(miles * 180 + rng.integers(0, 300))
        out.append({"fare": fare, "tips": tips, "trip_miles": round(miles, 3), "trip_seconds": seconds,
                    "pickup_lat": round(lat, 5), "pickup_lon": round(lon, 5), "payment_type": payment,
                    "pickup_time": int(when.timestamp())})  # fmt: skip
    return out


def write_span(folder: Path, records: list[dict]) -> Path:
    """``records`` as ``folder/trips.csv`` (an empty cell for a missing value)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trips.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow({k: "" if record[k] is None else record[k] for k in COLUMNS})
    return path

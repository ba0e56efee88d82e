"""A task whose label is one column's rule: whether the trip was paid by card (the trips fixture's rows).

No model can beat the one-column lookup ``payment_type`` here: it is the label. The Evaluator must
find that rule on the training split and refuse to bless a model that only ties it.
"""

from __future__ import annotations

import os

import tensorflow as tf

from helpers.trips_fixture import TripsConfig
from pipelines.config import ClassifierEval
from pipelines.tabular import Bucketized, Categorical, Label, Numeric, tabular_task

NAME = "fixture_card"
HERE = os.path.dirname(__file__)


class CardConfig(TripsConfig):
    """The trips fixture's settings; any accuracy passes the absolute bound."""

    eval: ClassifierEval = ClassifierEval(min_accuracy=0.5)


def _paid_by_card(payment_type: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.equal(payment_type, "card"), tf.int64)


SPEC = tabular_task(
    name=NAME,
    description="paid by card (a test fixture: the label is one column)",
    config_class=CardConfig,
    columns=[
        Numeric("fare"),
        Bucketized("trip_miles", buckets=5),
        Categorical("payment_type", vocabulary=("card", "cash")),
    ],
    label=Label("card", class_names=("no", "yes"), derive=_paid_by_card, inputs=("payment_type",)),
    schema_file=os.path.join(HERE, "trips_fixture.schema.pbtxt"),
)

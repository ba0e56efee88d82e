"""The trips fixture's table declared with numbers and categories only: the baseline of the new kinds' benchmark.

The same rows and label (still derived in Transform), but the coordinates and the trip length as
z-scores, no cross, the pickup time as a number of seconds and no fare per mile: what a user could
declare before Bucketized, Crossed, Timestamp and Derived existed (``benchmarks/tabular_kinds.py``).
"""

from __future__ import annotations

import os

from helpers.trips_fixture import HERE, TripsConfig, big_tipper
from pipelines.tabular import Categorical, Label, Numeric, tabular_task

NAME = "fixture_trips_plain"

SPEC = tabular_task(
    name=NAME,
    description="big tippers, numbers and categories only (a benchmark baseline)",
    config_class=TripsConfig,
    columns=[
        Numeric("fare"),
        Numeric("trip_miles"),
        Numeric("trip_seconds", optional=True),
        Numeric("pickup_lat"),
        Numeric("pickup_lon"),
        Categorical("payment_type", vocabulary=("card", "cash")),
        Numeric("pickup_time"),
    ],
    label=Label("big_tipper", class_names=("no", "yes"), derive=big_tipper, inputs=("tips", "fare")),
    schema_file=os.path.join(HERE, "trips_fixture.schema.pbtxt"),
)

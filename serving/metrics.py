"""Prometheus metrics with TF Serving's names, served at ``/monitoring/prometheus/metrics`` on the REST port.

* ``:tensorflow:serving:request_count{model_name, status}``: every Predict, Classify and Regress
  (gRPC) and every REST request, by status code name (``OK``, ``INVALID_ARGUMENT`` ...);
* ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: successful requests, in
  microseconds, with TF Serving's buckets (10 µs times 1.8^k); API ``Predict``/``Classify``/``Regress``
  on gRPC, ``predict``/``classify``/``regress`` or empty (status, metadata) on REST; entrypoint
  ``GRPC`` or ``REST``;
* ``:tensorflow:serving:runtime_latency{model_name, API, runtime}``: the model call alone.

``prometheus_client`` writes counters with a ``_total`` suffix and adds ``# HELP`` lines; TF
Serving's exporter does neither. Each server has its own registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = tuple(10 * 1.8**k for k in range(33))  # TF Serving's Exponential(10, 1.8, 33), microseconds
UNKNOWN_MODEL = "<unknown>"  # the label of every request for a model the server does not have


class ServingMetrics:
    """The server's request counts and latencies.

    Args:
        known: whether a model name is one the server has; requests for any other name are counted
            under one label, :data:`UNKNOWN_MODEL`, so made-up names cannot grow the metrics without end.
    """

    def __init__(self, known: Callable[[str], bool] | None = None) -> None:
        self.known = known
        self.registry = CollectorRegistry()
        self.requests = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self._runtime_children: dict[tuple[str, str], Any] = {}

    def request(self, model: str, status: str, api: str, entrypoint: str, micros: float | None) -> None:
        """Count a request; record its latency if it succeeded."""
        if self.known is not None and not self.known(model):
            model = UNKNOWN_MODEL
        count, latency = self._children(model, status, api, entrypoint)
        count.inc()
        if latency is not None and micros is not None:
            latency.observe(micros)

    def runtime(self, model: str, api: str, micros: float) -> None:
        """Record the model call's own time."""
        child = self._runtime_children.get((model, api))
        if child is None:
            child = self._runtime_children[(model, api)] = self.runtime_latency.labels(
                model_name=model, API=api, runtime="TF2"
            )
        child.observe(micros)

    def _children(self, model: str, status: str, api: str, entrypoint: str) -> tuple[Any, Any]:
        """The labelled series of a request, looked up once per label set (``labels()`` costs ~20 µs)."""
        key = (model, status, api, entrypoint)
        children = self._request_children.get(key)
        if children is None:
            count = self.requests.labels(model_name=model, status=status)
            latency = (
                self.request_latency.labels(model_name=model, API=api, entrypoint=entrypoint)
                if status == "OK"
                else None
            )
            children = self._request_children[key] = (count, latency)
        return children

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


class Timer:
    """Microseconds since creation (for the latency metrics)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def micros(self) -> float:
        """Elapsed microseconds."""
        return (time.perf_counter() - self.start) * 1e6

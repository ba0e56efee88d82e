"""Prometheus metrics with TF Serving's names, served at ``/monitoring/prometheus/metrics`` on the REST port.

* ``:tensorflow:serving:request_count{model_name, version, label, status}``: every Predict, Classify
  and Regress (gRPC) and every REST request, by status code name (``OK``, ``INVALID_ARGUMENT`` ...);
* ``:tensorflow:serving:request_latency{model_name, version, label, API, entrypoint}``: successful
  requests, in microseconds, with TF Serving's buckets (10 µs times 1.8^k); API
  ``Predict``/``Classify``/``Regress`` on gRPC, ``predict``/``classify``/``regress`` or empty (status,
  metadata) on REST; entrypoint ``GRPC`` or ``REST``;
* ``:tensorflow:serving:runtime_latency{model_name, API, runtime}``: the model call alone;
* ``:tfx_keras:request_log_records{model_name, outcome}``: request logging (``written``, ``dropped``
  when its queue was full, ``failed``, ``deleted_files`` by its disk bound).

``version`` and ``label`` are what TF Serving's metrics lack to compare a canary with stable: the
version that answered (empty when none did) and the label the request asked by (empty for none).
The series stay bounded: a label is one the model config has (a request naming another fails before
it is served), and only the newest ``MAX_VERSIONS`` versions of a model keep their series; an older
version's are removed when a newer one answers.

``prometheus_client`` writes counters with a ``_total`` suffix and adds ``# HELP`` lines; TF
Serving's exporter does neither. Each server has its own registry.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = tuple(10 * 1.8**k for k in range(33))  # TF Serving's Exponential(10, 1.8, 33), microseconds
UNKNOWN_MODEL = "<unknown>"  # the label of every request for a model the server does not have
MAX_VERSIONS = 4  # versions of a model with series of their own (the newest ones)

# The version that answered the request in progress and the label it asked by: [version, label], set by the
# API's handler on the event loop, read when the request is counted (gRPC and REST alike).
_SERVED: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("served", default=None)


def begin_request() -> list[Any]:
    """Start recording which version answers this request (call on the request's task)."""
    holder: list[Any] = ["", ""]
    _SERVED.set(holder)
    return holder


def served(version: int, label: str | None) -> None:
    """Record the version that answers the request in progress and the label it asked by."""
    holder = _SERVED.get()
    if holder is not None:
        holder[0], holder[1] = str(version), label or ""


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
            ["model_name", "version", "label", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "version", "label", "API", "entrypoint"],
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
        self.request_log = Counter(
            ":tfx_keras:request_log_records",
            "Sampled requests of the request log, by what became of them.",
            ["model_name", "outcome"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, ...], tuple[Any, Any]] = {}
        self._runtime_children: dict[tuple[str, str], Any] = {}
        self._versions: dict[str, list[str]] = {}  # model -> versions with series, oldest first

    def request(
        self,
        model: str,
        status: str,
        api: str,
        entrypoint: str,
        micros: float | None,
        version: str = "",
        label: str = "",
    ) -> None:
        """Count a request; record its latency if it succeeded."""
        if self.known is not None and not self.known(model):
            model, version, label = UNKNOWN_MODEL, "", ""
        count, latency = self._children(model, version, label, status, api, entrypoint)
        count.inc()
        if latency is not None and micros is not None:
            latency.observe(micros)

    def count_request_log(self, model: str, outcome: str) -> None:
        """Count what became of a sampled request (the request logger calls it from its thread)."""
        if self.known is not None and not self.known(model):
            model = UNKNOWN_MODEL
        self.request_log.labels(model_name=model, outcome=outcome).inc()

    def runtime(self, model: str, api: str, micros: float) -> None:
        """Record the model call's own time."""
        child = self._runtime_children.get((model, api))
        if child is None:
            child = self._runtime_children[(model, api)] = self.runtime_latency.labels(
                model_name=model, API=api, runtime="TF2"
            )
        child.observe(micros)

    def _children(
        self, model: str, version: str, label: str, status: str, api: str, entrypoint: str
    ) -> tuple[Any, Any]:
        """The labelled series of a request, looked up once per label set (``labels()`` costs ~20 µs)."""
        key = (model, version, label, status, api, entrypoint)
        children = self._request_children.get(key)
        if children is None:
            if version:
                self._keep_newest(model, version)
            count = self.requests.labels(model_name=model, version=version, label=label, status=status)
            latency = (
                self.request_latency.labels(
                    model_name=model, version=version, label=label, API=api, entrypoint=entrypoint
                )
                if status == "OK"
                else None
            )
            children = self._request_children[key] = (count, latency)
        return children

    def _keep_newest(self, model: str, version: str) -> None:
        """Note a version's first series; remove the series of versions beyond the newest ``MAX_VERSIONS``."""
        versions = self._versions.setdefault(model, [])
        if version in versions:
            return
        versions.append(version)
        versions.sort(key=int)
        while len(versions) > MAX_VERSIONS:
            old = versions.pop(0)
            for key in [k for k in self._request_children if k[0] == model and k[1] == old]:
                _, _, label, status, api, entrypoint = key
                count, latency = self._request_children.pop(key)
                try:
                    self.requests.remove(model, old, label, status)
                except KeyError:  # another key (API, entrypoint) shared this count series
                    pass
                if latency is not None:
                    try:
                        self.request_latency.remove(model, old, label, api, entrypoint)
                    except KeyError:
                        pass

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

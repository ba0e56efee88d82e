"""Versioned SavedModels on disk, loaded and swapped the way TensorFlow Serving does it.

A model is a folder ``<base_path>/<version>/`` of SavedModels with integer version names
(TF Serving's layout, which ``AtomicPusher`` writes). The store polls the folders, loads the
versions its version policy asks for, and swaps them in only once they have loaded:

* a version folder is considered only when its content has not changed for one poll
  (a copy still in progress is not loaded), and folders whose names are not integers
  (``AtomicPusher``'s staging folders, ``models.config``) are ignored;
* a version that fails to load is never served: the previous versions keep serving, the
  failure is reported by ``status()``, and the load is retried when the folder changes;
* requests in flight keep the version object they started with, so a swap never fails them.

Long because polling, loading, swapping and the version policy share one lock and one state.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

import tensorflow as tf
from tensorflow_serving.config import model_server_config_pb2

from common.layout import model_folders, version_dirs
from serving.graph_check import UnservableModelError, unservable_ops
from serving.request_log import LogConfig
from serving.servable import LoadedVersion, read_serving_meta_graph, signature_defs_of
from serving.status import ServableNotFoundError, UnknownVersionLabelError
from serving.warmup import replay_warmup

log = logging.getLogger(__name__)

LOADING, AVAILABLE, END = "LOADING", "AVAILABLE", "END"


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve: the latest ``num_latest``, all, or ``specific`` ones."""

    num_latest: int = 1
    all_versions: bool = False
    specific: tuple[int, ...] = ()

    def select(self, available: Iterable[int]) -> list[int]:
        """The versions to serve out of those on disk."""
        versions = sorted(set(available))
        if self.all_versions:
            return versions
        if self.specific:
            return [v for v in versions if v in self.specific]
        return versions[-self.num_latest :] if self.num_latest > 0 else []


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One model to serve: TF Serving's ``ModelConfig`` (name, base path, policy, labels, request logging)."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    request_log: LogConfig | None = None

    @classmethod
    def from_proto(cls, config: model_server_config_pb2.ModelConfig) -> ModelSource:
        """From TF Serving's ``ModelConfig`` proto (``model_platform`` must be tensorflow)."""
        if config.model_platform not in ("", "tensorflow"):
            raise ValueError(f"model {config.name!r}: model_platform {config.model_platform!r} is not supported")
        choice = config.model_version_policy.WhichOneof("policy_choice")
        if choice == "all":
            policy = VersionPolicy(all_versions=True)
        elif choice == "specific":
            policy = VersionPolicy(specific=tuple(config.model_version_policy.specific.versions))
        elif choice == "latest":
            policy = VersionPolicy(num_latest=config.model_version_policy.latest.num_versions or 1)
        else:
            policy = VersionPolicy()
        logging_config = LogConfig.from_proto(config.name, config.logging_config)
        return cls(config.name, config.base_path, policy, dict(config.version_labels), logging_config)


def read_model_config_file(path: str) -> list[ModelSource]:
    """Read a TF Serving ``--model_config_file`` (text ``ModelServerConfig``)."""
    from google.protobuf import text_format

    config = model_server_config_pb2.ModelServerConfig()
    with open(path, encoding="utf-8") as f:
        try:
            text_format.Parse(f.read(), config)
        except text_format.ParseError as exc:
            raise ValueError(f"{path} is not a valid TF Serving model config: {exc}") from exc
    return sources_from_config(config, os.path.dirname(os.path.abspath(path)))


def sources_from_config(config: model_server_config_pb2.ModelServerConfig, relative_to: str = ".") -> list[ModelSource]:
    """The models of a ``ModelServerConfig``; relative base paths are taken from ``relative_to``."""
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError("only model_config_list configs are supported")
    sources = []
    for model in config.model_config_list.config:
        source = ModelSource.from_proto(model)
        if not os.path.isabs(source.base_path):
            source = dataclasses.replace(source, base_path=os.path.join(relative_to, source.base_path))
        sources.append(source)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    return sources


def sources_from_root(root: str) -> list[ModelSource]:
    """Every model folder under a serving root (``<root>/<model>/<version>/``), latest version each."""
    return [ModelSource(name, path) for name, path in model_folders(root).items()]


@dataclasses.dataclass
class VersionStatus:
    """What ``GetModelStatus`` reports for one version."""

    version: int
    state: str
    error: str = ""


def load_version(model_name: str, version: int, path: str) -> LoadedVersion:
    """Load one version folder and replay its warmup requests; raises if it cannot serve.

    As TF Serving: the requests in ``assets.extra/tf_serving_warmup_requests`` (at most 1,000) are run
    once each before the version is marked AVAILABLE, so the first real request does not pay for
    tracing and memory allocation; a failing warmup request fails the load.
    """
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path} has no saved_model.pb (not a SavedModel, or still being written)")
    meta_graph = read_serving_meta_graph(path)  # read once: the signatures, and the ops they reach
    signature_defs = signature_defs_of(meta_graph)
    unservable = unservable_ops(meta_graph)
    if unservable:  # as TF Serving refuses the graph at load ("Op type not registered"), whatever the branch
        raise UnservableModelError("; ".join(map(str, unservable)))
    saved_model = tf.saved_model.load(path)
    loaded = LoadedVersion(model_name, version, path, saved_model, signature_defs)
    loaded.warmup_records = replay_warmup(loaded)
    return loaded


def _content_fingerprint(path: str) -> tuple:
    entries = []
    for dirpath, _, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


class _ModelState:
    def __init__(self, source: ModelSource) -> None:
        self.source = source
        # (version -> loaded, label -> version): replaced whole, never mutated, so readers need no lock and
        # never see a label whose version has left.
        self.view: tuple[dict[int, LoadedVersion], dict[str, int]] = ({}, {})
        self.seen: dict[int, tuple] = {}  # version -> content fingerprint at the previous poll
        self.failed: dict[int, tuple[tuple, str]] = {}  # version -> (fingerprint that failed, error)
        self.statuses: dict[int, VersionStatus] = {}

    @property
    def serving(self) -> dict[int, LoadedVersion]:
        """The versions served now."""
        return self.view[0]

    @property
    def labels(self) -> dict[str, int]:
        """Label -> the version it serves (the config's, once that version loaded)."""
        return self.view[1]


class ModelStore:
    """Loads, serves and hot-swaps model versions from disk.

    Args:
        sources: the models to serve (or a callable returning them, re-evaluated at every poll,
            e.g. ``lambda: sources_from_root(root)`` to pick up new model folders).
        poll_seconds: how often the folders are checked (TF Serving: ``file_system_poll_wait_seconds``).
        loader: loads one version (tests replace it to observe or break loading).
    """

    def __init__(
        self,
        sources: Sequence[ModelSource] | Callable[[], Sequence[ModelSource]],
        poll_seconds: float = 1.0,
        loader: Callable[[str, int, str], LoadedVersion] = load_version,
    ) -> None:
        self._sources = sources
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._models: dict[str, _ModelState] = {}
        self._lock = threading.Lock()  # one poll at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load what is on disk now (versions are not held back on the first poll), then poll."""
        self.poll(settle=False)
        self._thread = threading.Thread(target=self._run, name="model-store-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (loaded versions stay usable until dropped)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # a poll must never kill the server
                log.exception("model poll failed")

    def set_sources(self, sources: Sequence[ModelSource]) -> None:
        """Replace the model list (ModelService.HandleReloadConfigRequest) and load it now."""
        self._sources = list(sources)
        self.poll(settle=False)

    def _current_sources(self) -> list[ModelSource]:
        return list(self._sources() if callable(self._sources) else self._sources)

    # -- polling -----------------------------------------------------------------------------
    def poll(self, settle: bool = True) -> None:
        """Check every model folder once: load new versions, swap them in, drop old ones.

        Args:
            settle: only load a version whose folder has not changed since the previous poll.
        """
        with self._lock:
            sources = {s.name: s for s in self._current_sources()}
            for name in list(self._models):
                if name not in sources:
                    del self._models[name]  # in-flight requests keep their LoadedVersion
            for name, source in sources.items():
                state = self._models.get(name)
                if state is None or state.source != source:
                    previous = state
                    state = _ModelState(source)
                    if previous and previous.source.base_path == source.base_path:  # a new policy or labels
                        state.view, state.seen, state.statuses = previous.view, previous.seen, previous.statuses
                    if previous is None:  # a new model: known (NOT_FOUND, "waiting for") while it loads
                        self._models[name] = state
                    # A changed one is published once polled: no request sees labels before their versions load.
                    self._poll_model(state, settle)
                    self._models[name] = state
                else:
                    self._poll_model(state, settle)

    def _poll_model(self, state: _ModelState, settle: bool) -> None:
        on_disk = version_dirs(state.source.base_path)
        fingerprints = {v: _content_fingerprint(p) for v, p in on_disk.items()}
        wanted = state.source.policy.select(on_disk)
        serving = {v: lv for v, lv in state.serving.items() if v in wanted}
        for version in wanted:
            if version in serving:
                continue
            fingerprint = fingerprints[version]
            stable = state.seen.get(version) == fingerprint
            if settle and not stable:
                state.statuses[version] = VersionStatus(version, LOADING)
                continue
            failed = state.failed.get(version)
            if failed and failed[0] == fingerprint:
                continue  # same content failed before; retry when it changes
            state.statuses[version] = VersionStatus(version, LOADING)
            try:
                serving[version] = self._loader(state.source.name, version, on_disk[version])
            except Exception as exc:  # broken or half-written: never served, reported
                message = f"{type(exc).__name__}: {exc}"
                state.failed[version] = (fingerprint, message)
                state.statuses[version] = VersionStatus(version, END, message)
                log.warning("model %s version %d failed to load: %s", state.source.name, version, message)
                continue
            state.failed.pop(version, None)
            log.info("model %s version %d loaded from %s", state.source.name, version, on_disk[version])
        # Availability first (as TF Serving): an old version leaves only once its replacement loaded.
        missing = len(wanted) - len(serving)
        if missing > 0:
            keep = sorted((v for v in state.serving if v not in serving and v in on_disk), reverse=True)[:missing]
            serving.update({v: state.serving[v] for v in keep})
        # A label names a version only once it serves (as TF Serving, which refuses a label for a version that
        # is not available): until the new one loads, the label keeps its version, if that one still serves.
        labels = {}
        for label, version in state.source.labels.items():
            if version in serving:
                labels[label] = version
            elif state.labels.get(label) in serving:
                labels[label] = state.labels[label]
                log.warning("model %s: label %s stays on version %d until version %d loads",
                            state.source.name, label, state.labels[label], version)  # fmt: skip
        state.view = (serving, labels)  # the swap: one reference assignment
        for version in sorted({*state.statuses, *serving}):
            if version in serving:
                state.statuses[version] = VersionStatus(version, AVAILABLE)
            elif state.statuses[version].state == AVAILABLE:
                state.statuses[version] = VersionStatus(version, END)
        state.seen = fingerprints

    # -- lookups -----------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        """Names of the configured models."""
        return sorted(self._models)

    def readiness(self) -> dict[str, int | None]:
        """Model name -> the newest version it serves (loaded, warmup replayed), or None while it has none."""
        return {name: max(state.serving) if state.serving else None for name, state in sorted(self._models.items())}

    def is_ready(self) -> bool:
        """Whether every configured model serves a version (and at least one model is configured)."""
        models = self.readiness()
        return bool(models) and all(version is not None for version in models.values())

    def request_log(self, name: str) -> LogConfig | None:
        """The request logging of a model (None: its requests are not logged)."""
        state = self._models.get(name)
        return state.source.request_log if state else None

    def has_model(self, name: str) -> bool:
        """Whether ``name`` is a configured model (a dict lookup: cheap enough for every request)."""
        return name in self._models

    def get(self, name: str, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """The version a request asks for: a specific one, one by label, or the latest loaded."""
        state = self._models.get(name)
        serving, labels = state.view if state else ({}, {})
        if label:
            if state is None:
                raise ServableNotFoundError(f"Servable not found for request: Latest({name})")
            version = labels.get(label)
            if version is None:
                raise UnknownVersionLabelError(f"Unrecognized servable version label: {label}")
        if version is not None:
            if version not in serving:
                raise ServableNotFoundError(f"Servable not found for request: Specific({name}, {version})")
            return serving[version]
        if not serving:
            raise ServableNotFoundError(f"Servable not found for request: Latest({name})")
        return serving[max(serving)]

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Version states as ``GetModelStatus`` reports them."""
        state = self._models.get(name)
        if state is None or not state.statuses:
            raise ServableNotFoundError(f"Could not find any versions of model {name}")
        if version is not None:
            if version not in state.statuses:
                raise ServableNotFoundError(f"Could not find version {version} of model {name}")
            return [state.statuses[version]]
        return [state.statuses[v] for v in sorted(state.statuses, reverse=True)]

"""Roll a served model back: the bad versions leave the serving folder, and ML Metadata remembers them.

``tfx-keras serving rollback MODEL [--to VERSION]`` moves every version newer than the target (by
default: the previously pushed one) out of ``<serving root>/MODEL/`` into
``<serving root>/.rolled_back/MODEL/`` (a rename: a server that polls the folder, as TF Serving
and ``tfx-keras serve`` do, loads the target before it drops the newer one), and marks the
rolled-back versions' Model and PushedModel artifacts in the pipeline's ML Metadata
(``rolled_back = 1``). The Evaluator's baseline resolver then never takes such a model, the drift
baseline follows the model served again, and the AtomicPusher never pushes it again.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from common.layout import ROLLED_BACK_DIR, version_dirs
from common.metadata_names import PUSHER_ID, ROLLED_BACK_KEY
from common.settings import ConfigError


@dataclasses.dataclass
class Rollback:
    """What a rollback did."""

    model: str
    serving: int  # the version served now
    moved: dict[int, str]  # rolled-back version -> where its folder went
    marked: list[int]  # ids of the Model artifacts marked rolled back


def pushed_models(store: Any, pipeline: str, versions: set[int]) -> dict[int, tuple[Any, Any]]:
    """Version -> (PushedModel, Model) of the pushes of ``versions`` recorded for ``pipeline``."""
    from ml_metadata.proto import metadata_store_pb2

    context = store.get_context_by_type_and_name("node", f"{pipeline}.{PUSHER_ID}")
    if context is None:
        return {}
    found: dict[int, tuple[Any, Any]] = {}
    for execution in store.get_executions_by_context(context.id):
        events = store.get_events_by_execution_ids([execution.id])
        inputs = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT]
        outputs = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
        for pushed in store.get_artifacts_by_id(outputs):
            value = pushed.custom_properties.get("pushed_version")
            version = value.string_value or str(value.int_value) if value is not None else ""
            if version.isdigit() and int(version) in versions:
                types = {t.id: t.name for t in store.get_artifact_types()}
                read = store.get_artifacts_by_id(inputs)
                # The Pusher reads the Evaluator's blessing, which names the model it judged (or the model itself).
                ids = [
                    a.custom_properties["current_model_id"].int_value
                    for a in read
                    if types.get(a.type_id) == "ModelBlessing"
                ]
                models = [a for a in read if types.get(a.type_id) == "Model"] or store.get_artifacts_by_id(
                    [i for i in ids if i]
                )
                if models:
                    found[int(version)] = (pushed, models[0])
    return found


def rollback(serving_root: str, model: str, to: int | None = None, store: Any = None) -> Rollback:
    """Serve version ``to`` (default: the one before the newest) of ``model`` again; see the module docstring.

    Raises:
        ConfigError: no such model folder, no earlier version, ``to`` is not a version on disk or is the
            newest, or ML Metadata holds no push of a version to roll back.
    """
    folder = os.path.join(serving_root, model)
    versions = sorted(version_dirs(folder)) if os.path.isdir(folder) else []
    if not versions:
        raise ConfigError(f"no versions of {model} under {serving_root}: check --model-base-path and the model name")
    if to is None:
        if len(versions) < 2:
            raise ConfigError(f"{model} has one version ({versions[0]}): there is no earlier version to serve")
        to = versions[-2]
    if to not in versions:
        raise ConfigError(f"{model} has no version {to} under {folder}: its versions are {versions}")
    newer = [v for v in versions if v > to]
    if not newer:
        raise ConfigError(f"version {to} is the newest of {model} already: nothing to roll back")
    marked = []
    if store is not None:
        pushes = pushed_models(store, model, set(newer))
        missing = sorted(set(newer) - set(pushes))
        if missing:
            raise ConfigError(
                f"ML Metadata holds no push of {model} version(s) {missing}: give the --output-dir (or "
                "--metadata) of the runs that pushed them, so that the rollback is remembered"
            )
        blessings = store.get_artifacts_by_type("ModelBlessing")
        for pushed, trained in pushes.values():
            judged = [b for b in blessings if b.custom_properties["current_model_id"].int_value == trained.id]
            for artifact in (pushed, trained, *judged):  # the blessing too: the Pusher reads it
                artifact.custom_properties[ROLLED_BACK_KEY].int_value = 1
                artifact.custom_properties["rolled_back_at"].string_value = time.strftime("%Y-%m-%d %H:%M:%S UTC")
            store.put_artifacts([pushed, trained, *judged])
            marked.append(trained.id)
    moved = {}
    kept = os.path.join(serving_root, ROLLED_BACK_DIR, model)
    os.makedirs(kept, exist_ok=True)
    for version in sorted(newer, reverse=True):  # newest first: the server never sees a gap
        target = os.path.join(kept, str(version))
        if os.path.exists(target):
            target = f"{target}.{int(time.time())}"
        os.rename(os.path.join(folder, str(version)), target)
        moved[version] = target
    return Rollback(model, to, moved, marked)

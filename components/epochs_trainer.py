"""TFX's Trainer with ``epochs`` as its own execution property, so it can be a runtime parameter.

The task's configuration travels to ``run_fn`` as JSON inside ``custom_config``; a
``RuntimeParameter`` nested in that dict is not a pipeline parameter on Kubeflow Pipelines v2
(it is serialised as a constant). A top-level integer execution property is: on Vertex AI,
``epochs`` becomes an input of the compiled pipeline that users set per run. The executor
writes it into the training configuration before the standard ``GenericExecutor`` runs.
"""

from __future__ import annotations

import json
from typing import Any

from tfx.components import Trainer as TfxTrainer
from tfx.components.trainer.executor import GenericExecutor
from tfx.dsl.components.base.executor_spec import ExecutorClassSpec
from tfx.types.component_spec import ExecutionParameter
from tfx.types.standard_component_specs import TrainerSpec
from tfx.utils import json_utils

from common.contract import CONFIG_KEY

EPOCHS_KEY = "epochs"


class EpochsTrainerSpec(TrainerSpec):
    """TrainerSpec plus an optional integer ``epochs``."""

    PARAMETERS = {**TrainerSpec.PARAMETERS, EPOCHS_KEY: ExecutionParameter(type=int, optional=True)}


def apply_epochs(custom_config_json: str, epochs: Any) -> str:
    """``custom_config`` (JSON) with the task configuration's ``training.epochs`` replaced."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is invalid: must be an integer >= 1")
    custom = json_utils.loads(custom_config_json)
    config = json.loads(custom[CONFIG_KEY])
    config["training"]["epochs"] = epochs
    custom[CONFIG_KEY] = json.dumps(config, sort_keys=True)
    return json_utils.dumps(custom)


class EpochsExecutor(GenericExecutor):
    """GenericExecutor that first applies the ``epochs`` execution property."""

    def Do(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        """Apply ``epochs`` (if set) to the training configuration, then train as usual."""
        exec_properties = dict(exec_properties)
        epochs = exec_properties.pop(EPOCHS_KEY, None)
        if epochs is not None:
            exec_properties["custom_config"] = apply_epochs(exec_properties["custom_config"], int(epochs))
        super().Do(input_dict, output_dict, exec_properties)


class Trainer(TfxTrainer):
    """``tfx.components.Trainer`` with an ``epochs`` parameter (an int or a ``RuntimeParameter``)."""

    EXECUTOR_SPEC = ExecutorClassSpec(EpochsExecutor)

    def __init__(self, *, epochs: Any = None, **kwargs: Any) -> None:
        """Args: ``epochs`` overrides the training configuration's; the rest as ``tfx.components.Trainer``."""
        super().__init__(**kwargs)
        # Built as a plain Trainer, then its spec is extended (SPEC_CLASS stays TrainerSpec, a base
        # of EpochsTrainerSpec, so TFX's checks of the constructor still apply).
        self.spec = EpochsTrainerSpec(
            **self.spec.exec_properties, **self.spec.inputs, **self.spec.outputs, **{EPOCHS_KEY: epochs}
        )

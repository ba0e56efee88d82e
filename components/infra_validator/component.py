"""InfraValidator: try the candidate in a real server before it may be pushed; write its warmup requests.

TFX's InfraValidator starts TensorFlow Serving in Docker or on Kubernetes, which cannot run here, and
the Kubeflow v2 compiler does not support it. This component does the same job with the project's
development server (TF Serving's gRPC and REST APIs, ``serving/``), in a separate process with a
time limit, on the local runner and in the compiled Kubeflow/Vertex pipelines alike:

1. the model is copied to ``<blessing>/stamped_model/`` with ``assets.extra/tf_serving_warmup_requests``
   (TF Serving's format: PredictionLog records built from real evaluation examples), as TFX's
   InfraValidator does with ``request_spec.make_warmup``;
2. ``python -m serving.validate`` checks the graph (ops TF Serving lacks, files outside the model,
   the task's output contract), serves a sealed copy of the stamped model, times it against the
   latency budget, sends requests built from the same examples to every signature over gRPC and
   REST at three batch sizes, and compares every answer with the model called in-process (and
   ``serving_raw`` with ``serving_default``);
3. the InfraBlessing says ``blessed`` (1 or 0) with the reason, and ``has_model`` = 1, so the Pusher
   pushes the stamped model (the one that was tried, warmup requests included).

A model the Evaluator did not bless is not tried (the blessing says why).
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.infra_validator import executor


class InfraValidatorSpec(ComponentSpec):
    """Inputs, outputs and parameters of :class:`InfraValidator`."""

    PARAMETERS = {
        "split": ExecutionParameter(type=str),
        "num_examples": ExecutionParameter(type=int),
        "timeout_seconds": ExecutionParameter(type=int),
        "max_latency_ms": ExecutionParameter(type=float),
        "max_memory_mb": ExecutionParameter(type=float, optional=True),
        "contract": ExecutionParameter(type=str),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {"blessing": ChannelParameter(type=standard_artifacts.InfraBlessing)}


class InfraValidator(base_component.BaseComponent):
    """Serves the candidate in a separate process and compares its answers with the model's own."""

    SPEC_CLASS = InfraValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        model_blessing: types.BaseChannel | None = None,
        split: str = "eval",
        num_examples: int = 16,
        timeout_seconds: int = 180,
        max_latency_ms: float = 500.0,
        contract: str = "{}",
        max_memory_mb: float | None = None,
    ) -> None:
        """Build the component.

        Args:
            model: the candidate (the Trainer's model).
            examples: raw examples; ``num_examples`` of the ``split`` split become the requests.
            model_blessing: the Evaluator's blessing; a model it did not bless is not tried.
            split: the split the requests are built from.
            num_examples: how many examples (also the warmup requests' batch).
            timeout_seconds: the whole validation's time limit (load, warmup, requests).
            max_latency_ms: the 99th-percentile budget of a Predict request at batch 1 and the largest batch.
            contract: JSON, signature -> output -> dtype the task declares (what clients read); "{}": none.
            max_memory_mb: the resident memory the serving process may reach (None: no limit).
        """
        super().__init__(
            spec=InfraValidatorSpec(
                model=model,
                examples=examples,
                model_blessing=model_blessing,
                split=split,
                num_examples=num_examples,
                timeout_seconds=timeout_seconds,
                max_latency_ms=max_latency_ms,
                contract=contract,
                max_memory_mb=max_memory_mb,
                blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            )
        )

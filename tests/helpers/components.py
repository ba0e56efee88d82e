"""The components every task's pipeline has, written once for the tests that check a pipeline's shape."""

from __future__ import annotations

# After the task's ExampleGen, in the order they run (the Tuner joins before the Trainer when tuning is on).
AFTER_EXAMPLE_GEN = (
    "StatisticsGen",
    "ImportSchemaGen",
    "previous_validated_statistics",
    "DataValidator",
    "Transform",
    "Trainer",
    "latest_blessed_model_resolver",
    "Evaluator",
    "InfraValidator",
    "AtomicPusher",
)


def pipeline_components(example_gen: str) -> set[str]:
    """The component ids of a task's pipeline whose ExampleGen is ``example_gen``."""
    return {example_gen, *AFTER_EXAMPLE_GEN}

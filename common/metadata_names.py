"""Names that the pipeline writes into ML Metadata and that its readers (the run summary, the UI) read back.

Kept here, with no import of TFX, so a reader of ML Metadata needs neither the components nor the
pipeline factory.
"""

from __future__ import annotations

VALIDATOR_ID = "DataValidator"  # the node id of the data validator in every pipeline
TRANSFORM_ID = "Transform"
PUSHER_ID = "AtomicPusher"
EVALUATOR_ID = "Evaluator"
RESOLVER_ID = "latest_blessed_model_resolver"  # the baseline model for the Evaluator
BASELINE_STATISTICS_ID = "previous_validated_statistics"  # the last validated data, for drift
# What the pipeline factory wires that ML Metadata may never show: a resolver records its outputs only
# when it resolved something (a first run has no baseline), and the validator gates the Transform by
# order alone. (upstream node, downstream node); the UI's DAG draws them dashed where no event shows them.
DECLARED_EDGES = (
    (RESOLVER_ID, EVALUATOR_ID),  # baseline_model
    (BASELINE_STATISTICS_ID, VALIDATOR_ID),  # baseline_statistics
    (BASELINE_STATISTICS_ID, EVALUATOR_ID),  # previous_examples
    (VALIDATOR_ID, TRANSFORM_ID),  # transform.add_upstream_node(data_validator)
)
INPUT_PROPERTY = "input_files"  # custom property of a file ExampleGen's Examples: what was read, per split
# Custom property of a Model and its PushedModel that `tfx-keras serving rollback` took out of serving:
# never the Evaluator's baseline again, never pushed again.
ROLLED_BACK_KEY = "rolled_back"

"""Names that the pipeline writes into ML Metadata and that its readers (the run summary, the UI) read back.

Kept here, with no import of TFX, so a reader of ML Metadata needs neither the components nor the
pipeline factory.
"""

from __future__ import annotations

VALIDATOR_ID = "DataValidator"  # the node id of the data validator in every pipeline
TRANSFORM_ID = "Transform"
PUSHER_ID = "AtomicPusher"
INPUT_PROPERTY = "input_files"  # custom property of a file ExampleGen's Examples: what was read, per split

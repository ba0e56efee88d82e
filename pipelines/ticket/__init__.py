"""Support-ticket triage (synthetic tickets with a known labelling rule): 3 inputs, 2 (or 3) outputs.

Everything the project knows about this task is in this folder: the spec below, the config
(``config.py``), the generator and its ceiling (``generator.py``), the Transform step
(``preprocessing.py``), the model hooks and signatures (``model.py``) and the curated schema
(``schema.pbtxt``). The model builder is ``models/multi_input.py``.
"""

from __future__ import annotations

import os

from pipelines.spec import GeneratorSource, TaskSpec
from pipelines.ticket import model
from pipelines.ticket.config import TicketConfig

SPEC = TaskSpec(
    name="ticket",
    description="support-ticket triage, 3 inputs / 2 outputs (synthetic tickets with a known ceiling)",
    config_class=TicketConfig,
    source=GeneratorSource(module="pipelines.ticket.generator"),
    preprocessing_fn="pipelines.ticket.preprocessing.preprocessing_fn",
    schema_file=os.path.join(os.path.dirname(__file__), "schema.pbtxt"),
    build_model=model.build_model,
    compile_args=model.compile_args,
    inputs=model.inputs,
    labels=model.labels,
    eval_config=model.eval_config,
    serving=model.serving,
    report=model.report,
)

"""``docs/serving-contract.md`` against the models the pipelines push: one section per task, generated.

A test calls :func:`check_section` with a pushed model; the section must equal what
:func:`serving.contract.describe` reads from the model. After a deliberate change of a task's
signatures or features: ``UPDATE_DOCS=1 ./scripts/test.sh tests/e2e/test_serving_e2e.py
tests/e2e/test_ticket_serving_e2e.py`` rewrites the sections.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from serving.contract import describe

DOC = Path(__file__).resolve().parents[2] / "docs" / "serving-contract.md"
HEADER = """# The serving contract of each task

What a client sends and gets back, read from the models the pipelines push (their SignatureDefs and
the tf.Example features `serving_default` parses), and checked against them by the end-to-end tests
(`tests/helpers/contract_doc.py`). `?` is any size (the batch); `python -m serving.contract
outputs/serving/<task>/<version> <task>` prints the same for your model.
"""


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"(?m)^(?=## )", text)
    return {part.split("\n", 1)[0][3:].strip(): part.rstrip() + "\n" for part in parts if part.startswith("## ")}


def check_section(task: str, model_dir: str) -> None:
    """Assert the doc's section ``task`` is the model's contract; with ``UPDATE_DOCS=1``, write it instead."""
    expected = describe(model_dir, task)
    if os.environ.get("UPDATE_DOCS") == "1":
        with open(DOC, "a+") as f:  # xdist workers may update their tasks' sections at the same time
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            sections = _sections(f.read())
            sections[task] = expected
            f.seek(0)
            f.truncate()
            f.write(HEADER + "".join(f"\n{sections[name]}" for name in sorted(sections)))
        return
    documented = _sections(DOC.read_text()).get(task)
    assert documented == expected, (
        f"docs/serving-contract.md does not describe the {task} model the pipeline pushed; after a deliberate "
        f"change: UPDATE_DOCS=1 ./scripts/test.sh tests/e2e. The model's contract:\n{expected}"
    )

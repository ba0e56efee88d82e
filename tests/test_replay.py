"""The replay of a compiled KFP v2 spec: the DAG's order, the resolvers' queries, and its errors (no pipeline run).

The replay of a real compiled spec, task by task with TFX's entry point, is tests/e2e/test_kubeflow_replay_e2e.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.replay import ReplayError, fill_filter, matches, order_tasks, replay


def test_tasks_run_after_the_tasks_they_depend_on_and_a_cycle_is_named() -> None:
    tasks = {"c": {"dependentTasks": ["b"]}, "a": {}, "b": {"dependentTasks": ["a"]}}
    assert order_tasks(tasks) == ["a", "b", "c"]
    with pytest.raises(ReplayError, match=r"cycle among \['x', 'y'\]"):
        order_tasks({"x": {"dependentTasks": ["y"]}, "y": {"dependentTasks": ["x"]}})


def test_the_resolvers_queries_are_answered_from_recorded_artifacts() -> None:
    blessing = {"id": 3, "type": "tfx.ModelBlessing", "name": "r1/Evaluator/blessing",
                "metadata": {"blessed": 1.0, "current_model_id": "r1/Trainer/model"}}  # fmt: skip
    refused = {**blessing, "id": 4, "metadata": {"blessed": 0.0}}
    model = {"id": 2, "type": "tfx.Model", "name": "r1/Trainer/model", "metadata": {}}
    query = 'schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1'
    assert [a["id"] for a in (blessing, refused, model) if matches(a, query)] == [3]
    by_name = (
        'schema_title="tfx.Model" AND state=LIVE AND '
        "name=\"{{$.inputs.artifacts['input'].metadata['current_model_id']}}\""
    )
    filled = fill_filter(by_name, {"input": [blessing]})
    assert filled is not None and matches(model, filled) and not matches({**model, "name": "r2/Trainer/model"}, filled)
    assert fill_filter(by_name, {"input": []}) is None  # no blessed model yet: the first run resolves nothing


def _spec(tmp_path: Path, command: list[str]) -> Path:
    component = {"executorLabel": "Boom_executor", "outputDefinitions": {"artifacts": {}}}
    job = {
        "runtimeConfig": {"gcsOutputDirectory": "gs://b/p/pipelines/t"},
        "pipelineSpec": {
            "pipelineInfo": {"name": "t"},
            "root": {"dag": {"tasks": {"Boom": {"componentRef": {"name": "Boom"}}}}},
            "components": {"Boom": component},
            "deploymentSpec": {"executors": {"Boom_executor": {"container": {"command": command, "args": []}}}},
        },
    }
    path = tmp_path / "t_pipeline.json"
    path.write_text(json.dumps(job))
    return path


@pytest.mark.reliability
def test_a_failing_task_is_named_with_its_command_exit_code_and_last_lines(tmp_path: Path) -> None:
    spec = _spec(tmp_path, [sys.executable, "-c", "import sys; print('the executor said why'); sys.exit(3)"])
    with pytest.raises(ReplayError) as failed:
        replay(str(spec), str(tmp_path / "root"), {}, {})
    message = str(failed.value)
    assert message.startswith("task Boom failed (exit 3): ") and "nothing later ran" in message
    assert "the executor said why" in message


@pytest.mark.reliability
def test_a_file_that_is_not_a_compiled_spec_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "x.json").write_text('{"not": "a spec"}')
    assert main(["replay", str(tmp_path / "x.json"), "--pipeline-root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err
    assert "is not a spec written by `tfx-keras compile`" in err and "Traceback" not in err
    assert main(["replay", str(tmp_path / "missing.json"), "--pipeline-root", str(tmp_path)]) == 2
    assert "is not a spec written by `tfx-keras compile`" in capsys.readouterr().err

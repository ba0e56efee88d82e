"""The serving contract read from a SavedModel: signatures, tensors and the tf.Example features."""

from __future__ import annotations

from pathlib import Path

from helpers.toy_model import write_toy_model

from serving.contract import describe, example_features, main


def test_the_contract_is_read_from_the_model(tmp_path: Path) -> None:
    model = write_toy_model(str(tmp_path / "toy"), 1)
    text = describe(model, "toy")
    assert text.startswith("## toy\n")
    assert "| `serving_raw` | predict | `x` float32 [?, 2] | `scores` float32 [?, 2]<br>`y` float32 [?] |" in text
    assert "| `classification` | classify | `inputs` string [?] |" in text and "| `regression` | regress |" in text
    assert "| `x` | float32 | shape [2] | `[0.0, 0.0]` |" in text  # how serving_default parses each example
    assert example_features(model)["x"] == {"dtype": "float32", "kind": "fixed", "shape": [2], "default": [0.0, 0.0]}


def test_the_command_prints_it_and_refuses_bad_usage(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    model = write_toy_model(str(tmp_path / "toy"), 3)
    assert main([model]) == 0 and capsys.readouterr().out.startswith("## 3\n")
    assert main([]) == 2 and "usage: python -m serving.contract" in capsys.readouterr().err

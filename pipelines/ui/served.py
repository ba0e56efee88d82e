"""What the Served page adds to the versions on disk: their labels, the labels' moves, and the monitor's skew.

* labels: ``version_labels`` of ``<serving root>/models.config``, the model config file that
  ``tfx-keras serving label`` moves and TF Serving and ``tfx-keras serve --model-config-file`` read;
* moves: ``models.config.labels.jsonl``, one record per move (when, who, the label, from, to);
* skew: the newest ``tfx-keras monitor`` result of each served version, ``<output-dir>/monitor/<model>/
  <version>-<time>/skew.json`` beside its data report.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

from common.layout import MONITOR_DIR
from serving.tf_serving_config import CONFIG_NAME

MAX_MOVES = 50


def labels(serving_root: str) -> dict[str, dict[int, list[str]]]:
    """Model -> version -> the labels that name it, in the serving root's model config (empty without one)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = os.path.join(serving_root, CONFIG_NAME)
    config = model_server_config_pb2.ModelServerConfig()
    try:
        with open(path, encoding="utf-8") as f:
            text_format.Parse(f.read(), config)
    except (OSError, text_format.ParseError):
        return {}
    found: dict[str, dict[int, list[str]]] = {}
    for model in config.model_config_list.config:
        for label, version in sorted(model.version_labels.items()):
            found.setdefault(model.name, {}).setdefault(version, []).append(label)
    return found


def label_moves(serving_root: str) -> list[dict[str, Any]]:
    """The newest label moves recorded beside the model config, newest first (lines that do not parse: skipped)."""
    moves = []
    try:
        with open(os.path.join(serving_root, f"{CONFIG_NAME}.labels.jsonl"), encoding="utf-8") as f:
            for line in f:
                try:
                    moves.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except OSError:
        return []
    return list(reversed(moves[-MAX_MOVES:]))


def skew_results(output_dir: str) -> dict[tuple[str, int], dict[str, Any]]:
    """(model, version) -> its newest monitor result: requests, skewed features, anomalies, the report's path."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for path in sorted(glob.glob(os.path.join(output_dir, MONITOR_DIR, "*", "*", "skew.json"))):  # oldest first
        try:
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
            key = (str(result["model"]), int(result["version"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        skewed = [m for m in result.get("measurements", []) if m.get("value", 0) > m.get("threshold", 1)]
        found[key] = {
            "requests": result.get("requests", 0),
            "skewed": [f"{m['feature']} {m['value']:.2f} > {m['threshold']}" for m in skewed],
            "anomalies": len(result.get("anomalies", [])),
            "baseline": result.get("baseline", ""),
            "report": os.path.join(os.path.dirname(path), "data_report.html"),
        }
    return found

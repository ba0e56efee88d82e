"""tf.distribute strategies chosen by config: MirroredStrategy on logical CPUs, MultiWorkerMirrored from TF_CONFIG."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import distribution
from pipelines.config import ConfigError, apply_overrides
from pipelines.mnist import MnistConfig

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "distributed_fit.py"


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    full_env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.Popen(
        [sys.executable, str(HELPER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env
    )


def _result(process: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fits() -> dict[str, object]:
    """Every strategy's small fit, in processes started together (each needs a fresh TensorFlow)."""
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    tf_config = [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}) for i in range(2)]
    processes = {
        "mirrored_2": _run(["mirrored", "2"]),
        "none": _run(["none"]),
        "mirrored_1": _run(["mirrored", "1"]),
        "worker_0": _run(["multi_worker"], {"TF_CONFIG": tf_config[0]}),
        "worker_1": _run(["multi_worker"], {"TF_CONFIG": tf_config[1]}),
    }
    return {name: _result(process) for name, process in processes.items()}


@pytest.mark.slow
def test_mirrored_strategy_trains_on_two_logical_cpus(fits: dict) -> None:
    result = fits["mirrored_2"]
    assert result["strategy"] == "MirroredStrategy" and result["replicas"] == 2
    assert result["loss"] == result["loss"] and result["chief"]  # finite (not NaN), and the only process


@pytest.mark.slow
def test_default_strategy_gives_the_same_model_as_one_replica(fits: dict) -> None:
    none, mirrored = fits["none"], fits["mirrored_1"]
    assert none["replicas"] == mirrored["replicas"] == 1
    assert mirrored["checksum"] == pytest.approx(none["checksum"], rel=1e-4)


@pytest.mark.slow
def test_multi_worker_strategy_from_tf_config_keeps_two_workers_in_sync(fits: dict) -> None:
    results = [fits["worker_0"], fits["worker_1"]]
    # tf.distribute.MultiWorkerMirroredStrategy is implemented by CollectiveAllReduceStrategy.
    assert [r["strategy"] for r in results] == ["CollectiveAllReduceStrategy"] * 2
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0]["checksum"] == pytest.approx(results[1]["checksum"], rel=1e-6)  # synchronous all-reduce
    assert [r["chief"] for r in results] == [True, False]  # worker 0 exports, worker 1 does not


def test_tf_config_errors_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="needs TF_CONFIG, e.g."):
        distribution.cluster_spec(None)
    with pytest.raises(ValueError, match="not JSON"):
        distribution.cluster_spec("{cluster")
    with pytest.raises(ValueError, match="needs cluster.worker"):
        distribution.cluster_spec(json.dumps({"cluster": {}, "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="task.index 2 is not in 0..1"):
        distribution.cluster_spec(
            json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}})
        )
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribution.distribution_strategy("multi_worker")
    with pytest.raises(ConfigError, match="training.distribution='ring' is invalid: must be 'auto', 'mirrored'"):
        apply_overrides(MnistConfig(), ["training.distribution=ring"])
    # "auto" replicates only over several GPUs: on one device the strategy would cost time for nothing.
    assert type(distribution.distribution_strategy("auto")).__name__ == "_DefaultDistributionStrategy"


def test_only_the_chief_exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.export_dir("gs://b/serving", str(tmp_path)) == "gs://b/serving"
    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert distribution.export_dir("gs://b/serving", str(tmp_path)).startswith(str(tmp_path))
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {**cluster, "chief": ["c:1"]}, "task": {"type": "chief"}}))
    assert distribution.is_chief()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {**cluster, "chief": ["c:1"]}, "task": {"type": "worker", "index": 0}})
    )
    assert not distribution.is_chief()

"""Infra validation of a candidate model: serve it, ask it over gRPC and REST, compare with the model itself.

``python -m serving.validate --model-dir DIR --examples FILE --out REPORT.json [--timeout S]``

The pipeline's InfraValidator runs this in a separate process with a time limit (TFX's own
InfraValidator needs Docker or Kubernetes to start TensorFlow Serving, which cannot run here):

0. with ``--write-warmup``, the model gets its warmup requests, built from the examples
   (``assets.extra/tf_serving_warmup_requests``, TF Serving's format);
1. the candidate is loaded by the serving code (``ModelStore``: the same loading, warmup replay and
   signature checks as ``tfx-keras serve``) behind a gRPC and a REST port on loopback;
2. requests built from real evaluation examples go through the real clients (``ServingClient`` and
   ``RestClient``): Predict on ``serving_default`` over both transports, and Classify and Regress over
   both when the model has those signatures;
3. each answer is compared with the same signature called in-process.

The report says whether the model loaded (and why not), every check, and one verdict. Exit code 0
when blessed, 1 when not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

RTOL, ATOL = 1e-5, 1e-6


def _compare(served: Any, expected: Any) -> tuple[bool, float, str]:
    """(agree?, max difference, the problem in words: "" when they agree)."""
    import numpy as np

    served, expected = np.asarray(served), np.asarray(expected)
    if served.shape != expected.shape:
        return False, float("inf"), f"shape {list(served.shape)} served, {list(expected.shape)} in-process"
    if expected.dtype.kind in "OSU":
        same = bool(np.array_equal(served.astype(object), expected.astype(object)))
        return same, 0.0, "" if same else "different values"
    if expected.dtype.kind in "fc" and not (np.all(np.isfinite(served)) and np.all(np.isfinite(expected))):
        bad = int(np.size(served) - np.count_nonzero(np.isfinite(served)))
        return False, float("nan"), f"NaN or infinite outputs ({bad} of {np.size(served)} values)"
    difference = float(np.max(np.abs(served.astype(np.float64) - expected))) if expected.size else 0.0
    same = bool(np.allclose(served, expected, rtol=RTOL, atol=ATOL))
    return same, difference, "" if same else f"answers differ (max difference {difference:.3g})"


def validate(model_dir: str, examples: list[bytes], timeout: float) -> dict[str, Any]:
    """Serve ``model_dir`` and check it; returns the report."""
    import numpy as np
    import tensorflow as tf

    from common.contract import CLASSIFY_SIGNATURE, EXAMPLE_SIGNATURE, EXAMPLES_INPUT, REGRESS_SIGNATURE
    from serving.client import ServingClient
    from serving.model_store import ModelSource, ModelStore
    from serving.rest_client import RestClient
    from serving.server import ServerOptions, ServingServer

    report: dict[str, Any] = {"model_dir": model_dir, "examples": len(examples), "checks": []}
    with tempfile.TemporaryDirectory(prefix="infra_") as root:
        os.symlink(os.path.abspath(model_dir), os.path.join(root, "1"))
        store = ModelStore([ModelSource("candidate", root)], poll_seconds=3600)
        start = time.monotonic()
        with ServingServer(store, ServerOptions(port=0, rest_api_port=-1)) as server:
            report["load_seconds"] = round(time.monotonic() - start, 2)
            (status,) = store.status("candidate")
            if status.state != "AVAILABLE":
                report.update(blessed=False, reason=f"the model did not load in the serving code: {status.error}")
                return report
            report["warmup_records"] = store.get("candidate").warmup_records
            model = tf.saved_model.load(model_dir)
            signatures = set(model.signatures)
            if EXAMPLE_SIGNATURE not in signatures:
                report.update(
                    blessed=False,
                    reason=f"the model has no {EXAMPLE_SIGNATURE} signature, the one TF Serving and the clients call "
                    f"by default (it has {sorted(signatures)}): export one",
                )
                return report
            batch = np.array(examples, dtype=object)
            with (
                ServingClient(server.target, timeout=timeout) as grpc_client,
                RestClient(server.rest_url, timeout=timeout) as rest_client,
            ):
                expected = {
                    k: v.numpy() for k, v in model.signatures[EXAMPLE_SIGNATURE](**{EXAMPLES_INPUT: batch}).items()
                }
                for transport, client in (("gRPC", grpc_client), ("REST", rest_client)):
                    outputs, _ = client.predict("candidate", {EXAMPLES_INPUT: batch}, signature=EXAMPLE_SIGNATURE)
                    for name, value in expected.items():
                        ok, difference, problem = _compare(outputs.get(name), value)
                        report["checks"].append(
                            {
                                "transport": transport,
                                "api": "Predict",
                                "output": name,
                                "ok": ok,
                                "max_difference": difference,
                                "problem": problem,
                            }
                        )
                parsed = [tf.train.Example.FromString(e) for e in examples]
                if CLASSIFY_SIGNATURE in signatures:
                    scores = model.signatures[CLASSIFY_SIGNATURE](inputs=batch)["scores"].numpy()
                    for transport, client in (("gRPC", grpc_client), ("REST", rest_client)):
                        served = [[score for _, score in result] for result in client.classify("candidate", parsed)]
                        ok, difference, problem = _compare(np.array(served, np.float32), scores)
                        report["checks"].append(
                            {
                                "transport": transport,
                                "api": "Classify",
                                "output": "scores",
                                "ok": ok,
                                "max_difference": difference,
                                "problem": problem,
                            }
                        )
                if REGRESS_SIGNATURE in signatures:
                    values = model.signatures[REGRESS_SIGNATURE](inputs=batch)["outputs"].numpy()
                    for transport, client in (("gRPC", grpc_client), ("REST", rest_client)):
                        served_values = np.array(client.regress("candidate", parsed), np.float32)
                        ok, difference, problem = _compare(served_values, values)
                        report["checks"].append(
                            {
                                "transport": transport,
                                "api": "Regress",
                                "output": "outputs",
                                "ok": ok,
                                "max_difference": difference,
                                "problem": problem,
                            }
                        )
    failed = [c for c in report["checks"] if not c["ok"]]
    report["blessed"] = not failed and bool(report["checks"])
    report["reason"] = (
        f"{len(report['checks'])} checks over gRPC and REST answered as the model does in-process"
        if report["blessed"]
        else "; ".join(f"{c['transport']} {c['api']} {c['output']}: {c['problem']}" for c in failed)
    )
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: validate, write the report, exit 0 when blessed."""
    parser = argparse.ArgumentParser(prog="python -m serving.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="the candidate SavedModel")
    parser.add_argument("--examples", required=True, help="TFRecord file of serialized tf.Examples to send")
    parser.add_argument("--out", required=True, help="where to write the JSON report")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument(
        "--write-warmup",
        action="store_true",
        help="first add assets.extra/tf_serving_warmup_requests built from the examples (TF Serving's format)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    examples = list(tf.data.TFRecordDataset(args.examples).as_numpy_iterator())
    if not examples:
        print(f"error: {args.examples} holds no examples", file=sys.stderr)
        return 2
    try:
        if args.write_warmup:
            from serving.warmup import build_warmup_requests, write_warmup

            write_warmup(args.model_dir, build_warmup_requests(args.model_dir, examples))
        report = validate(args.model_dir, examples, args.timeout)
    except Exception as err:  # noqa: BLE001 - any failure of the candidate is a verdict, not a crash
        first = (str(err).strip().splitlines() or [""])[0]  # one line: the report is read by people
        report = {"model_dir": args.model_dir, "blessed": False, "reason": f"{type(err).__name__}: {first}"}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    print(("blessed: " if report["blessed"] else "not blessed: ") + report["reason"])
    return 0 if report["blessed"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Infra validation of a candidate model: would production TensorFlow Serving serve it, as the task promises?

``python -m serving.validate --model-dir DIR --examples FILE --out REPORT.json [--write-warmup]
[--contract CONTRACT.json] [--max-latency-ms MS] [--time-limit S]``

The pipeline's InfraValidator runs this in a separate process (TFX's own InfraValidator needs
Docker or Kubernetes to start TensorFlow Serving, which cannot run here); a user can run it on any
SavedModel. In order, stopping at the first stage that fails:

1. **the graph** (nothing run): every function, on every branch, has only ops a standard TF Serving
   build has (no ``tf.py_function``, no custom op), opens no file outside the model's folder,
   there is a ``serving_default``, and the outputs are those the task's contract declares;
2. **a sealed copy**: the model is copied to a fresh folder and loaded from there, with the working
   directory an empty folder, by the serving code (``ModelStore``: the same loading, warmup replay
   and signature checks as ``tfx-keras serve``) behind a gRPC and a REST port on loopback;
3. **latency**: the model's own time per call, then the 99th percentile over gRPC at batch 1 and at
   the largest batch the server's batching makes, within ``--max-latency-ms``;
4. **every signature, at batch sizes 1, a middle one and the largest**: Predict on ``serving_default``
   and ``serving_raw``, Classify and Regress over both transports, each answer compared with the same
   signature called in-process (NaN and infinities refused by name); ``serving_raw`` on the raw form
   of the same examples must answer as ``serving_default`` does.

The whole run, warmup replay included, has ``--time-limit`` seconds. The report has every check, the
latencies and one verdict; its ``reason`` has one line per failed check. Exit code 0 when blessed,
1 when not, 2 for a usage error.

Long because the four stages, each request at each batch size and the command line with its time
limit are one sequence; the checks themselves are in :mod:`serving.infra_checks`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from serving.infra_checks import (
    AGREEMENT_ATOL,
    AGREEMENT_RTOL,
    Check,
    RawInputError,
    compare,
    compare_outputs,
    contract_checks,
    latency_check,
    measure_latency,
    paired_outputs,
    raw_inputs,
)

MODEL_NAME = "candidate"
LATENCY_REQUESTS = {"small": 50, "large": 20}  # requests timed at batch 1, and at the largest batch


@contextlib.contextmanager
def _working_dir(path: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _batch(examples: Sequence[bytes], size: int) -> list[bytes]:
    """``size`` examples, the given ones repeated as needed."""
    return [examples[i % len(examples)] for i in range(size)]


def _static_checks(model_dir: str, contract: Mapping[str, Mapping[str, str]] | None) -> list[Check]:
    """What the graph shows without running it: ops, files, signatures, the contract."""
    from common.contract import EXAMPLE_SIGNATURE
    from common.model_files import unsafe_entries
    from serving.graph_check import file_writes, files_outside, unservable_ops
    from serving.servable import read_serving_meta_graph, signature_defs_of

    unsafe = unsafe_entries(model_dir)
    if unsafe:  # nothing in the folder is read (a link to /dev/zero would fill the disk of the copy)
        why = "TF Serving on another host would not find it, and a copy would read it without end"
        return [Check("files", entry.split(" is ", 1)[0], False, f"{entry}: {why}") for entry in unsafe]
    meta_graph = read_serving_meta_graph(model_dir)
    checks = [Check("ops", op.signature, False, f"op {op.op} is {op.why}") for op in unservable_ops(meta_graph)]
    checks += [Check("files", op.signature, False, f"op {op.op} {op.why}") for op in file_writes(meta_graph)]
    for outside in files_outside(model_dir, meta_graph):
        where = outside.where.removeprefix("signature ")
        checks.append(Check("files", where, False, f"opens {outside.path!r} with op {outside.op}: {outside.why}"))
    signature_defs = signature_defs_of(meta_graph)
    if EXAMPLE_SIGNATURE not in signature_defs:
        problem = (
            f"missing: the model has {sorted(signature_defs)}; TF Serving and the clients call serving_default "
            "when a request names no signature: export one"
        )
        checks.append(Check("signatures", EXAMPLE_SIGNATURE, False, problem))
    if contract:
        checks += contract_checks(signature_defs, contract)
    return checks


def validate(
    model_dir: str,
    examples: list[bytes],
    timeout: float = 30.0,
    *,
    contract: Mapping[str, Mapping[str, str]] | None = None,
    max_latency_ms: float | None = None,
    max_batch: int | None = None,
    on_phase: Callable[[str], None] = lambda _phase: None,
    scratch_dir: str | None = None,
) -> dict[str, Any]:
    """Check ``model_dir`` as production TF Serving would serve it; returns the report.

    Args:
        model_dir: the candidate SavedModel.
        examples: serialized tf.Examples the requests are built from.
        timeout: seconds per request.
        contract: signature -> output name -> dtype the task declares (None: not checked).
        max_latency_ms: the 99th-percentile budget per request (None: not checked).
        max_batch: the largest batch (default: the server's batching ``max_batch_size``).
        on_phase: told what the validation is doing (for the time limit's message).
        scratch_dir: where the sealed copy goes (default: the system's temporary folder).
    """
    from serving.batching import BatchingOptions

    max_batch = max_batch or BatchingOptions().max_batch_size
    report: dict[str, Any] = {"model_dir": model_dir, "examples": len(examples), "seconds": {}, "not_checked": []}
    checks: list[Check] = []
    start = time.monotonic()
    on_phase("checking the graph")
    checks += _static_checks(model_dir, contract)
    report["seconds"]["graph"] = round(time.monotonic() - start, 2)
    if all(c.ok for c in checks):
        with tempfile.TemporaryDirectory(prefix="infra_", dir=scratch_dir) as root:
            sealed = os.path.join(root, MODEL_NAME, "1")
            shutil.copytree(model_dir, sealed, symlinks=False)
            os.mkdir(os.path.join(root, "cwd"))
            with _working_dir(os.path.join(root, "cwd")):
                _serve_and_check(sealed, examples, timeout, max_latency_ms, max_batch, on_phase, report, checks)
    report["checks"] = [vars(c) for c in checks]
    return _verdict(report, checks)


def _serve_and_check(
    model_dir: str,
    examples: list[bytes],
    timeout: float,
    max_latency_ms: float | None,
    max_batch: int,
    on_phase: Callable[[str], None],
    report: dict[str, Any],
    checks: list[Check],
) -> None:
    """Stages 2-4 on the sealed copy: the model's own speed, serving it, latency, every signature."""
    import numpy as np
    import tensorflow as tf

    from common.contract import EXAMPLE_SIGNATURE, EXAMPLES_INPUT
    from serving.client import ServingClient
    from serving.model_store import ModelSource, ModelStore
    from serving.rest_client import RestClient
    from serving.server import ServerOptions, ServingServer

    on_phase("loading the model in-process")
    try:
        model = tf.saved_model.load(model_dir)
    except Exception as err:  # noqa: BLE001 - a model that does not load is a verdict
        first = (str(err).strip().splitlines() or [""])[0]
        checks.append(Check("load", "", False, f"the model did not load: {type(err).__name__}: {first}"))
        return
    one = _batch(examples, 1)
    if max_latency_ms is not None:  # a model slower than the budget on its own is judged before it is served
        on_phase("timing the model in-process at batch 1")
        default = model.signatures[EXAMPLE_SIGNATURE]
        own = measure_latency(lambda: default(**{EXAMPLES_INPUT: tf.constant(one)}), 1, max_latency_ms, 3)
        report["latency_in_process_ms"] = own.summary()
        if own.over() >= 2:
            checks.append(latency_check(own, EXAMPLE_SIGNATURE, "in-process"))
            return
    on_phase("loading the sealed copy in the server and replaying its warmup requests")
    store = ModelStore([ModelSource(MODEL_NAME, os.path.dirname(model_dir))], poll_seconds=3600)
    started = time.monotonic()
    with ServingServer(store, ServerOptions(port=0, rest_api_port=-1)) as server:
        report["seconds"]["load_and_warmup"] = round(time.monotonic() - started, 2)
        (status,) = store.status(MODEL_NAME)
        if status.state != "AVAILABLE":
            checks.append(Check("load", "", False, f"the model did not load in the serving code: {status.error}"))
            return
        report["warmup_records"] = store.get(MODEL_NAME).warmup_records
        with (
            ServingClient(server.target, timeout=timeout) as grpc_client,
            RestClient(server.rest_url, timeout=timeout) as rest_client,
        ):
            clients = {"gRPC": grpc_client, "REST": rest_client}
            if max_latency_ms is not None:
                started = time.monotonic()
                report["latency_ms"] = []
                for size, requests in ((1, LATENCY_REQUESTS["small"]), (max_batch, LATENCY_REQUESTS["large"])):
                    on_phase(f"timing Predict over gRPC at batch {size}")
                    inputs = {EXAMPLES_INPUT: np.array(_batch(examples, size), dtype=object)}
                    latency = measure_latency(
                        lambda inputs=inputs: grpc_client.predict(MODEL_NAME, inputs), size, max_latency_ms, requests
                    )
                    report["latency_ms"].append(latency.summary())
                    checks.append(latency_check(latency, EXAMPLE_SIGNATURE, "gRPC"))
                report["seconds"]["latency"] = round(time.monotonic() - started, 2)
                if not all(c.ok for c in checks):
                    return
            started = time.monotonic()
            loaded = store.get(MODEL_NAME)  # its SignatureDefs, read once when the server loaded it
            _check_signatures(loaded, model, examples, max_batch, clients, on_phase, report, checks)
            report["seconds"]["signatures"] = round(time.monotonic() - started, 2)


def _check_signatures(
    loaded: Any,
    model: Any,
    examples: list[bytes],
    max_batch: int,
    clients: Mapping[str, Any],
    on_phase: Callable[[str], None],
    report: dict[str, Any],
    checks: list[Check],
) -> None:
    """Every signature at batch 1, a middle batch and the largest, over both transports, against in-process."""
    import numpy as np
    import tensorflow as tf

    from common.contract import (
        CLASSIFY_SIGNATURE,
        EXAMPLE_SIGNATURE,
        EXAMPLES_INPUT,
        INFERENCE_INPUT,
        RAW_SIGNATURE,
        REGRESS_SIGNATURE,
    )
    from serving.client import ServingError
    from serving.codec import signature_inputs
    from serving.contract import example_features

    signature_defs = loaded.signature_defs
    signatures = set(model.signatures)
    sizes = sorted({1, max(1, max_batch // 4), max_batch})
    raw_specs = signature_inputs(signature_defs[RAW_SIGNATURE]) if RAW_SIGNATURE in signatures else None
    features = example_features(loaded.path)

    def in_process(signature: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return _numpy(model.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()}))

    def requests_for(batch: list[bytes], raw: dict | None) -> list[tuple[str, str, Callable, Callable]]:
        """(signature, API, what the model answers in-process, what a client is answered) at this batch."""
        parsed = [tf.train.Example.FromString(e) for e in batch]
        serialized = np.array(batch, dtype=object)
        requests: list[tuple[str, str, Callable, Callable]] = [
            (
                EXAMPLE_SIGNATURE, "Predict",
                lambda: in_process(EXAMPLE_SIGNATURE, {EXAMPLES_INPUT: serialized}),
                lambda client: client.predict(MODEL_NAME, {EXAMPLES_INPUT: serialized}, signature=EXAMPLE_SIGNATURE)[0],
            ),
        ]  # fmt: skip
        if CLASSIFY_SIGNATURE in signatures:
            requests.append((
                CLASSIFY_SIGNATURE, "Classify",
                lambda: {"scores": in_process(CLASSIFY_SIGNATURE, {INFERENCE_INPUT: serialized})["scores"]},
                lambda client: {"scores": np.array([[s for _, s in r] for r in client.classify(MODEL_NAME, parsed)])},
            ))  # fmt: skip
        if REGRESS_SIGNATURE in signatures:
            requests.append((
                REGRESS_SIGNATURE, "Regress",
                lambda: {"outputs": in_process(REGRESS_SIGNATURE, {INFERENCE_INPUT: serialized})["outputs"]},
                lambda client: {"outputs": np.array(client.regress(MODEL_NAME, parsed))},
            ))  # fmt: skip
        if raw is not None:
            requests.append((
                RAW_SIGNATURE, "Predict",
                lambda: in_process(RAW_SIGNATURE, raw),
                lambda client: client.predict(MODEL_NAME, raw, signature=RAW_SIGNATURE)[0],
            ))  # fmt: skip
        return requests

    for size in sizes:
        batch = _batch(examples, size)
        raw = None
        if raw_specs is not None:
            try:
                raw = raw_inputs(batch, raw_specs, features)
            except RawInputError as err:
                if size == sizes[0]:
                    report["not_checked"].append(f"serving_raw: its inputs cannot be built from the examples ({err})")
        answers = {}
        for signature, api, expected_of, served_of in requests_for(batch, raw):
            on_phase(f"{api} {signature} at batch {size}")
            answers[signature] = expected = expected_of()
            for transport, client in clients.items():
                where = {"check": "answers", "signature": signature, "transport": transport, "api": api, "batch": size}
                try:
                    served = served_of(client)
                except ServingError as err:
                    first = (err.details.strip().splitlines() or [""])[0]
                    checks.append(Check(ok=False, problem=f"the server answered {err.code.name}: {first}", **where))
                    continue
                checks += compare_outputs(served, expected, **where)
        if raw is not None:
            checks += _agreement(answers[RAW_SIGNATURE], answers[EXAMPLE_SIGNATURE], size)
            if not paired_outputs(answers[RAW_SIGNATURE], answers[EXAMPLE_SIGNATURE]) and size == sizes[0]:
                report["not_checked"].append("serving_raw: none of its outputs is also an output of serving_default")


def _agreement(raw: Mapping[str, Any], default: Mapping[str, Any], size: int) -> list[Check]:
    """serving_raw on the raw form of the examples must answer as serving_default does on the examples."""
    from common.contract import RAW_SIGNATURE

    checks = []
    for raw_name, default_name in paired_outputs(raw, default):
        ok, difference, problem = compare(raw[raw_name], default[default_name], AGREEMENT_RTOL, AGREEMENT_ATOL)
        if not ok and problem.startswith("answers differ"):
            problem = (
                f"answers {raw_name} differently from serving_default's {default_name} for the same examples "
                f"(max difference {difference:.3g}): the two signatures preprocess differently"
            )
        checks.append(
            Check("agreement", RAW_SIGNATURE, ok, problem, batch=size, output=raw_name, max_difference=difference)
        )
    return checks


def _numpy(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value.numpy() for name, value in outputs.items()}


def _verdict(report: dict[str, Any], checks: list[Check]) -> dict[str, Any]:
    """Blessed when every check passed; the reason has one line per failed check (repeats folded)."""
    failed = [c for c in checks if not c.ok]
    report["blessed"] = bool(checks) and not failed
    if report["blessed"]:
        latency = "; ".join(
            f"p99 {entry['p99_ms']:.0f} ms at batch {entry['batch']}" for entry in report.get("latency_ms", [])
        )
        report["reason"] = (
            f"{len(checks)} checks passed: the graph, a sealed copy served over gRPC and REST, every signature at "
            f"batch sizes {sorted({c.batch for c in checks if c.batch})}" + (f"; {latency}" if latency else "")
        )
        return report
    lines: dict[tuple[str, str, str], list[Check]] = {}
    for check in failed:
        lines.setdefault((check.check, check.signature, check.output), []).append(check)
    report["failures"] = [
        group[0].line() + (f" (and {len(group) - 1} more like it)" if len(group) > 1 else "")
        for group in lines.values()
    ]
    report["reason"] = "\n".join(report["failures"])
    return report


def _promise(model_dir: str) -> dict[str, Any]:
    """What the exported model says its task promises (``SERVING_PROMISE_FILE``); {} for a model without it."""
    from common.contract import SERVING_PROMISE_FILE

    path = os.path.join(model_dir, SERVING_PROMISE_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        promise = json.load(f)
    return promise if isinstance(promise, dict) else {}


def _read_contract(path: str | None, model_dir: str = "") -> dict[str, dict[str, str]] | None:
    if not path:  # the contract the model carries, if it carries one
        return (_promise(model_dir).get("outputs") or None) if model_dir else None
    with open(path, encoding="utf-8") as f:
        contract = json.load(f)
    if not isinstance(contract, dict) or not all(isinstance(v, dict) for v in contract.values()):
        example = json.dumps({"serving_raw": {"probabilities": "float32"}})
        raise ValueError(f"{path}: a contract is {{signature: {{output: dtype}}}}, e.g. {example}")
    return contract


def _resident_mb() -> float:
    """This process's resident memory in MB (Linux ``/proc``; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _TimeLimit:
    """Ends the process with a report naming what was running: at ``seconds``, or past ``max_memory_mb``.

    The resident memory is sampled every ``MEMORY_SAMPLE_S``, as a host's memory limit would end TF Serving.
    """

    MEMORY_SAMPLE_S = 0.05

    def __init__(
        self, seconds: float, model_dir: str, out: str, scratch: str, max_memory_mb: float | None = None
    ) -> None:
        self.seconds, self.model_dir, self.out, self.scratch = seconds, model_dir, out, scratch
        self.max_memory_mb, self.peak_mb = max_memory_mb, 0.0
        self.phase = "starting"
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True
        self.watch = threading.Thread(target=self._watch_memory, name="memory-limit", daemon=True)

    def start(self) -> None:
        """Start the clock and the memory watch."""
        self.timer.start()
        if self.max_memory_mb:
            self.watch.start()

    def _watch_memory(self) -> None:
        while not self.timer.finished.is_set():
            self.peak_mb = max(self.peak_mb, _resident_mb())
            if self.peak_mb > self.max_memory_mb:  # type: ignore[operator]
                self._end(
                    f"memory limit: the serving process passed {self.max_memory_mb:g} MB ({self.peak_mb:.0f} MB "
                    f"resident, while {self.phase}; infra.max_memory_mb): a host with that much memory would "
                    "kill TF Serving"
                )
            time.sleep(self.MEMORY_SAMPLE_S)

    def _expire(self) -> None:
        self._end(
            f"time limit: the validation did not finish within {self.seconds:g} s (it was {self.phase}); "
            "warmup replay and every request count: a model this slow would not serve in time"
        )

    def _end(self, reason: str) -> None:
        with self.lock:
            _write(self.out, {"model_dir": self.model_dir, "blessed": False, "reason": reason, "failures": [reason]})
            print(f"not blessed: {reason}", flush=True)
            shutil.rmtree(self.scratch, ignore_errors=True)  # the sealed copy: os._exit skips every cleanup
            os._exit(1)

    def write(self, report: dict[str, Any]) -> None:
        """Write the final report (with the peak memory seen) unless a limit has already."""
        with self.lock:
            self.timer.cancel()
            if self.max_memory_mb:
                report["peak_memory_mb"] = round(max(self.peak_mb, _resident_mb()), 1)
            _write(self.out, report)


def _write(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a finite number above 0 of ``kind`` (0, a negative, NaN or infinity is refused)."""
    import math

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    """Command line: validate, write the report, exit 0 when blessed."""
    parser = argparse.ArgumentParser(prog="python -m serving.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="the candidate SavedModel")
    parser.add_argument("--examples", required=True, help="TFRecord file of serialized tf.Examples to send")
    parser.add_argument("--out", required=True, help="where to write the JSON report")
    parser.add_argument("--timeout", type=_positive(float), default=30.0, help="seconds per request")
    parser.add_argument(
        "--write-warmup",
        action="store_true",
        help="first add assets.extra/tf_serving_warmup_requests built from the examples (TF Serving's format)",
    )
    parser.add_argument("--contract", help="JSON file: signature -> output -> dtype the model must answer")
    parser.add_argument(
        "--max-latency-ms", type=_positive(float), help="99th-percentile budget per request (batch 1 and largest)"
    )
    parser.add_argument("--max-batch", type=_positive(int), help="the largest batch to send (default: the batching's)")
    parser.add_argument("--time-limit", type=_positive(float), default=180.0, help="seconds for the whole validation")
    parser.add_argument(
        "--max-memory-mb", type=_positive(float), default=None, help="resident memory the serving process may use"
    )
    args = parser.parse_args(argv)
    model_dir, out = os.path.abspath(args.model_dir), os.path.abspath(args.out)
    if not os.path.isdir(os.path.dirname(out)) or not os.access(os.path.dirname(out), os.W_OK):
        parser.error(f"--out {args.out}: {os.path.dirname(out)} is not a folder this user can write")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    scratch = tempfile.mkdtemp(prefix="infra_validation_")
    limit = _TimeLimit(args.time_limit, model_dir, out, scratch, args.max_memory_mb)
    limit.start()
    try:
        return _run(args, model_dir, limit, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(args: argparse.Namespace, model_dir: str, limit: _TimeLimit, scratch: str) -> int:
    """The validation of ``main``, under its time limit; the report written, the exit code returned."""
    import tensorflow as tf

    try:
        contract = _read_contract(args.contract, model_dir)  # without --contract: the one the model carries
        if args.max_latency_ms is None:
            args.max_latency_ms = _promise(model_dir).get("max_latency_ms")
        examples = list(tf.data.TFRecordDataset(args.examples).as_numpy_iterator())
    except (OSError, ValueError, tf.errors.OpError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    if not examples:
        print(f"error: {args.examples} holds no examples", file=sys.stderr)
        return 2

    def phase(text: str) -> None:
        limit.phase = text

    try:
        if args.write_warmup:
            from serving.warmup import build_warmup_requests, write_warmup

            phase("writing the warmup requests")
            write_warmup(model_dir, build_warmup_requests(model_dir, examples))
        report = validate(
            model_dir, examples, args.timeout, contract=contract, max_latency_ms=args.max_latency_ms,
            max_batch=args.max_batch, on_phase=phase, scratch_dir=scratch,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - any failure of the candidate is a verdict, not a crash
        first = (str(err).strip().splitlines() or [""])[0]  # one line: the report is read by people
        reason = f"{limit.phase}: {type(err).__name__}: {first}"
        report = {"model_dir": model_dir, "blessed": False, "reason": reason, "failures": [reason]}
    limit.write(report)
    print(("blessed: " if report["blessed"] else "not blessed: ") + report["reason"].replace("\n", "\n  "))
    return 0 if report["blessed"] else 1


if __name__ == "__main__":
    sys.exit(main())

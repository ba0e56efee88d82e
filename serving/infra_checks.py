"""The checks of infra validation that need no server: answers compared, the contract, raw inputs, latency.

:mod:`serving.validate` runs them on what the served model and the model called in-process answer.
Each check gives a :class:`Check`; a failed one reads as one line naming the check, the signature,
and (where it matters) the transport and the batch size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

RTOL, ATOL = 1e-5, 1e-6
# serving_raw and serving_default reach the model by different roads (pixels vs PNG, texts vs
# tf.Examples): the same numbers up to float rounding in the preprocessing.
AGREEMENT_RTOL, AGREEMENT_ATOL = 1e-4, 1e-5


@dataclasses.dataclass
class Check:
    """One check's outcome."""

    check: str  # ops, files, signatures, contract, answers, agreement, latency, load
    signature: str
    ok: bool
    problem: str = ""
    transport: str = ""  # gRPC, REST, or "" (in-process, static)
    api: str = ""  # Predict, Classify, Regress
    batch: int | None = None
    output: str = ""
    max_difference: float | None = None

    def line(self) -> str:
        """The failure as one line: ``answers serving_default y (gRPC Predict, batch 8): ...``."""
        where = ", ".join(
            part
            for part in (" ".join(p for p in (self.transport, self.api) if p), f"batch {self.batch}" * bool(self.batch))
            if part
        )
        subject = " ".join(p for p in (self.check, self.signature, self.output) if p)
        return f"{subject}{f' ({where})' if where else ''}: {self.problem}"


def compare(served: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> tuple[bool, float, str]:
    """(agree?, max difference, the problem in words: "" when they agree). NaN and infinities are named."""
    served, expected = np.asarray(served), np.asarray(expected)
    if served.shape != expected.shape:
        if served.size == expected.size and served.size:  # [n] against [n, 1]: the same values
            served = served.reshape(expected.shape)
        else:
            return False, float("inf"), f"shape {list(served.shape)} against {list(expected.shape)}"
    if expected.dtype.kind in "OSU" or served.dtype.kind in "OSU":
        same = bool(np.array_equal(served.astype(object), expected.astype(object)))
        return same, 0.0, "" if same else "different values"
    for values in (served, expected):
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
            return False, float("nan"), f"NaN or infinite outputs ({bad} of {np.size(values)} values)"
    difference = float(np.max(np.abs(served.astype(np.float64) - expected))) if expected.size else 0.0
    same = bool(np.allclose(served, expected, rtol=rtol, atol=atol))
    return same, difference, "" if same else f"answers differ (max difference {difference:.3g})"


def compare_outputs(served: Mapping[str, Any], expected: Mapping[str, Any], **where: Any) -> list[Check]:
    """One check per output the model answers in-process: the served value must be the same."""
    checks = []
    for name, value in sorted(expected.items()):
        if name not in served:
            checks.append(Check(output=name, ok=False, problem="missing from the served answer", **where))
            continue
        ok, difference, problem = compare(served[name], value)
        checks.append(Check(output=name, ok=ok, problem=problem, max_difference=difference, **where))
    return checks


# -- the contract ------------------------------------------------------------------------------------


def contract_checks(signature_defs: Mapping[str, Any], contract: Mapping[str, Mapping[str, str]]) -> list[Check]:
    """The outputs (names and dtypes) the task's contract declares, per signature, as the model has them.

    ``contract``: signature -> output name -> dtype name (``float32``, ``int64``, ``string`` ...).
    """
    from serving.tensors import dtype_name

    checks = []
    for signature, declared in sorted(contract.items()):
        if signature not in signature_defs:
            checks.append(
                Check(
                    "contract",
                    signature,
                    False,
                    f"the signature is missing (the model has {sorted(signature_defs)}); clients call it",
                )
            )
            continue
        outputs = {name: dtype_name(info.dtype) for name, info in signature_defs[signature].outputs.items()}
        missing = sorted(set(declared) - set(outputs))
        if missing:
            problem = (
                f"output {', '.join(missing)} missing (the model answers {', '.join(sorted(outputs))}); "
                "clients read the declared outputs: export them under these names"
            )
            checks.append(Check("contract", signature, False, problem))
        wrong = sorted(n for n in set(declared) & set(outputs) if outputs[n] != declared[n])
        for name in wrong:
            problem = f"output {name} is {outputs[name]}, the contract declares {declared[name]}"
            checks.append(Check("contract", signature, False, problem, output=name))
        if not missing and not wrong:
            checks.append(Check("contract", signature, True))
    return checks


# -- serving_raw's inputs, from the same examples ---------------------------------------------------


class RawInputError(ValueError):
    """The examples cannot be turned into the raw signature's inputs (the check says it was not run)."""


def raw_inputs(examples: Sequence[bytes], inputs: Mapping[str, Any], features: Mapping[str, dict]) -> dict:
    """``serving_raw``'s inputs for ``examples``: each input is the example feature of the same name.

    This is the projects' serving contract (docs/serving-contract.md): a raw input carries the feature
    of its name, an image as its pixels (the example has it encoded as PNG/JPEG), a text as the text,
    a list of texts padded with "", numbers as numbers; a feature an example lacks takes the default
    that ``serving_default`` gives it (``assets.extra/example_features.json``).

    Args:
        examples: serialized tf.Examples.
        inputs: the raw signature's inputs, name -> :class:`serving.codec.InputSpec`.
        features: ``example_features.json`` of the model (feature -> kind, dtype, shape, default).
    """
    import tensorflow as tf

    parsed = [tf.train.Example.FromString(e).features.feature for e in examples]
    tensors = {}
    for name, spec in inputs.items():
        values = []
        for number, feature in enumerate(parsed, 1):
            value = _feature_values(feature.get(name), features.get(name, {}))
            if value is None:
                raise RawInputError(f"example {number} has no {name!r} and the model gives it no default")
            values.append(value)
        try:
            tensors[name] = _as_input(name, spec, values)
        except (ValueError, TypeError, tf.errors.OpError) as err:  # bytes that are no image, ragged lists ...
            first = (str(err).strip().splitlines() or [""])[0]
            problem = f"{name!r} cannot be made from the example feature ({type(err).__name__}: {first})"
            raise RawInputError(problem) from None
    return tensors


def _feature_values(feature: Any, spec: Mapping[str, Any]) -> list | None:
    if feature is not None and feature.WhichOneof("kind") is not None:
        return list(getattr(feature, feature.WhichOneof("kind")).value)
    default = spec.get("default")
    if default is None:
        return [] if spec.get("kind") == "var" else None
    return list(np.ravel(default).tolist())


def _as_input(name: str, spec: Any, values: list[list]) -> np.ndarray:
    import tensorflow as tf

    shape = tuple(spec.shape)
    if spec.is_image:
        images = []
        for value in values:
            if len(value) != 1 or not isinstance(value[0], bytes):
                raise RawInputError(f"{name!r} is not one encoded image per example")
            image = tf.io.decode_image(value[0], channels=shape[-1], expand_animations=False).numpy()
            if image.shape != shape[1:]:
                raise RawInputError(f"{name!r} decodes to {list(image.shape)}, the raw input takes {list(shape[1:])}")
            images.append(image)
        return np.stack(images)
    if spec.dtype == "string":
        texts = [[v if isinstance(v, bytes) else str(v).encode() for v in value] for value in values]
        if len(shape) == 1:
            if any(len(t) > 1 for t in texts):
                raise RawInputError(f"{name!r} has several values in an example; the raw input takes one")
            return np.array([t[0] if t else b"" for t in texts], dtype=object)
        if len(shape) == 2:
            width = shape[1] if shape[1] is not None else max(1, max(len(t) for t in texts))
            if any(len(t) > width for t in texts):
                raise RawInputError(f"{name!r} has more than the {width} texts the raw input takes")
            return np.array([t + [b""] * (width - len(t)) for t in texts], dtype=object)
    elif len(shape) in (1, 2) and all(isinstance(v, (int, float)) for value in values for v in value):
        width = 1 if len(shape) == 1 else shape[1]
        if width is None or any(len(value) != width for value in values):
            raise RawInputError(f"{name!r} does not have {width} values in every example")
        array = np.array(values, dtype=spec.dtype)
        return array.reshape(-1) if len(shape) == 1 else array
    raise RawInputError(f"raw input {name!r} ({spec.dtype} {list(shape)}) has no example feature to come from")


def paired_outputs(raw: Iterable[str], default: Iterable[str]) -> list[tuple[str, str]]:
    """(raw output, default output) pairs that are the same answer.

    The same name, or a head's probabilities (``department_probabilities``) and the head's output
    (``department``, what ``serving_default`` answers for TFMA).
    """
    default = set(default)
    pairs = []
    for name in sorted(raw):
        if name in default:
            pairs.append((name, name))
        elif name.endswith("_probabilities") and name[: -len("_probabilities")] in default:
            pairs.append((name, name[: -len("_probabilities")]))
    return pairs


# -- latency -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Latency:
    """Request times at one batch size, and whether they are within the budget."""

    batch: int
    seconds: list[float]
    budget_ms: float

    @property
    def p50_ms(self) -> float:
        """Median, in milliseconds."""
        return float(np.percentile(self.seconds, 50)) * 1000

    @property
    def p99_ms(self) -> float:
        """99th percentile, in milliseconds.

        A value measured, not interpolated ("lower"): with fewer than 100 requests one slow request
        (a noisy machine) is not the verdict; two are.
        """
        return float(np.percentile(self.seconds, 99, method="lower")) * 1000

    def over(self) -> int:
        """How many requests took longer than the budget."""
        return sum(s * 1000 > self.budget_ms for s in self.seconds)

    def summary(self) -> dict[str, Any]:
        """For the report."""
        return {
            "batch": self.batch,
            "requests": len(self.seconds),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "budget_ms": self.budget_ms,
        }


def measure_latency(call: Any, batch: int, budget_ms: float, requests: int) -> Latency:
    """Time ``call()`` up to ``requests`` times, after one untimed call; stop once two exceed the budget.

    The untimed call pays what a first request of its size pays once (a new batch shape's
    allocation). With two requests over the budget, the 99th percentile of fewer than 100 is over
    it whatever the rest would be: a model that takes seconds per request is judged in seconds, not
    minutes. One slow request (a noisy machine) is not enough to fail.
    """
    import time

    call()
    latency = Latency(batch, [], budget_ms)
    for _ in range(requests):
        start = time.perf_counter()
        call()
        latency.seconds.append(time.perf_counter() - start)
        if latency.over() >= 2:
            break
    return latency


def latency_check(latency: Latency, signature: str, transport: str) -> Check:
    """The p99 against the budget, with the measured figures in the message."""
    ok = latency.p99_ms <= latency.budget_ms
    problem = (
        ""
        if ok
        else f"p99 {latency.p99_ms:.0f} ms over the budget of {latency.budget_ms:g} ms (infra.max_latency_ms); "
        f"{latency.over()} of {len(latency.seconds)} requests over it, median {latency.p50_ms:.0f} ms"
    )
    return Check("latency", signature, ok, problem, transport=transport, api="Predict", batch=latency.batch)

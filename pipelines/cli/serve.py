"""The ``serve``, ``predict`` and ``serving-config`` commands of ``tfx-keras``: TF Serving's flags over ``serving/``.

Long because the serving commands' flags mirror TF Serving's model server, one argument each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import threading
from typing import Any


def _seconds(text: str) -> float:
    """A number of seconds > 0 (``0``, negatives, ``nan`` and ``inf`` would busy-poll or never poll)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is invalid: must be a number of seconds > 0, e.g. 1")
    return value


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the serving commands to the ``tfx-keras`` parser, each with its handler."""
    serve = sub.add_parser(
        "serve",
        help="serve pushed models over TensorFlow Serving's gRPC and REST APIs (development server)",
        description="A development server implementing TensorFlow Serving's gRPC API (PredictionService, "
        "ModelService) and REST API (/v1/models/..., /monitoring/prometheus/metrics) over "
        "<root>/<model>/<version>/ folders. New versions are picked up without a restart; their warmup requests "
        "are replayed before they answer. Production serving is TensorFlow Serving itself: see "
        "serving/docker-compose.yml.",
    )
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--model-base-path", default="outputs/serving", help="serving root (default: outputs/serving)")
    where.add_argument("--model-config-file", help="a TF Serving model config (text ModelServerConfig) instead")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8500, help="gRPC port (default: 8500, as TF Serving)")
    serve.add_argument(
        "--rest-api-port",
        type=int,
        default=8501,
        help="REST API port (default: 8501, as TF Serving's examples; 0: off)",
    )
    serve.add_argument("--workers", type=int, default=8, help="request worker threads (default: 8)")
    serve.add_argument("--max-message-mb", type=int, default=64, help="largest request/response (default: 64)")
    serve.add_argument(
        "--rest-idle-seconds",
        type=float,
        default=60.0,
        help="close a REST connection idle, or sending its body, this long (default: 60)",
    )
    serve.add_argument(
        "--rest-max-connections", type=int, default=512, help="most REST connections open at once (default: 512)"
    )
    serve.add_argument(
        "--max-batch-size", type=int, default=1000, help="most examples one request may send (default: 1000)"
    )
    serve.add_argument(
        "--enable-batching", action="store_true", help="run concurrent requests together (TF Serving's flag)"
    )
    serve.add_argument("--batch-size", type=int, default=32, help="with --enable-batching: rows per model call")
    serve.add_argument(
        "--batch-timeout-micros", type=int, default=1000, help="with --enable-batching: longest wait for a batch"
    )
    serve.add_argument("--num-batch-threads", type=int, default=2, help="with --enable-batching: model calls at once")
    serve.add_argument(
        "--tensorflow-intra-op-parallelism",
        type=int,
        default=0,
        help="threads one op may use (TF Serving's flag; 0: TensorFlow decides). 1 suits many small requests",
    )
    serve.add_argument(
        "--tensorflow-inter-op-parallelism",
        type=int,
        default=0,
        help="ops run at once (TF Serving's flag; 0: TensorFlow decides)",
    )
    serve.add_argument(
        "--poll-seconds", type=_seconds, default=1.0, help="how often to look for new versions (> 0; default 1)"
    )
    serve.add_argument(
        "--max-image-pixels",
        type=int,
        default=4096 * 4096,
        help="an encoded image (PNG, JPEG, GIF, BMP) in a request claiming more pixels is refused from its header, "
        "before the model decodes it (default: 4096 x 4096)",
    )
    serve.add_argument(
        "--allow-reload-config",
        action="store_true",
        help="accept ModelService.HandleReloadConfigRequest: any client that reaches the port can then change "
        "which models are served (off by default)",
    )
    serve.add_argument(
        "--request-log",
        metavar="DIR",
        help="log sampled requests and answers of every model as PredictionLog TFRecords in DIR/<model>/ "
        "(a shortcut for each model's logging_config in a --model-config-file; `tfx-keras monitor` reads them)",
    )
    serve.add_argument(
        "--sampling-rate", type=float, default=1.0, help="with --request-log: share of requests logged (default: 1)"
    )
    serve.add_argument(
        "--request-log-file-mb", type=float, default=64.0, help="a log file is closed at this size (default: 64)"
    )
    serve.add_argument(
        "--request-log-max-mb",
        type=float,
        default=1024.0,
        help="a model's oldest log files are deleted beyond this (default: 1024)",
    )
    serve.add_argument(
        "--request-log-rotate-seconds",
        type=float,
        default=60.0,
        help="a log file is closed after this long, so readers see it (default: 60)",
    )
    serve.add_argument(
        "--request-log-queue",
        type=int,
        default=10_000,
        help="most sampled requests waiting to be written; more are dropped and counted (default: 10000)",
    )
    serve.add_argument("--tls-cert", help="PEM certificate: serve TLS only")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.add_argument("--tls-client-ca", help="PEM CA: require client certificates signed by it")

    predict = sub.add_parser(
        "predict",
        help="ask a running server (TF Serving or `tfx-keras serve`) for predictions",
        description="The model's inputs are read from the server (its serving_raw signature). A model that "
        "takes images gets image files (PNG, JPEG, .npy) or --batch FILE.npy [n, H, W(, C)]; a model that "
        "takes records gets field=value arguments (lists comma-separated), or --batch FILE.jsonl with one "
        "JSON object per line. Example: tfx-keras predict MODEL title='refund please' tags=billing,urgent",
    )
    predict.add_argument("model", help="the model's name on the server (a task's models are named after it)")
    predict.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, or field=value pairs")
    predict.add_argument("--batch", help=".npy of images, or .jsonl of records")
    predict.add_argument(
        "--server",
        default="127.0.0.1:8500",
        help="host:port for gRPC (default: 127.0.0.1:8500), or http://host:port for the REST API",
    )
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="a specific model version (default: the latest)")
    which.add_argument("--label", help="the version a label names (stable, canary: tfx-keras serving label)")
    predict.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    predict.add_argument("--tls-ca", help="PEM CA certificate of a TLS server")
    predict.add_argument("--json", action="store_true", help="print JSON lines")
    predict.add_argument(
        "--request-rows",
        type=int,
        default=1000,
        help="most rows a request carries; a longer --batch is sent as several (default: 1000, TF Serving's)",
    )

    config = sub.add_parser(
        "serving-config",
        help="write TensorFlow Serving's model config for the pushed models",
        description="Write <serving-root>/models.config listing every pushed model, with base paths as the "
        "TF Serving container sees them (serving/docker-compose.yml mounts the root at /models).",
    )
    config.add_argument("--serving-root", default="outputs/serving")
    config.add_argument("--base-path", default="/models", help="the serving root as TF Serving sees it")
    config.add_argument("--out", help="where to write (default: <serving-root>/models.config)")
    for parser in (serve, predict, config):
        parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run one of the serving commands."""
    return {"serve": _serve, "predict": _predict, "serving-config": _serving_config}[args.command](args)


def _serve(args: argparse.Namespace) -> int:
    import tensorflow as tf

    from common.settings import validate
    from serving.batching import BatchingOptions
    from serving.model_store import ModelStore, read_model_config_file, sources_from_root
    from serving.server import ServerOptions, ServingServer, describe_models

    if args.model_config_file:
        try:
            last_good = [read_model_config_file(args.model_config_file)]
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

        def sources() -> Any:  # re-read each poll, as TF Serving's --model_config_file_poll_wait_seconds
            try:
                last_good[0] = read_model_config_file(args.model_config_file)
            except (OSError, ValueError) as err:  # a bad edit: keep serving the last good config
                print(f"[tfx-keras serve] {args.model_config_file}: {err}; keeping the last good config", flush=True)
            return last_good[0]

        origin = args.model_config_file
    else:
        root = os.path.abspath(args.model_base_path)
        if not os.path.isdir(root):
            print(f"error: {root} does not exist; push a model first (`tfx-keras run TASK`)", file=sys.stderr)
            return 2
        sources = lambda: sources_from_root(root)  # noqa: E731 - re-read each poll: new models appear
        origin = root
    if args.request_log:
        if not 0.0 <= args.sampling_rate <= 1.0:
            print(f"error: --sampling-rate must be between 0 and 1, got {args.sampling_rate}", file=sys.stderr)
            return 2
        sources = _logged(sources, os.path.abspath(args.request_log), args.sampling_rate)
    for flag, value in (
        ("--tensorflow-intra-op-parallelism", args.tensorflow_intra_op_parallelism),
        ("--tensorflow-inter-op-parallelism", args.tensorflow_inter_op_parallelism),
    ):
        if value < 0:
            print(f"error: {flag} must be >= 0 (0: TensorFlow decides), got {value}", file=sys.stderr)
            return 2
    # Before any model loads: TensorFlow fixes its thread pools when it first runs an op. Only a
    # change is applied (in a process where TensorFlow already ran, setting the same value fails).
    tf_threads = tf.config.threading
    if args.tensorflow_intra_op_parallelism != tf_threads.get_intra_op_parallelism_threads():
        tf_threads.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    if args.tensorflow_inter_op_parallelism != tf_threads.get_inter_op_parallelism_threads():
        tf_threads.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    try:
        batching = (
            validate(
                BatchingOptions,
                {
                    "max_batch_size": args.batch_size,
                    "batch_timeout_micros": args.batch_timeout_micros,
                    "num_batch_threads": args.num_batch_threads,
                },
                names=_flags(BatchingOptions) | {"max_batch_size": "--batch-size"},
            )
            if args.enable_batching
            else None
        )
        values = {name: getattr(args, name) for name in ServerOptions.model_fields if name != "batching"}
        options = validate(ServerOptions, {**values, "batching": batching}, names=_flags(ServerOptions))
        server = ServingServer(ModelStore(sources, poll_seconds=args.poll_seconds), options)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stopped = threading.Event()  # Ctrl-C or SIGTERM from here on, even while the models load, stops cleanly
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    server.start()
    print(f"[tfx-keras serve] models from {origin}")
    for line in describe_models(server.store):
        print(f"  {line}")
    scheme = "TLS" if args.tls_cert else "plaintext"
    print(f"[tfx-keras serve] TensorFlow Serving gRPC API on {server.target} ({scheme})", flush=True)
    if server.rest_url:
        print(
            f"[tfx-keras serve] REST API on {server.rest_url}/v1/models/<model>, "
            "metrics on /monitoring/prometheus/metrics"
        )
    if batching:
        print(f"[tfx-keras serve] batching: up to {batching.max_batch_size} rows, {batching.batch_timeout_micros} µs")
    for name in server.store.model_names():
        logged = server.store.request_log(name)
        if logged is not None:
            print(
                f"[tfx-keras serve] {name}: {logged.sampling_rate:.0%} of requests logged to {logged.filename_prefix}-*"
            )
    print("[tfx-keras serve] Ctrl-C stops", flush=True)
    stopped.wait()
    print("[tfx-keras serve] stopping: finishing in-flight requests")
    server.stop(grace=5)
    return 0


def _logged(sources: Any, directory: str, rate: float) -> Any:
    """``--request-log DIR``: every model's requests logged under ``DIR/<model>/`` (its own logging_config wins)."""
    from serving.request_log import LogConfig, logging_proto

    def with_logging() -> Any:
        return [
            s
            if s.request_log is not None
            else dataclasses.replace(
                s, request_log=LogConfig.from_proto(s.name, logging_proto(directory, s.name, rate))
            )
            for s in sources()
        ]

    return with_logging


def _flags(settings_class: Any) -> dict[str, str]:
    """Each field of a settings class as the flag that sets it (``max_batch_size`` -> ``--max-batch-size``)."""
    return {name: "--" + name.replace("_", "-") for name in settings_class.model_fields}


def _records_file(path: str) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path} line {number} is not JSON: {err}") from None
    return records


def _predict_inputs(args: argparse.Namespace, model_client: Any) -> tuple[list[str], Any]:
    """(labels to print, what to send): images or records, from files, a batch file or field=value pairs."""
    import numpy as np

    from serving.codec import InputError, parse_field

    image = model_client.image_input
    if args.batch:
        if not os.path.isfile(args.batch):
            raise InputError(f"no such file: {args.batch}")
        if image is not None:
            try:
                images = np.load(args.batch)
            except (ValueError, OSError) as err:
                raise InputError(f"{args.batch} is not a readable .npy file ({err})") from None
            return [f"{args.batch}[{i}]" for i in range(len(images))], images
        records = _records_file(args.batch)
        return [f"{args.batch}:{i + 1}" for i in range(len(records))], records
    if not args.inputs:
        raise InputError(f"give inputs for {args.model}: it takes {model_client.describe_inputs()}")
    if image is not None:
        return list(args.inputs), list(args.inputs)
    record = {}
    for text in args.inputs:
        name = text.partition("=")[0]
        if "=" not in text or name not in model_client.inputs:
            raise InputError(f"{text!r} is not field=value; {args.model} takes {model_client.describe_inputs()}")
        key, value = parse_field(text, model_client.inputs[name])
        record[key] = value
    return ["record"], [record]


def _predict(args: argparse.Namespace) -> int:
    from serving.client import ServingError
    from serving.codec import InputError, ModelClient
    from serving.connection import connect

    root_certificates = None
    if args.tls_ca:
        try:
            with open(args.tls_ca, "rb") as f:
                root_certificates = f.read()
        except OSError as err:
            print(f"error: --tls-ca {args.tls_ca}: cannot read it ({err.strerror})", file=sys.stderr)
            return 2
    with connect(args.server, timeout=args.timeout, root_certificates=root_certificates) as client:
        model_client = ModelClient(client, args.model)
        try:
            labels, inputs = _predict_inputs(args, model_client)
            if model_client.image_input is not None and not args.batch:
                results = model_client.predict_files(inputs, version=args.version, label=args.label)
            else:
                results = model_client.predict(
                    inputs, version=args.version, max_rows=max(1, args.request_rows), label=args.label
                )
        except (ValueError, InputError, ServingError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for label, result in zip(labels, results, strict=True):
        if args.json:
            print(json.dumps({"input": label, **dataclasses.asdict(result)}))
        else:
            print(f"{label}: {result}")
    return 0


def _serving_config(args: argparse.Namespace) -> int:
    from serving.tf_serving_config import write_model_config

    try:
        path = write_model_config(args.serving_root, args.base_path, args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = err.filename or args.out
        print(f"error: cannot write {where} ({err.strerror}): choose another --out", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    print(open(path, encoding="utf-8").read().rstrip())  # noqa: SIM115
    print("serve it with TensorFlow Serving: docker compose -f serving/docker-compose.yml up")
    return 0

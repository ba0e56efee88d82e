"""What several sub-commands share: the task argument, --input-base, and the config the flags make."""

from __future__ import annotations

import argparse
import os

from pipelines import tasks
from pipelines.config import ConfigError, apply_overrides
from pipelines.spec import TaskSpec


def task_arg(parser: argparse.ArgumentParser) -> None:
    """The positional ``task`` argument: a shipped or installed task's name, or a task module's path."""
    parser.add_argument(
        "task",
        metavar="TASK",
        help=f"which task: {', '.join(tasks.names())}, or the module path of your own (mypkg.churn)",
    )


def input_base_arg(parser: argparse.ArgumentParser) -> None:
    """``--input-base DIR``: the folder of a file task's spans."""
    parser.add_argument(
        "--input-base",
        default=None,
        metavar="DIR",
        help="folder of the task's data files, local or gs:// (the same as --set data.input_base=DIR); "
        "each span's files in data.pattern, by default span-<N>/ (image tasks: span-<N>/<class>/*.png)",
    )


def task_config(spec: TaskSpec, args: argparse.Namespace) -> object:
    """The task's config with the command line's overrides applied and validated."""
    config = spec.default_config()
    overrides = list(getattr(args, "overrides", []) or [])
    _refuse_disagreeing_flags(args, overrides)
    if getattr(args, "epochs", None) is not None:
        overrides.append(f"training.epochs={args.epochs}")
    for flag in ("data_dir", "download"):
        if getattr(args, flag, None) and not spec.reads_tfds:
            raise ConfigError(
                f"--{flag.replace('_', '-')} does not apply to {spec.name}: its data is not a TFDS data set"
            )
    if getattr(args, "input_base", None) is not None and not args.input_base.strip():
        raise ConfigError("--input-base '' names no folder: give the folder of your data files")
    if getattr(args, "input_base", None):
        if "input_base" not in type(config.data).model_fields:
            raise ConfigError(f"--input-base does not apply to {spec.name}: its data section reads no files")
        for flag in ("data_dir", "download"):  # an image task reads TFDS or your files, not both
            if getattr(args, flag, None):
                raise ConfigError(
                    f"--{flag.replace('_', '-')} is for TFDS data, and --input-base reads your files instead: "
                    "give one of the two"
                )
        overrides.append(f"data.input_base={location(args.input_base)}")
    if getattr(args, "data_dir", None):
        overrides.append(f"data.data_dir={absolute(args.data_dir)}")
    if getattr(args, "download", False):
        overrides.append("data.download=true")
    if getattr(args, "metadata", None):
        from pipelines.metadata_store import parse_url

        parse_url(args.metadata)  # a malformed URL is named as the flag's, before the config's checks
        overrides.append(f"metadata.url={args.metadata}")
    return apply_overrides(config, overrides)


def absolute(path: str) -> str:
    """A local path made absolute, ``~`` expanded."""
    return os.path.abspath(os.path.expanduser(path))


def location(path: str) -> str:
    """A local path made absolute; a URL (gs://...) as given."""
    return path if "://" in path else absolute(path)


def writable(path: str, flag: str, folder: bool = False) -> str:
    """``path`` (a file, or a ``folder``) made ready to write, checked before any work starts.

    Raises:
        ConfigError: the folder cannot be created (a file is in the way, no permission), naming ``flag``.
    """
    where = path if folder else os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(where, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{flag} {path}: cannot write there ({err.strerror}): choose another {flag}") from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {where} is not writable by this user: choose another {flag}")
    return path


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535; anything else is refused in one line."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 0 (any free port) to 65535")
    return port


# A flag and the config field it sets: both given with different values is refused, not resolved silently.
FLAG_FIELDS = {
    "input_base": "data.input_base",
    "data_dir": "data.data_dir",
    "metadata": "metadata.url",
    "epochs": "training.epochs",
}


def _refuse_disagreeing_flags(args: argparse.Namespace, overrides: list[str]) -> None:
    """ConfigError if ``--input-base X`` and ``--set data.input_base=Y`` (or another pair) are both given."""
    for flag, field in FLAG_FIELDS.items():
        value = getattr(args, flag, None)
        if value is None or value is False:
            continue
        for override in overrides:
            name, _, given = override.partition("=")
            if name.strip() == field and given.strip() != str(value):
                shown = f"--{flag.replace('_', '-')} {value}"
                raise ConfigError(f"{shown} and --set {field}={given.strip()} disagree: give one of the two")

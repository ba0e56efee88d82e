"""Which spans a folder holds, and whether the files a run needs are there.

:func:`find_spans` lists the files under a folder by span for a TFX split pattern with ``{SPAN}``,
``{YYYY}``/``{MM}``/``{DD}`` and ``{VERSION}`` placeholders, as TFX's file-based ExampleGen driver
reads them (a date is TFX's span number: days since 1970-01-01). :func:`check_input` is the check a
run does before anything starts (and the driver again where the files are read): a missing folder,
no file for a split, a span that is not there, each one line with the fix.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping

from components.file_example_gen.checks import FileInputError


class DataStoppedError(FileInputError):
    """The input is there but cannot be trained on: the data is stopped (exit 3), as a failed validation."""


class EmptySpanError(DataStoppedError):
    """The newest span's folder is there but holds no file to read: the day's export did not arrive (exit 3)."""


class UnreadableFileError(DataStoppedError):
    """A matching path is not a regular file this user can read (a pipe, a device, a folder, no permission)."""


MAX_SPAN = 2**63 - 1  # ML Metadata keeps a span as an int64


def _check_readable(path: str) -> None:
    """Refuse a local path that a run could not read to its end: not a regular file, or not readable."""
    import stat

    if "://" in path:
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise UnreadableFileError(f"{path} cannot be read ({err.strerror}): fix the file, or move it away") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
        raise UnreadableFileError(
            f"{path} matches the pattern but is {kind}, not a file: move it out of the span folder, or set "
            "data.pattern to match the data files only"
        )
    if not os.access(path, os.R_OK):
        raise UnreadableFileError(f"{path} cannot be read by this user (permission denied): fix its permissions")


_PLACEHOLDER = re.compile(r"\{(SPAN|VERSION)(?::(\d+))?\}|\{(YYYY|MM|DD)\}")


def pattern_glob(pattern: str) -> str:
    """The glob of a split pattern with every placeholder (``{SPAN}``, ``{YYYY}`` ...) a wildcard."""
    return _PLACEHOLDER.sub("*", pattern)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(_glob_regex(pattern[last : match.start()]))
        name = match.group(1) or match.group(3)
        width = match.group(2)
        digits = {"YYYY": 4, "MM": 2, "DD": 2}.get(name)
        count = f"{{{width or digits}}}" if (width or digits) else "+"
        parts.append(f"(?P<{name}>\\d{count})" if f"(?P<{name}>" not in "".join(parts) else f"\\d{count}")
        last = match.end()
    parts.append(_glob_regex(pattern[last:]))
    return re.compile("".join(parts) + r"\Z")


def _glob_regex(text: str) -> str:
    out = []
    for char in text:
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
    return "".join(out)


def uses_spans(pattern: str) -> bool:
    """True if ``pattern`` has a ``{SPAN}`` or date placeholder."""
    return bool(re.search(r"\{SPAN(:\d+)?\}|\{YYYY\}", pattern))


def date_to_span(year: int, month: int, day: int) -> int:
    """TFX's span number of a date: days since 1970-01-01."""
    return (datetime.date(year, month, day) - datetime.date(1970, 1, 1)).days


def find_spans(input_base: str, pattern: str) -> dict[int, list[str]]:
    """The files under ``input_base`` matching ``pattern``, by span (span 0 without a span placeholder)."""
    import tensorflow as tf

    regex = _pattern_regex(pattern)
    spans: dict[int, list[str]] = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(input_base, pattern_glob(pattern)))):
        relative = os.path.relpath(path, input_base) if "://" not in path else path[len(input_base) :].lstrip("/")
        match = regex.match(relative)
        if match is None:
            continue
        found = match.groupdict()
        if found.get("SPAN") is not None:
            span = int(found["SPAN"])
            if span > MAX_SPAN:
                raise FileInputError(
                    f"{path}: span {span} is over the largest span ML Metadata can keep (2^63 - 1): number "
                    "the span folders 1, 2, 3 ..., or by date with {YYYY}{MM}{DD} in data.pattern"
                )
        elif found.get("YYYY") is not None:
            try:
                span = date_to_span(int(found["YYYY"]), int(found["MM"]), int(found["DD"]))
            except ValueError:
                continue
        else:
            span = 0
        _check_readable(path)  # a pipe would hang the digest, a folder fail the read
        spans.setdefault(span, []).append(path)
    return spans


def empty_span_folders(input_base: str, pattern: str) -> dict[int, str]:
    """Span -> folder, for the span folders of ``pattern`` (e.g. ``span-{SPAN}/*.csv``) that hold no matching file."""
    import tensorflow as tf

    folder_pattern, _, files = pattern.rpartition("/")
    if not folder_pattern or not uses_spans(folder_pattern):
        return {}
    regex = _pattern_regex(folder_pattern)
    empty = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(input_base, pattern_glob(folder_pattern)))):
        relative = os.path.relpath(path, input_base) if "://" not in path else path[len(input_base) :].lstrip("/")
        match = regex.match(relative.rstrip("/"))
        if match is None or not tf.io.gfile.isdir(path):
            continue
        found = match.groupdict()
        try:
            span = (
                int(found["SPAN"])
                if found.get("SPAN") is not None
                else date_to_span(int(found["YYYY"]), int(found["MM"]), int(found["DD"]))
            )
        except (ValueError, TypeError, KeyError):
            continue
        if not tf.io.gfile.glob(os.path.join(path, pattern_glob(files))):
            empty[span] = path
    return empty


def _listing(folder: str, limit: int = 6) -> str:
    import tensorflow as tf

    try:
        entries = sorted(tf.io.gfile.listdir(folder))
    except tf.errors.NotFoundError:
        return "nothing"
    if not entries:
        return "nothing"
    shown = ", ".join(e.rstrip("/") for e in entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _check_cloud_storage(path: str) -> None:
    """FileInputError if Cloud Storage cannot be reached from here, or no Google Cloud credentials are set."""
    import socket

    try:
        socket.getaddrinfo("storage.googleapis.com", 443)
    except OSError as err:
        raise FileInputError(
            f"cannot reach Cloud Storage for {path} ({err.strerror or err}): gs:// input needs the network; "
            "copy the files to a local folder, or run where Cloud Storage is reachable"
        ) from None
    try:
        import google.auth

        google.auth.default()
    except ImportError:
        return
    except Exception as err:  # noqa: BLE001 - google.auth's DefaultCredentialsError and transport errors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileInputError(
            f"no Google Cloud credentials to read {path} ({first[:160]}): run `gcloud auth application-default "
            "login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file"
        ) from None


def check_input(input_base: str | None, patterns: Mapping[str, str], span: int | None = None) -> dict[int, list[str]]:
    """Check that ``input_base`` exists and holds files for every split pattern; returns the spans found.

    Args:
        input_base: the folder of the files (local or ``gs://``).
        patterns: split name -> pattern relative to ``input_base`` (one entry when hash buckets split).
        span: the span asked for (None: the latest is taken).

    Raises:
        FileInputError: no folder, no matching file, or the asked span is not there.
    """
    import tensorflow as tf

    if not input_base:
        raise FileInputError(
            "no input folder: give the folder of your data files with --input-base DIR (or --set data.input_base=DIR)"
        )
    if not tf.io.gfile.isdir(input_base):
        if input_base.startswith("gs://"):
            _check_cloud_storage(input_base)  # TensorFlow says "not found" for a bucket it cannot reach too
        raise FileInputError(
            f"input folder {input_base} does not exist (or is not a folder): check the path given with --input-base"
        )
    found: dict[int, list[str]] = {}
    for split, pattern in patterns.items():
        spans = find_spans(input_base, pattern)
        if not spans:
            layout = " (a span's files go in a folder per span, e.g. span-1/)" if uses_spans(pattern) else ""
            which = f" for split {split}" if len(patterns) > 1 else ""
            raise FileInputError(
                f"no file under {input_base} matches {pattern}{which}{layout}; the folder holds "
                f"{_listing(input_base)}. Put the files there, or set data.pattern to where they are"
            )
        for number, files in spans.items():
            found.setdefault(number, []).extend(files)
    if span is None and found:
        for pattern in patterns.values():
            newer = {n: folder for n, folder in empty_span_folders(input_base, pattern).items() if n > max(found)}
            if newer:
                newest = max(newer)
                raise EmptySpanError(
                    f"span {newest} under {input_base} is empty: {newer[newest]} holds no file matching "
                    f"{pattern.rpartition('/')[2]}: this run would read span {max(found)} again. "
                    f"Put the day's files into {newer[newest]} (an export that did not arrive?), or remove the "
                    "empty folder"
                )
    if span is not None and span not in found:
        raise FileInputError(
            f"span {span} is not under {input_base} (spans found: {', '.join(map(str, sorted(found)))}); "
            "drop data.span to take the latest"
        )
    return dict(sorted(found.items()))


def late_spans(
    found: Mapping[int, list[str]], read: Mapping[int, int], window_spans: int, modified: Mapping[int, int]
) -> tuple[int | None, list[str]]:
    """Spans that arrived after a newer span was read: which one to read now, and a line for each other one.

    A span is late when its number is below the newest span read, it was never read (or its files were
    written again since it was read: an export delivered again), and its files were written after that
    newer span was read (a folder of old spans that was there from the start is not
    late: only the newest span is read by default). A late span that belongs in the training window
    (the ``window_spans`` newest spans) is read now, when the newest span has been read already; one
    that does not belong there is named in a line with the way to read it. Never silently ignored.

    Args:
        found: span -> its files, as :func:`check_input` returns.
        read: span -> when the newest Examples of it were written (ms since the epoch), for spans read before.
        window_spans: ``data.window_spans``.
        modified: span -> when its files were last written (ms since the epoch).

    Returns:
        (the span to read instead of the newest, or None; the lines to show).
    """
    if not read or not found:
        return None, []
    newest_read = max(read)
    late = [
        n
        for n in found
        if n < newest_read
        and (n not in read or modified.get(n, 0) > read[n])  # never read, or delivered again since
        and modified.get(n, 0) > min(t for s, t in read.items() if s > n)
    ]
    if not late:
        return None, []
    window = sorted(set(found) | set(read), reverse=True)[:window_spans]
    newest_new = max(found) not in read  # a new day arrived too: it is read first, as every day
    to_read = None if newest_new else max((n for n in late if n in window), default=None)
    lines = []
    for n in sorted(late):
        if n == to_read:
            lines.append(
                f"span {n} arrived after span {newest_read} was read: read now into the training window "
                f"(data.window_spans={window_spans})"
            )
        elif n in window:
            lines.append(
                f"span {n} arrived after span {newest_read} was read and belongs in the training window: this run "
                f"reads the new span {max(found)}; run again to read span {n}"
            )
        else:
            lines.append(
                f"span {n} arrived after span {newest_read} was read but is older than the training window "
                f"(spans {', '.join(map(str, sorted(window)))}): it is not read; read it with --set data.span={n}, "
                "or widen data.window_spans"
            )
    return to_read, lines

"""Which spans train and which are read: the window of validated spans, late spans, empty span folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from components.file_example_gen.spans import EmptySpanError, check_input, late_spans
from components.span_window import select_window


def _examples(artifact_id: int, span: int) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact(id=artifact_id)
    artifact.properties["span"].int_value = span
    return artifact


@pytest.mark.reliability
def test_a_stopped_span_never_enters_the_window_and_keeps_its_place() -> None:
    read = [_examples(1, 1), _examples(2, 2), _examples(3, 3), _examples(4, 4)]
    # Span 3 was stopped (no validated statistics); spans 2 and 4 passed.
    window = select_window(read, {1: True, 2: True, 4: True}, 3, stopped={3: "span 3 was stopped on D: bad"})
    assert [a.id for a in window.trained] == [2, 4]
    assert window.skipped == {3: "span 3 was stopped on D: bad"}  # not replaced by span 1: the window is 3 days
    # window_spans=2 on the day after the broken export: span 4 alone, never "3, 4".
    window = select_window(read, {1: True, 2: True, 4: True}, 2)
    assert [a.id for a in window.trained] == [4] and 3 in window.skipped


def test_each_span_trains_on_its_newest_read_and_opt_ins_are_marked() -> None:
    # Span 2 was read twice: first broken (id 5, stopped), then fixed (id 6, validated).
    read = [_examples(1, 1), _examples(5, 2), _examples(6, 2)]
    window = select_window(read, {1: True, 6: True}, 2)
    assert [a.id for a in window.trained] == [1, 6] and window.skipped == {}
    # Re-delivered broken after it had passed: the newest read is what the span holds now, so it is left out.
    read = [_examples(1, 1), _examples(6, 2), _examples(7, 2)]
    assert [a.id for a in select_window(read, {1: True, 6: True}, 2).trained] == [1]
    # A span that passed only by validation.allow_anomalies trains, and is marked.
    window = select_window([_examples(1, 1), _examples(2, 2)], {1: True, 2: False}, 2)
    assert [a.id for a in window.trained] == [1, 2] and window.allowed == [2]
    # A span whose files were deleted from the input folder is left out, with the reason.
    window = select_window([_examples(1, 1), _examples(2, 2)], {1: True, 2: True}, 2, present={1: False})
    assert [a.id for a in window.trained] == [2] and "files are gone" in window.skipped[1]


@pytest.mark.reliability
def test_a_late_span_is_read_into_the_window_or_named() -> None:
    files = {7: ["span-7/a.csv"], 8: ["span-8/a.csv"]}
    # Span 8 was read at t=1000; span 7's files were written afterwards.
    to_read, lines = late_spans(files, {8: 1000}, window_spans=2, modified={7: 2000, 8: 900})
    assert to_read == 7 and lines == [
        "span 7 arrived after span 8 was read: read now into the training window (data.window_spans=2)"
    ]
    # With a window of one span it does not belong there: named, with the way to read it.
    to_read, [line] = late_spans(files, {8: 1000}, window_spans=1, modified={7: 2000, 8: 900})
    assert to_read is None and "older than the training window (spans 8)" in line and "--set data.span=7" in line
    # A new day arrived too: the new span is read first, the late one named for the next run.
    files[9] = ["span-9/a.csv"]
    to_read, [line] = late_spans(files, {8: 1000}, window_spans=3, modified={7: 2000, 8: 900, 9: 2100})
    assert to_read is None and "this run reads the new span 9; run again to read span 7" in line
    # Old spans that were there before the first run are history, not late: nothing to say.
    assert late_spans({5: ["x"], 8: ["y"]}, {8: 1000}, 2, {5: 10, 8: 10}) == (None, [])
    assert late_spans(files, {}, 2, {}) == (None, [])  # the first run
    # A span stopped, then delivered again (fixed) after a newer span was read: read into the window.
    to_read, _ = late_spans({3: ["a"], 4: ["b"]}, {3: 500, 4: 1000}, window_spans=2, modified={3: 2000, 4: 900})
    assert to_read == 3
    # ... but not when its files did not change since it was read.
    assert late_spans({3: ["a"], 4: ["b"]}, {3: 500, 4: 1000}, 2, {3: 400, 4: 900}) == (None, [])


@pytest.mark.reliability
def test_an_empty_newest_span_folder_stops_the_run_naming_it(tmp_path: Path) -> None:
    (tmp_path / "span-1").mkdir()
    (tmp_path / "span-1" / "a.csv").write_text("x\n1\n")
    (tmp_path / "span-2").mkdir()
    with pytest.raises(EmptySpanError, match=r"span 2 under .* is empty: .*span-2 holds no file matching \*\.csv"):
        check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})
    # Asked for span 1 by number, or once span 2 has its files, the run goes on.
    assert list(check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"}, span=1)) == [1]
    (tmp_path / "span-2" / "a.csv").write_text("x\n2\n")
    assert list(check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})) == [1, 2]
    # An empty folder older than the newest span is not the day's export: no error.
    os.remove(tmp_path / "span-1" / "a.csv")
    assert list(check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})) == [2]

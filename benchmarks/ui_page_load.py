"""Page load time of ``tfx-keras ui`` over an output folder with many runs.

Copies a real output folder (a few MNIST runs), then replays its runs' ML Metadata records until the
store holds ``--runs`` runs: each replayed run gets new executions (same components, states and
properties) and new output artifacts (same types, folders and properties) in a new ``pipeline_run``
context, as a run that re-executes everything would. Then serves the UI and times each page over HTTP:
the first read of every run (TFMA imported, every evaluation read), each page's first load, loads with
ML Metadata unchanged (cached), and loads just after it changed (every run read again, as while a run
is in progress)::

    .venv/bin/python benchmarks/ui_page_load.py --source /tmp/ui_mnist --runs 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import urllib.parse
import urllib.request

from pipelines.keras_config import configure_keras

configure_keras()

from ml_metadata import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402

from pipelines import run_records  # noqa: E402
from pipelines.ui.reads import Catalog  # noqa: E402
from pipelines.ui.server import serve_in_background  # noqa: E402
from pipelines.ui.stores import sources_for  # noqa: E402


def replay(path: str, pipeline: str, runs: int) -> None:
    """Add runs to the SQLite store at ``path`` by replaying its existing runs' records, oldest first."""
    store = metadata_store.MetadataStore(run_records.sqlite_config(path))
    originals = list(reversed(run_records.read_runs(store, pipeline)))
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline)
    nodes = {c.name.split(".", 1)[1]: c for c in store.get_contexts_by_type("node") if c.name.startswith(pipeline)}
    run_type = store.get_context_type("pipeline_run").id
    count = len(originals)
    while count < runs:
        source = originals[count % len(originals)]
        [run_ctx] = store.put_contexts([pb.Context(type_id=run_type, name=f"replay-{count}-{source.run_id}")])
        run = pb.Context(id=run_ctx, type_id=run_type, name=f"replay-{count}-{source.run_id}")
        events_of: dict[int, list[pb.Event]] = {}
        for event in source.events:
            events_of.setdefault(event.execution_id, []).append(event)
        for execution in sorted(source.executions, key=lambda e: e.id):
            copy = pb.Execution()
            copy.CopyFrom(execution)
            copy.ClearField("id")
            copy.ClearField("name")  # names are unique per type
            copy.ClearField("create_time_since_epoch")
            copy.ClearField("last_update_time_since_epoch")
            pairs = []
            for event in events_of.get(execution.id, []):
                artifact = pb.Artifact()
                artifact.CopyFrom(source.artifacts[event.artifact_id])
                if event.type in run_records.OUTPUT_EVENTS:  # a new artifact in the same folder
                    for field in ("id", "create_time_since_epoch", "last_update_time_since_epoch", "name"):
                        artifact.ClearField(field)
                new_event = pb.Event(type=event.type)
                new_event.path.CopyFrom(event.path)
                pairs.append((artifact, new_event))
            contexts = [pipeline_ctx, run] + (
                [nodes[source.node(execution)]] if source.node(execution) in nodes else []
            )
            store.put_execution(copy, pairs, contexts)
        count += 1


def timed(url: str, times: int) -> list[float]:
    """Seconds each of ``times`` GETs of ``url`` took."""
    took = []
    for _ in range(times):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
        took.append(time.perf_counter() - start)
    return took


def main() -> None:
    """Make the folder, serve it, time the pages, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="an output folder with a few runs (one pushed)")
    parser.add_argument("--pipeline", default=None, help="the pipeline to replay (default: the only one)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    work = os.path.join(tempfile.mkdtemp(prefix="ui_bench_"), "outputs")
    shutil.copytree(args.source, work, symlinks=True, ignore=shutil.ignore_patterns("*.lock"))
    [source] = (
        sources_for(work) if args.pipeline is None else [s for s in sources_for(work) if s.pipeline == args.pipeline]
    )
    replay(source.config.sqlite.filename_uri, source.pipeline, args.runs)

    catalog = Catalog(sources_for(work), work)
    ui = serve_in_background(catalog)
    base = ui.url.rstrip("/")
    start = time.perf_counter()
    runs = catalog.runs()  # the first read: TFMA imported, every run summarized, each evaluation read once
    cold = time.perf_counter() - start
    assert len(runs) >= args.runs, len(runs)
    pushed = next(r for r in runs if r.summary.pushed)
    pages = {
        "run list": "/",
        "run DAG": f"/run/{source.pipeline}/{urllib.parse.quote(pushed.record.run_id, safe='')}",
        "history charts": f"/history/{source.pipeline}",
        "served": "/served",
    }
    first = {name: timed(base + path, 1)[0] for name, path in pages.items()}
    print(f"{len(runs)} runs of {source.pipeline} in {work}; the first read of them all: {cold:.1f} s")
    n = args.repeats
    print(f"| page | first load | ML Metadata unchanged (median of {n}) | just after a change (median of {n}) |")
    print("|---|---|---|---|")
    for name, path in pages.items():
        warm = statistics.median(timed(base + path, args.repeats))
        changed = []
        for _ in range(args.repeats):
            catalog._snapshots.clear()  # noqa: SLF001 - what a new execution update does
            changed += timed(base + path, 1)
        after = statistics.median(changed)
        print(f"| {name} | {first[name] * 1000:.0f} ms | {warm * 1000:.0f} ms | {after * 1000:.0f} ms |")
    ui.stop()


if __name__ == "__main__":
    main()

"""The UI's HTTP side: tornado handlers that render Jinja2 templates from :class:`pipelines.ui.reads.Catalog`.

Read-only: every route is a GET; the only files served are the pictures and documents the pages link
(in the folders of the shown artifacts). A request is answered only for the host names the UI serves
(a DNS-rebinding page cannot read it), and ML Metadata is read off the event loop with a time limit,
so a writer holding SQLite's lock slows one page, not the UI.

Long because every page is here: a handler of a few lines per page over the catalog's reads, the
application that routes them, and its two ways to run (until Ctrl-C, or on a thread for the tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import mimetypes
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import jinja2
import tornado.httpserver
import tornado.web

from pipelines.ui import charts, graphs
from pipelines.ui.listen import allowed_hosts, bind, is_ip
from pipelines.ui.reads import Catalog, Run, json_preview

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
RUNNING_REFRESH_S = 5  # while a run is in progress, its pages reload this often
IDLE_REFRESH_S = 30  # the run list, otherwise
LINEAGE_KEYS = ("span", "split_names", "version", "blessed", "pushed_version", "pushed_destination", "reason",
                "noise_margins", "anomalies")  # fmt: skip


READ_TIMEOUT_S = 15  # a page whose ML Metadata reads take longer says so (a writer holding the lock?)
FILE_CHUNK = 256 * 1024  # files are streamed in pieces of this size, never read whole


def _quote(value: object) -> str:
    return urllib.parse.quote(str(value), safe="")


def _short(value: object, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def run_url(run: Run) -> str:
    """The page of one run."""
    return f"/run/{_quote(run.pipeline)}/{_quote(run.record.run_id)}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters.update(
        q=_quote,
        short=_short,
        basename=os.path.basename,
        relative=lambda path, start: os.path.relpath(path, start),
        json_preview=json_preview,
    )
    env.globals.update(run_url=run_url, state_words=graphs.STATE_WORDS)
    return env


class _Page(tornado.web.RequestHandler):
    """Common to every page: the catalog, the templates, one-line errors."""

    def initialize(
        self,
        catalog: Catalog,
        env: jinja2.Environment,
        hosts: frozenset[str] | None,
        reader: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        """Handlers share one catalog, one template environment, the allowed hosts and the reading thread."""
        self.catalog = catalog
        self.env = env
        self.hosts = hosts
        self.reader = reader

    def prepare(self) -> None:
        """Refuse a Host header the UI does not serve (DNS rebinding), before anything is read."""
        name = self.request.host_name.lower()
        if self.hosts is not None and name not in self.hosts and not is_ip(name):
            raise tornado.web.HTTPError(
                403, reason=f"this UI does not serve the host name {name!r}: start it with --allow-host {name}"
            )

    async def read(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the reading thread (ML Metadata, files), within READ_TIMEOUT_S."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.reader, function, *args), READ_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise tornado.web.HTTPError(
                503,
                reason=f"ML Metadata did not answer within {READ_TIMEOUT_S} s (a run writing to it holds "
                "its lock?): reload the page in a moment",
            ) from None
        except (KeyError, tornado.web.HTTPError):
            raise
        except Exception as err:  # noqa: BLE001 - SQLite, MySQL and ML Metadata raise their own errors
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise tornado.web.HTTPError(
                500, reason=f"cannot read ML Metadata ({first}): is the file damaged, or the server down?"
            ) from None

    def page(self, template: str, title: str, refresh: int | None = None, **context: Any) -> None:
        """Render ``template`` inside the common layout."""
        html = self.env.get_template(template).render(
            title=title,
            refresh=refresh,
            pipelines=self.catalog.pipelines,
            output_dir=self.catalog.output_dir,
            **context,
        )
        self.write(html)

    async def find_run(self, pipeline: str, run_id: str) -> Run:
        """The run named in the URL, or a 404."""
        try:
            return await self.read(self.catalog.run, pipeline, run_id)
        except KeyError:
            raise tornado.web.HTTPError(404, reason=f"no run {run_id} of {pipeline}") from None

    def write_error(self, status_code: int, **_: Any) -> None:
        """One line, no traceback."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {self._reason}\n")


class RunsPage(_Page):
    """Every run of every pipeline, newest first."""

    async def get(self) -> None:
        """The run list."""
        runs = await self.read(self.catalog.runs)
        refresh = RUNNING_REFRESH_S if any(r.running for r in runs) else IDLE_REFRESH_S
        self.page("runs.html", "Runs", refresh, runs=runs)


class RunPage(_Page):
    """One run: its DAG with each component's state and seconds."""

    async def get(self, pipeline: str, run_id: str) -> None:
        """The run's DAG and components."""
        run = await self.find_run(pipeline, run_id)
        nodes, edges, declared = await self.read(self.catalog.dag, pipeline)
        drawn = [
            (node, run.summary.components.get(node, "NOT_RUN"), run.summary.seconds.get(node),
             f"{run_url(run)}/component/{_quote(node)}")
            for node in [*nodes, *(n for n in run.summary.components if n not in nodes)]
        ]  # fmt: skip
        try:
            dag_svg = graphs.render(graphs.dag_source(drawn, edges, declared))
        except graphs.GraphvizMissingError as err:
            dag_svg = f"<p>{graphs.escape(str(err))}</p>"
        outputs = await self.read(run.record.outputs)
        pushed = [
            a.id
            for node, artifacts in outputs.items()
            for a in artifacts
            if run.record.type_name(a) == "PushedModel" and run.summary.pushed
        ]
        refresh = RUNNING_REFRESH_S if run.running else None
        self.page("run.html", f"{pipeline} {run_id}", refresh, run=run, dag_svg=dag_svg,
                  pushed_model=pushed[0] if pushed else None)  # fmt: skip


class ComponentPage(_Page):
    """One component of a run: its artifacts, their properties, the pictures it wrote."""

    async def get(self, pipeline: str, run_id: str, node: str) -> None:
        """The component's page."""
        run = await self.find_run(pipeline, run_id)
        component = await self.read(self.catalog.component, run, node)
        refresh = RUNNING_REFRESH_S if run.running else None
        self.page("component.html", f"{node} · {pipeline} {run_id}", refresh, run=run, component=component)


class LineagePage(_Page):
    """What a pushed model came from, and which served version it is."""

    async def get(self, pipeline: str, artifact_id: str) -> None:
        """The lineage graph and table."""
        if pipeline not in self.catalog.pipelines:
            raise tornado.web.HTTPError(404, reason=f"no pipeline {pipeline}")
        if int(artifact_id) >= 2**63:  # ML Metadata's ids are int64
            raise tornado.web.HTTPError(404, reason=f"no artifact {artifact_id}")
        lineage = await self.read(self.catalog.lineage, pipeline, int(artifact_id))
        if not lineage["artifacts"]:
            raise tornado.web.HTTPError(404, reason=f"no artifact {artifact_id}")
        artifacts = lineage["artifacts"]
        target = next(a for a in artifacts if a["id"] == int(artifact_id))

        def execution_href(execution: dict[str, Any]) -> str:
            if not execution.get("run_id"):
                return ""
            return f"/run/{_quote(pipeline)}/{_quote(execution['run_id'])}/component/{_quote(execution['node'])}"

        source = graphs.lineage_source(
            [(a["id"], f"{a['type']} {a['id']}", execution_href(a["producer"] or {})) for a in artifacts],
            [
                (e["id"], e["node"] + (" (cached)" if e["cached"] else ""), execution_href(e))
                for e in lineage["executions"].values()
            ],  # fmt: skip
            lineage["edges"],
        )
        try:
            graph_svg = graphs.render(source)
        except graphs.GraphvizMissingError as err:
            graph_svg = f"<p>{graphs.escape(str(err))}</p>"
        self.page("lineage.html", f"lineage of {artifact_id}", None, pipeline=pipeline, target=target,
                  artifacts=artifacts, served=lineage["served"], graph_svg=graph_svg, keys=LINEAGE_KEYS)  # fmt: skip


class HistoryPage(_Page):
    """Across runs: metrics over time, drift and anomalies per span."""

    async def get(self, pipeline: str) -> None:
        """The charts."""
        if pipeline not in self.catalog.pipelines:
            raise tornado.web.HTTPError(404, reason=f"no pipeline {pipeline}")
        history = await self.read(self.catalog.history, pipeline)
        self.page(
            "history.html",
            f"{pipeline} history",
            IDLE_REFRESH_S,
            pipeline=pipeline,
            metrics_svg=charts.metrics_over_time(history["metrics"]),
            drift_svg=charts.drift_per_span(history["drift"]),
            anomalies_svg=charts.anomalies_per_span(history["anomalies"]),
        )


class ServedPage(_Page):
    """The versions in the serving folder, each with the run that pushed it."""

    async def get(self) -> None:
        """The served versions."""
        serving_root = os.path.join(self.catalog.output_dir, "serving")
        served = await self.read(self.catalog.served)
        rolled_back = await self.read(self.catalog.rolled_back)
        moves = await self.read(self.catalog.label_moves)
        self.page(
            "served.html",
            "Served",
            IDLE_REFRESH_S,
            served=served,
            rolled_back=rolled_back,
            moves=moves,
            serving_root=serving_root,
        )


class FilePage(_Page):
    """A picture or report a page links (in a shown artifact's folder), streamed in pieces."""

    async def get(self) -> None:
        """The file's bytes."""
        asked = os.path.join(self.catalog.output_dir, self.get_query_argument("path", ""))
        path = await self.read(self.catalog.linked_file, asked)  # links followed, then checked
        if path is None:
            raise tornado.web.HTTPError(404, reason="no such picture or report of a shown artifact")
        self.set_header("Content-Type", mimetypes.guess_type(path)[0] or "application/octet-stream")
        self.set_header("Content-Length", str(os.path.getsize(path)))
        with open(path, "rb") as handle:
            while chunk := await self.read(handle.read, FILE_CHUNK):
                self.write(chunk)
                await self.flush()  # one piece in memory at a time, at the client's pace


def make_app(catalog: Catalog, hosts: frozenset[str] | None = None) -> tornado.web.Application:
    """The tornado application of the UI over ``catalog``, answering for ``hosts`` (None: any host)."""
    reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfx-keras-ui-read")
    shared = {"catalog": catalog, "env": _environment(), "hosts": hosts, "reader": reader}
    name = r"([^/]+)"
    return tornado.web.Application(
        [
            (r"/", RunsPage, shared),
            (rf"/run/{name}/{name}", RunPage, shared),
            (rf"/run/{name}/{name}/component/{name}", ComponentPage, shared),
            (rf"/lineage/{name}/([0-9]+)", LineagePage, shared),
            (rf"/history/{name}", HistoryPage, shared),
            (r"/served", ServedPage, shared),
            (r"/file", FilePage, shared),
        ]
    )


async def _serve(app: tornado.web.Application, sockets: list[socket.socket], started: Callable[[], None]) -> None:
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    started()
    await asyncio.Event().wait()


def serve(
    catalog: Catalog, host: str, port: int, started: Callable[[str], None] = print, extra_hosts: Sequence[str] = ()
) -> None:
    """Serve the UI until interrupted (Ctrl-C raises KeyboardInterrupt out of here)."""
    sockets = bind(host, port)
    bound = sockets[0].getsockname()[1]
    app = make_app(catalog, allowed_hosts(host, extra_hosts))
    asyncio.run(_serve(app, sockets, lambda: started(f"http://{host}:{bound}/")))


@dataclasses.dataclass
class Background:
    """The UI served from a thread of this process (tests, screenshots, benchmarks)."""

    url: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the loop (the listening sockets close with the server)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


def serve_in_background(
    catalog: Catalog, host: str = "127.0.0.1", port: int = 0, extra_hosts: Sequence[str] = ()
) -> Background:
    """Start the UI on a thread; returns once it listens."""
    sockets = bind(host, port)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = tornado.httpserver.HTTPServer(make_app(catalog, allowed_hosts(host, extra_hosts)))
        server.add_sockets(sockets)
        loop.call_soon(ready.set)
        loop.run_forever()
        server.stop()  # closes the listening sockets
        loop.run_until_complete(server.close_all_connections())

    thread = threading.Thread(target=run, name="tfx-keras-ui", daemon=True)
    thread.start()
    if not ready.wait(timeout=30):
        raise RuntimeError("the UI did not start serving within 30 s")
    return Background(f"http://{host}:{sockets[0].getsockname()[1]}/", loop, thread)

"""``tfx-keras ui``: a local, read-only web page over the runs' ML Metadata (:mod:`pipelines.ui`)."""

from __future__ import annotations

import argparse
import sys

from pipelines.cli.options import absolute, port_number


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``ui`` sub-command."""
    p = sub.add_parser(
        "ui",
        help="a read-only web page over the runs: DAGs, artifacts, lineage, metrics, what is served",
        description="Serve a read-only web page over the ML Metadata of the runs under --output-dir: every "
        "pipeline's runs (newest first), each run's DAG and components with their artifacts and pictures, the "
        "lineage of a pushed model, metrics, drift and anomalies across runs, and the served versions. Pages of "
        "a run in progress refresh themselves. Ctrl-C stops it.",
    )
    p.add_argument("--output-dir", default="./outputs", help="the runs' --output-dir (default: ./outputs)")
    p.add_argument(
        "--metadata",
        default="",
        metavar="URL",
        help="the runs' shared ML Metadata database, mysql://user[:password]@host[:port]/database "
        "(default: the SQLite files under --output-dir)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=port_number, default=8080, help="port to listen on (default: 8080)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the pages may be asked for besides this machine's (a proxy's, a DNS name); "
        "requests naming other hosts are refused (DNS rebinding). IP addresses are always accepted",
    )
    p.set_defaults(handler=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the stores, serve the pages until Ctrl-C; a missing folder, empty metadata or a busy port: one line."""
    from pipelines.metadata_store import MetadataURLError
    from pipelines.ui.listen import PortInUseError
    from pipelines.ui.reads import Catalog, warm_up
    from pipelines.ui.server import serve
    from pipelines.ui.stores import StoreError, sources_for

    output_dir = absolute(args.output_dir)
    try:
        catalog = Catalog(sources_for(output_dir, args.metadata), output_dir)
        warm_up()
        serve(
            catalog,
            args.host,
            args.port,
            lambda url: print(f"[ui] {url} (read-only; Ctrl-C stops)", flush=True),
            extra_hosts=args.allow_host,
        )
    except (StoreError, PortInUseError, MetadataURLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0

"""``tfx-keras ui``: a local, read-only web page over ML Metadata: runs, DAGs, lineage, metrics, what is served.

:mod:`pipelines.ui.stores` decides which ML Metadata stores to open (one function), :mod:`pipelines.ui.reads`
reads them (through :mod:`pipelines.run_records`, as the run summary does), :mod:`pipelines.ui.graphs`
and :mod:`pipelines.ui.charts` draw (Graphviz and matplotlib, as SVG, on the server), and
:mod:`pipelines.ui.server` serves the pages (tornado, Jinja2 templates). Nothing here needs TFT; TFMA
is imported only to read an evaluation's metrics.
"""

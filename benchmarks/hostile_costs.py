"""What four hostile cases of the third sweep cost now: time and memory, measured.

    .venv/bin/python benchmarks/hostile_costs.py [--gb 1]

1. the content check of a 1 GB CSV file (``check_csv``, in a process of its own: its peak memory and time);
2. three downloads of a 1 GB report from ``tfx-keras ui`` (the UI's resident memory before and at its peak);
3. a model that allocates 625 MB a row, infra-validated with ``--max-memory-mb 2048`` (when it is ended);
4. 1,050 REST connections that dribble a request and never finish it, under a 1,024 file-descriptor
   limit, while one client asks for the model's status (its answers and their time).

Each case runs in a process of its own, as a user would meet it. Results: ``benchmarks/results/hostile_costs.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

UI_CASE = """
import os, sys, time, urllib.parse, urllib.request
sys.path.insert(0, "tests")
from helpers import ui_store
from pipelines.ui.reads import Catalog
from pipelines.ui.server import serve_in_background
from pipelines.ui.stores import sources_for
out = ui_store.make_output_dir(__import__("pathlib").Path(sys.argv[1]) / "outputs")
report = next(out.rglob("data_report.html"))
with open(report, "wb") as f:
    for _ in range(int(float(sys.argv[2]) * 1024)):
        f.write(b"x" * 2**20)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
catalog = Catalog(sources_for(str(out)), str(out), read_metrics=lambda _: {}, read_failures=lambda _: [])
ui = serve_in_background(catalog)
before, start, peak = rss(), time.monotonic(), 0.0
for _ in range(3):
    url = ui.url.rstrip("/") + "/file?path=" + urllib.parse.quote(str(report))
    with urllib.request.urlopen(url, timeout=600) as response:
        while response.read(2**20):
            peak = max(peak, rss())
print({"rss_before_mb": round(before), "rss_peak_mb": round(peak), "seconds": round(time.monotonic() - start, 1)})
ui.stop()
"""

CSV_CASE = """
import sys, time
from components.file_example_gen.checks import check_csv
start = time.monotonic()
rows = check_csv(sys.argv[1], None)
print({"rows": rows, "seconds": round(time.monotonic() - start, 1)})
"""

MEMORY_MODEL = """
import sys
import tensorflow as tf
class M(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, serialized):
        rows = tf.shape(serialized)[0]
        big = tf.ones(tf.stack([rows, 625 * 2**20 // 4]), tf.float32)  # 625 MB a row
        return {"y": tf.reduce_sum(big, axis=1)}
m = M()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve})
with tf.io.TFRecordWriter(sys.argv[2]) as w:
    for _ in range(8):
        w.write(tf.train.Example().SerializeToString())
"""

SOCKETS_CASE = """
import re, resource, socket, subprocess, sys, time, urllib.request
sys.path.insert(0, "tests")
from helpers.toy_model import write_toy_model
root = sys.argv[1]
write_toy_model(root + "/toy", 1)
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))  # the clients' own limit: not the server's
def limited():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # the server's, as on a default host
server = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--model-base-path", root,
                           "--port", "0", "--rest-api-port", "-1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, preexec_fn=limited)
url = target = None
while url is None:
    line = server.stdout.readline()
    if not line:
        raise SystemExit("the server did not start")
    if found := re.search(r"gRPC API on (\\S+)", line):
        target = found.group(1)
    match = re.search(r"REST API on (http://[^/ ]+)", line)
    url = match.group(1) if match else None
host, port = url.removeprefix("http://").rsplit(":", 1)
held, refused = [], 0
for _ in range(1050):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"POST /v1/models/toy:predict HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\n\\r\\n{")
        held.append(s)
    except OSError:
        refused += 1
answers, times = 0, []
for _ in range(20):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/v1/models/toy", timeout=10) as r:
            answers += r.status == 200
    except OSError:
        pass
    times.append(time.monotonic() - start)
def closed_by_server(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False  # still open: held until its idle timeout
    except OSError:
        return True
closed = sum(closed_by_server(s) for s in held)  # the server closed those over its limit
from serving.client import ServingClient
with ServingClient(target, timeout=10) as grpc_client:  # the gRPC port meanwhile
    grpc_answers = sum(grpc_client.status("toy") == {1: "AVAILABLE"} for _ in range(20))
server.terminate()
log = server.communicate(timeout=60)[0]
print({"sockets_sent": len(held), "closed_by_the_server": closed, "rest_status_answers_of_20": answers,
       "grpc_status_answers_of_20": grpc_answers,
       "slowest_answer_s": round(max(times), 3), "server_log_lines": len(log.splitlines()),
       "too_many_open_files_lines": log.count("Too many open files")})
"""


def _child(code: str, *args: str, env: dict | None = None) -> tuple[dict, float]:
    """Run ``code`` in a new Python; (what it printed last, as a dict, its peak resident memory in MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code), *args],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"case failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return eval(lines[-1]), max(peak, before) / 1024  # noqa: S307 - our own child's dict literal


def main(argv: list[str] | None = None) -> int:
    """Run the four cases; print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the big files (default 1)")
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="hostile_") as tmp:
        work = Path(tmp)
        big = work / "big.csv"
        with open(big, "w", encoding="utf-8") as f:
            line = "0.1,0.2,0.3,0.4,1\n"
            f.write("culmen_length_mm,culmen_depth_mm,flipper_length_mm,body_mass_g,species\n")
            for _ in range(int(args.gb * 2**30 / len(line))):
                f.write(line)
        csv_result, csv_peak = _child(CSV_CASE, str(big))
        results["check of a big CSV"] = {**csv_result, "peak_rss_mb": round(csv_peak)}
        big.unlink()
        ui, _ = _child(UI_CASE, str(work / "ui"), str(args.gb))
        results["ui: 3 downloads of a big report"] = ui
        model, requests, report = work / "model", work / "requests.tfrecord", work / "report.json"
        _child(MEMORY_MODEL + "\nprint({})", str(model), str(requests))
        start = time.monotonic()
        subprocess.run(
            [PYTHON, "-m", "serving.validate", "--model-dir", str(model), "--examples", str(requests),
             "--out", str(report), "--max-memory-mb", "2048", "--time-limit", "300"],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        verdict = json.loads(report.read_text())
        results["infra validation of a 625 MB-a-row model, limit 2048 MB"] = {
            "seconds": round(time.monotonic() - start, 1),
            "blessed": verdict["blessed"],
            "reason": verdict["reason"][:140],
        }
        sockets, _ = _child(SOCKETS_CASE, str(work / "serving"))
        results["1,050 dribbling REST connections, 1,024 descriptors"] = sockets
    lines = [
        f"# Hostile cases of the third sweep: what they cost ({time.strftime('%Y-%m-%d')}, this machine)",
        "",
        f"`.venv/bin/python benchmarks/hostile_costs.py --gb {args.gb:g}`",
        "",
        *(f"- **{case}**: {json.dumps(values)}" for case, values in results.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "results" / "hostile_costs.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

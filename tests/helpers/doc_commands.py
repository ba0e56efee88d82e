"""The shell commands the README and docs/ show a user, read from their ```bash blocks, and a way to run them.

A command is one line of a block (a line that starts with spaces continues the one before; a line
that starts with ``#`` is shown output). The tests run each one as a user would, in a scratch folder
that holds the files the docs name (``digit.png``, ``tfds_data``, ``cloud.json`` ...) made from the
suite's fixtures; :data:`NOT_RUN` says why the few that are not run are not.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]

# A command that starts with one of these is not run by the suite, for the reason given.
NOT_RUN = {
    "./scripts/run_mnist.sh": "sets up and runs the MNIST pipeline on the real data (minutes); the e2e tests run "
    "the same pipeline on a fixture",
    "./scripts/test.sh": "the suite itself: CI (.ci/run) runs it",
    ".venv/bin/python benchmarks/": "a benchmark (minutes, real data): run by hand, results in benchmarks/",
    "git worktree add": "checks out an older commit to benchmark against, by hand",
    "tfx-keras submit": "submits to Vertex AI (network, credentials); tests/test_kubeflow.py submits to a stand-in",
    "tfx-keras serving rollback": "moves a pushed version out of the serving folder the other commands query; "
    "tests/test_rollback.py rolls back an output folder it writes",
    "tfx-keras serving label": "names a version of a pushed model; tests/test_serving_operations.py moves a label "
    "on a config file it writes, under 32 clients",
    "tfx-keras serve --model-config-file outputs/serving/models.config": "serves the labels of the config file the "
    "`serving label` line above moves; tests/test_serving_operations.py serves such a file",
    "tfx-keras replay": "replays a compiled spec task by task (minutes); tests/e2e/test_kubeflow_replay_e2e.py "
    "compiles and replays penguin's",
    "tfx-keras monitor": "needs the request log of a served model and the runs that pushed it; "
    "tests/e2e/test_penguin_pipeline_e2e.py logs requests to a pushed penguin model and runs it",
    ".venv/bin/python -m serving.validate": "needs a pushed model and its requests; every pipeline run runs it "
    "(the InfraValidator), and tests/test_infra_validator.py runs it with these flags",
    "tfx-keras ui": "a web server that runs until Ctrl-C (--metadata: on a MariaDB the tests start); "
    "tests/test_ui.py serves its pages and "
    "tests/e2e/test_mnist_pipeline_e2e.py opens them in a browser",
    "tfx-keras run penguin --metadata mysql://": "needs a MariaDB/MySQL server at the address shown; "
    "tests/test_metadata_store.py and tests/e2e/test_tabular_e2e.py run --metadata against a real MariaDB they start",
}
# Fixture-sized runs of commands that would take minutes on their default data. A pipeline `run`
# is checked with --dry-run (the checks a run makes before it starts, and its components); the e2e
# tests run the pipelines themselves.
FIXTURE_FLAGS = {
    "data generate ticket": ["--set", "data.num_examples=400"],
    "schema infer ticket": ["--set", "data.num_examples=400"],
    "run": ["--dry-run"],
}


# A ```python block whose doc and first line match is not run, for the reason given.
PYTHON_NOT_RUN = {
    ("docs/adding-a-task.md", "class MyConfig(TaskConfig):"): "a template with blanks to fill in (``...``)",
    ("docs/adding-a-task.md", "from pipelines import tasks"): "a test of the user's package (REPO, write_rows are "
    "theirs); tests/e2e/test_task_plugins.py makes the same calls on a package of its own",
    ("docs/your-data.md", "class PenguinConfig(TabularConfig):"): "an excerpt of pipelines/penguin/__init__.py, "
    "which the penguin e2e tests run",
}


@dataclasses.dataclass(frozen=True)
class PythonBlock:
    """One documented ```python block: where it is shown, and its code (dedented)."""

    doc: str
    line: int
    code: str

    @property
    def skipped(self) -> str | None:
        """Why the suite does not run it (None: it does)."""
        first = self.code.strip().splitlines()[0]
        return next((why for (doc, start), why in PYTHON_NOT_RUN.items() if doc == self.doc and first == start), None)

    def run(self, replace: Mapping[str, str] | None = None, namespace: dict[str, object] | None = None) -> str:
        """Execute the block as a module would run it (after ``replace``) in ``namespace``; returns what it printed."""
        import contextlib
        import io

        code = self.code
        for old, new in (replace or {}).items():
            code = code.replace(old, new)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace = namespace if namespace is not None else {}
            namespace.setdefault("__name__", "__doc_example__")
            exec(compile(code, f"{self.doc}:{self.line}", "exec", dont_inherit=True), namespace)  # noqa: S102
        return out.getvalue()

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def documented_python() -> list[PythonBlock]:
    """Every ```python block of the README and docs/, in order."""
    import textwrap

    blocks = []
    for doc in DOCS:
        name = str(doc.relative_to(ROOT))
        lines = doc.read_text(encoding="utf-8").splitlines()
        start = None
        for number, line in enumerate(lines, 1):
            if line.strip() == "```python":
                start = number
            elif line.strip() == "```" and start is not None:
                blocks.append(PythonBlock(name, start, textwrap.dedent("\n".join(lines[start : number - 1]))))
                start = None
    return blocks


@dataclasses.dataclass(frozen=True)
class Command:
    """One documented command: where it is shown, and its words (``tfx-keras`` for ``.venv/bin/tfx-keras``)."""

    doc: str
    line: int
    text: str

    @property
    def words(self) -> list[str]:
        """The command's words, comments dropped, the project's entry point as ``tfx-keras``."""
        words = shlex.split(self.text, comments=True)
        return ["tfx-keras" if w == ".venv/bin/tfx-keras" else w for w in words]

    @property
    def skipped(self) -> str | None:
        """Why the suite does not run it (None: it does)."""
        normalized = " ".join(self.words)
        return next((why for prefix, why in NOT_RUN.items() if normalized.startswith(prefix)), None)

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def documented_commands() -> list[Command]:
    """Every command of every ```bash block of the README, docs/ and benchmarks/README.md, in order."""
    commands = []
    for doc in DOCS:
        name = str(doc.relative_to(ROOT))
        in_block, current = False, None
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                if current:
                    commands.append(current)
                in_block, current = line.strip() == "```bash", None
                continue
            if not in_block or not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith((" ", "\t")) and current:
                current = dataclasses.replace(current, text=f"{current.text} {line.strip()}")
                continue
            if current:
                commands.append(current)
            current = Command(name, number, line.strip())
    return commands


def with_fixture_flags(words: list[str]) -> list[str]:
    """The command's arguments (after ``tfx-keras``) with :data:`FIXTURE_FLAGS` added where they apply."""
    args = words[1:]
    for prefix, flags in FIXTURE_FLAGS.items():
        if " ".join(args).startswith(prefix):
            return [*args, *flags]
    return args


def substitute(words: list[str], places: Mapping[str, str], by_task: Mapping[tuple[str, str], str]) -> list[str]:
    """Replace the docs' placeholders with the scratch folder's files.

    ``places`` maps a word (``digit.png``, ``/data/penguins``) to what stands for it; ``by_task`` maps
    (task, placeholder) to a task's own (``("penguin", "DIR")``: the penguin input folder).
    """
    task = next((w for w in words[2:] if not w.startswith("-")), "") if len(words) > 2 else ""
    out = []
    for word in words:
        word = by_task.get((task, word), places.get(word, word))
        for name, value in places.items():
            if "://" in name or name.startswith(("localhost:", "127.0.0.1:")):
                word = word.replace(name, value)
        out.append(word)
    return out


def curl(words: list[str]) -> str:
    """What ``curl -s [-d BODY] URL`` prints (its words after ``curl``), with Python's HTTP client."""
    body, url = None, None
    rest = iter(words)
    for word in rest:
        if word == "-d":
            body = next(rest).encode()
        elif not word.startswith("-"):
            url = word if "://" in word else f"http://{word}"
    assert url, words
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read().decode()
    except urllib.error.HTTPError as err:
        raise AssertionError(f"HTTP {err.code}: {err.read().decode()}") from None


def pipe(words: list[str]) -> tuple[list[str], list[list[str]]]:
    """(the command, the commands it is piped into)."""
    parts: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            parts.append([])
        else:
            parts[-1].append(word)
    return parts[0], parts[1:]


def grep(text: str, words: list[str]) -> str:
    """``grep PATTERN`` over ``text``."""
    (pattern,) = words[1:]
    return "\n".join(line for line in text.splitlines() if re.search(pattern, line))


def json_or_text(text: str) -> object:
    """The JSON an HTTP answer holds (a parse error fails the test with the text)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON: {text[:300]}") from None


def commands_where(keep: Callable[[Command], bool]) -> Iterator[Command]:
    """The documented commands the suite runs, for which ``keep`` holds, each distinct one once."""
    seen = set()
    for command in documented_commands():
        key = tuple(command.words)
        if command.skipped is None and keep(command) and key not in seen:
            seen.add(key)
            yield command

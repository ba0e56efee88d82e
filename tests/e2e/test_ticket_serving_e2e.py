"""The ticket model the pipeline pushed (span 1 of the day-2 story), served: plain text in, both heads out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.contract_doc import check_section

from pipelines.cli import main as cli_main
from pipelines.ticket import generator
from serving.client import ServingClient, ServingError
from serving.codec import InputError, ModelClient
from serving.server import ServingServer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ticket")]  # the worker that runs the ticket pipelines


@pytest.fixture(scope="module")
def serving_root(ticket_run: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A serving root with the ticket model the pipeline pushed."""
    import shutil

    root = tmp_path_factory.mktemp("ticket_serving")
    pushed = Path(ticket_run[0].pushed_destination)
    shutil.copytree(pushed, root / "ticket" / pushed.name)
    return root


def test_ticket_model_answers_from_plain_text(client: ServingClient, serving_root: Path) -> None:
    version = client.wait_until_ready("ticket", timeout=60)
    tickets = [generator.make_ticket(99, i) for i in range(32)]
    plain = [{"title": t["title"], "body": t["body"], "tags": t["tags"]} for t in tickets]
    served = ModelClient(client, "ticket").predict(plain)
    model = tf.saved_model.load(str(serving_root / "ticket" / str(version)))
    width = max(1, max(len(t["tags"]) for t in plain))
    local = model.signatures["serving_raw"](
        title=tf.constant([t["title"] for t in plain]),
        body=tf.constant([t["body"] for t in plain]),
        tags=tf.constant([t["tags"] + [""] * (width - len(t["tags"])) for t in plain]),
    )
    departments = [p.heads["department"][0] for p in served]
    priorities = [p.values["priority"] for p in served]
    assert departments == [n.decode() for n in local["department_class_names"].numpy()]
    np.testing.assert_allclose(priorities, local["priority"].numpy(), rtol=1e-5, atol=1e-6)
    assert all(p.heads["difficulty"][0] in generator.DIFFICULTIES for p in served)  # the run has the third head
    # Regress (priority) and Classify (department) on tf.Examples agree with Predict.
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "title": tf.train.Feature(bytes_list=tf.train.BytesList(value=[t["title"].encode()])),
                    "body": tf.train.Feature(bytes_list=tf.train.BytesList(value=[t["body"].encode()])),
                    "tags": tf.train.Feature(bytes_list=tf.train.BytesList(value=[g.encode() for g in t["tags"]])),
                }
            )
        )
        for t in plain
    ]
    np.testing.assert_allclose(client.regress("ticket", examples), priorities, atol=1e-5)
    assert [max(c, key=lambda e: e[1])[0] for c in client.classify("ticket", examples)] == departments
    # Empty title, unknown tags: a defined answer. A missing input: INVALID_ARGUMENT naming it.
    odd = ModelClient(client, "ticket").predict([{"title": "", "body": "", "tags": ["no-such-tag"]}])
    assert 0.0 <= odd[0].values["priority"] <= 1.0
    # Tags given as one string are refused, not split into one-letter tags.
    with pytest.raises(InputError, match="tags must be a list of texts"):
        ModelClient(client, "ticket").predict([{"title": "x", "body": "y", "tags": "billing"}])
    with pytest.raises(ServingError, match="Missing but required: {tags}"):
        client.predict("ticket", {"title": np.array([b"x"]), "body": np.array([b"y"])}, signature="serving_raw")


def test_the_predict_command_takes_fields(server: ServingServer, capsys: pytest.CaptureFixture) -> None:
    args = ["predict", "ticket", "title=refund", "body=charged twice", "tags=billing,urgent", "--json"]
    assert cli_main([*args, "--server", server.target]) == 0
    answer = json.loads(capsys.readouterr().out.strip())
    assert answer["heads"]["department"][0] in generator.DEPARTMENTS and 0 <= answer["values"]["priority"] <= 1


def test_the_documented_serving_contract_is_the_pushed_models(serving_root: Path) -> None:
    """docs/serving-contract.md cannot drift: the ticket section is what the pushed model takes and gives."""
    check_section("ticket", str(next((serving_root / "ticket").iterdir())))

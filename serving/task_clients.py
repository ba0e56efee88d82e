"""Per-task clients: natural inputs in (images, PNG files, ticket text), readable answers out.

Adding a task to serving is one entry in ``TASK_CLIENTS``: a class that turns the task's natural
inputs into the ``serving_raw`` signature's tensors and its outputs into readable results.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from components.ticket_example_gen.generator import DEPARTMENTS
from serving.client import ServingClient

RAW_SIGNATURE = "serving_raw"


@dataclasses.dataclass(frozen=True)
class ImagePrediction:
    """One image's answer."""

    class_id: int
    class_name: str
    probability: float
    probabilities: list[float]
    version: int

    def __str__(self) -> str:
        return f"{self.class_name} (class {self.class_id}, p={self.probability:.3f}, model version {self.version})"


@dataclasses.dataclass(frozen=True)
class TicketPrediction:
    """One ticket's answer."""

    department: str
    department_probabilities: dict[str, float]
    priority: float
    version: int
    difficulty: str | None = None

    def __str__(self) -> str:
        p = self.department_probabilities[self.department]
        difficulty = f", difficulty {self.difficulty}" if self.difficulty else ""
        return (
            f"department {self.department} (p={p:.3f}), priority {self.priority:.3f}{difficulty} "
            f"(model version {self.version})"
        )


def load_image(path: str, shape: Sequence[int]) -> np.ndarray:
    """A PNG/JPEG file (or ``.npy``) as uint8 ``shape``; grey for 1 channel, RGB for 3."""
    if path.endswith(".npy"):
        array = np.load(path)
    else:
        from PIL import Image

        with Image.open(path) as image:
            array = np.asarray(image.convert("L" if shape[-1] == 1 else "RGB"))
    return as_image_batch(array, shape, source=path)[0]


def as_image_batch(images: Any, shape: Sequence[int], source: str = "input") -> np.ndarray:
    """An image or a batch of images as uint8 ``[batch, *shape]``, or a ValueError naming the fix."""
    array = np.asarray(images)
    shape = tuple(shape)
    if array.shape == shape[:2] and shape[-1] == 1:  # a single greyscale image without its channel axis
        array = array[..., None]
    if array.shape == shape:
        array = array[None]
    elif array.ndim == len(shape) and array.shape[1:] == shape[:2] and shape[-1] == 1:  # batch without channels
        array = array[..., None]
    if array.shape[1:] != shape:
        raise ValueError(
            f"{source} has shape {list(array.shape)}; this model takes images of shape {list(shape)} "
            f"(or a batch [n, {', '.join(map(str, shape))}]): resize or convert it first"
        )
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"{source} has pixel values outside 0..255; send raw uint8 pixels, not normalised ones")
        array = array.astype(np.uint8)
    return array


class ImageClassifierClient:
    """Client of an image classification model (``serving_raw``: uint8 ``[batch, H, W, C]``)."""

    def __init__(self, client: ServingClient, model: str, image_shape: Sequence[int]) -> None:
        self.client = client
        self.model = model
        self.image_shape = tuple(image_shape)

    def predict(self, images: Any, version: int | None = None) -> list[ImagePrediction]:
        """Classify one image or a batch (arrays of pixels)."""
        batch = as_image_batch(images, self.image_shape)
        outputs, served = self.client.predict(self.model, {"image": batch}, signature=RAW_SIGNATURE, version=version)
        return [
            ImagePrediction(
                int(outputs["class_ids"][i]),
                outputs["class_names"][i].decode(),
                float(outputs["probabilities"][i].max()),
                outputs["probabilities"][i].tolist(),
                served,
            )
            for i in range(len(batch))
        ]

    def predict_files(self, paths: Sequence[str], version: int | None = None) -> list[ImagePrediction]:
        """Classify image files (PNG, JPEG, or ``.npy`` arrays)."""
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such image file: {path}")
        return self.predict(np.stack([load_image(p, self.image_shape) for p in paths]), version)


class TicketClient:
    """Client of the ticket triage model (``serving_raw``: title, body, tags as strings)."""

    def __init__(self, client: ServingClient, model: str = "ticket") -> None:
        self.client = client
        self.model = model

    @staticmethod
    def to_inputs(tickets: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Tickets (dicts with optional ``title``, ``body``, ``tags``) as padded string tensors."""
        if not tickets:
            raise ValueError("no tickets to send")
        unknown = set().union(*(set(t) for t in tickets)) - {"title", "body", "tags"}
        if unknown:
            raise ValueError(f"unknown ticket fields {sorted(unknown)}; a ticket has title, body and tags")
        tags = [list(t.get("tags") or []) for t in tickets]
        width = max(1, max(len(t) for t in tags))
        return {
            "title": np.array([str(t.get("title") or "") for t in tickets], dtype=object),
            "body": np.array([str(t.get("body") or "") for t in tickets], dtype=object),
            "tags": np.array([t + [""] * (width - len(t)) for t in tags], dtype=object),
        }

    def predict(self, tickets: Sequence[Mapping[str, Any]], version: int | None = None) -> list[TicketPrediction]:
        """Department and priority (and difficulty, if the model has that head) of each ticket."""
        outputs, served = self.client.predict(
            self.model, self.to_inputs(tickets), signature=RAW_SIGNATURE, version=version
        )
        results = []
        for i in range(len(tickets)):
            probabilities = outputs["department_probabilities"][i]
            difficulty = outputs.get("difficulty_class_names")
            results.append(
                TicketPrediction(
                    outputs["department_class_names"][i].decode(),
                    dict(zip(DEPARTMENTS, map(float, probabilities), strict=True)),
                    float(outputs["priority"][i]),
                    served,
                    difficulty[i].decode() if difficulty is not None else None,
                )
            )
        return results


def make_task_client(task: str, client: ServingClient, model: str | None = None) -> Any:
    """The client of ``task`` (served under the model name ``model``, default the task's name)."""
    if task not in TASK_CLIENTS:
        raise ValueError(f"no serving client for task {task!r}; known: {sorted(TASK_CLIENTS)}")
    return TASK_CLIENTS[task](client, model or task)


TASK_CLIENTS = {
    "mnist": lambda client, model: ImageClassifierClient(client, model, (28, 28, 1)),
    "cifar10": lambda client, model: ImageClassifierClient(client, model, (32, 32, 3)),
    "ticket": lambda client, model: TicketClient(client, model),
}

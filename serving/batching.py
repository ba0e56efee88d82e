"""Server-side batching, as TF Serving's ``--enable_batching``: many small requests, one model call.

Requests for the same model version, signature and input shapes (beyond the batch dimension) wait
in one queue. A batch thread takes up to ``max_batch_size`` rows from the front of a queue as soon
as it is full, or when its oldest request has waited ``batch_timeout_micros``; it concatenates the
inputs along the first dimension, calls the signature once, and gives each request its rows of the
outputs. With 32 clients each sending one image, the model runs a few calls of many images instead
of 32 calls of one, which is what a CPU (or a GPU) does well.

A batch that fails is retried one request at a time, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future

import numpy as np


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (``BatchingParameters``) that apply to this server."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 2

    def validate(self) -> None:
        """Refuse values that cannot work, naming the flag."""
        if self.max_batch_size < 1:
            raise ValueError(f"--max-batch-size must be >= 1, got {self.max_batch_size}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"--batch-timeout-micros must be >= 0, got {self.batch_timeout_micros}")
        if self.num_batch_threads < 1:
            raise ValueError(f"--num-batch-threads must be >= 1, got {self.num_batch_threads}")


@dataclasses.dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    run: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
    arrived: float = dataclasses.field(default_factory=time.monotonic)
    future: Future = dataclasses.field(default_factory=Future)


class Batcher:
    """Queues requests by key and runs them in batches on its own threads."""

    def __init__(self, options: BatchingOptions) -> None:
        options.validate()
        self.options = options
        self._queues: dict[Hashable, collections.deque[_Task]] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self.batches = 0  # calls made (for tests and the benchmark)
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self,
        key: Hashable,
        inputs: Mapping[str, np.ndarray],
        run: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]],
    ) -> Future:
        """Queue ``run(inputs)`` to be batched with other requests of the same ``key``; its outputs' future.

        Nothing waits on a thread: an asyncio server awaits the future (``asyncio.wrap_future``).
        """
        rows = len(next(iter(inputs.values())))
        task = _Task(inputs, rows, run)
        with self._cond:
            self._queues.setdefault(key, collections.deque()).append(task)
            self._cond.notify()
        return task.future

    def run(
        self,
        key: Hashable,
        inputs: Mapping[str, np.ndarray],
        run: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """Run ``run(inputs)`` batched with other requests of the same ``key``; blocks until done."""
        return self.submit(key, inputs, run).result()

    def stop(self) -> None:
        """Finish the queued work and stop the threads."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def _take(self) -> list[_Task] | None:
        """The next batch to run (blocking), or None when stopping with nothing left."""
        timeout = self.options.batch_timeout_micros / 1e6
        with self._cond:
            while True:
                ready, wait = None, None
                now = time.monotonic()
                for key, queue in self._queues.items():
                    if not queue:
                        continue
                    rows = sum(t.rows for t in queue)
                    age = now - queue[0].arrived
                    if rows >= self.options.max_batch_size or age >= timeout or self._stopped:
                        ready = key
                        break
                    wait = min(wait or timeout, timeout - age)
                if ready is not None:
                    queue, batch, rows = self._queues[ready], [], 0
                    while queue and (not batch or rows + queue[0].rows <= self.options.max_batch_size):
                        task = queue.popleft()
                        batch.append(task)
                        rows += task.rows
                    if not queue:
                        del self._queues[ready]
                    return batch
                if self._stopped:
                    return None
                self._cond.wait(timeout=wait)

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            self._run(batch)

    def _run(self, batch: list[_Task]) -> None:
        self.batches += 1
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        try:
            joined = {name: np.concatenate([t.inputs[name] for t in batch]) for name in batch[0].inputs}
            outputs = batch[0].run(joined)
        except Exception:  # noqa: BLE001 - one bad request must not fail the others: run them alone
            for task in batch:
                self._run_alone(task)
            return
        start = 0
        for task in batch:
            task.future.set_result({name: value[start : start + task.rows] for name, value in outputs.items()})
            start += task.rows

    @staticmethod
    def _run_alone(task: _Task) -> None:
        try:
            task.future.set_result(task.run(task.inputs))
        except BaseException as err:  # noqa: BLE001 - handed to the waiting request
            task.future.set_exception(err)


def batch_key(model: str, version: int, signature: str, inputs: Mapping[str, np.ndarray]) -> Hashable:
    """Requests with equal keys can share a model call: same version, signature, and shapes after dim 0."""
    return (model, version, signature, tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in inputs.items())))


__all__ = ["BatchingOptions", "Batcher", "batch_key"]

"""Server-side batching, as TF Serving's ``--enable_batching``: many small requests, one model call.

Requests for the same model version, signature and input shapes (beyond the batch dimension) wait
in one queue. A batch thread takes up to ``max_batch_size`` rows from the front of a queue as soon
as it is full, or when its oldest request has waited ``batch_timeout_micros``; it concatenates the
inputs along the first dimension, calls the signature once, and gives each request its rows of the
outputs. With 32 clients each sending one image, the model runs a few calls of many images instead
of 32 calls of one, which is what a CPU (or a GPU) does well.

A batch that fails, or whose outputs do not have one row per input row, is run again one request at
a time, so one bad request cannot fail its neighbours; every request is answered, whatever the
model call raises.

Per request the batcher does as little as it can while holding the GIL the front ends need: a batch
thread is woken when a queue gets its first request (to time its wait), fills up, or still holds
requests after a batch was taken from it, not on every request; and requests from an asyncio front
end get asyncio futures, resolved with one hand-over to their event loop per batch, not one per
request.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, InvalidStateError

import numpy as np
from pydantic import Field

from common.settings import Settings


class BatchingOptions(Settings):
    """TF Serving's batching parameters (``BatchingParameters``) that apply to this server."""

    max_batch_size: int = Field(32, ge=1)
    batch_timeout_micros: int = Field(1000, ge=0)
    num_batch_threads: int = Field(2, ge=1)


@dataclasses.dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    run: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
    future: Future | asyncio.Future
    loop: asyncio.AbstractEventLoop | None = None
    arrived: float = dataclasses.field(default_factory=time.monotonic)


class _Queue(collections.deque):
    """The waiting requests of one key, and how many rows they hold."""

    rows: int = 0


class Batcher:
    """Queues requests by key and runs them in batches on its own threads."""

    def __init__(self, options: BatchingOptions) -> None:
        self.options = options
        self._queues: dict[Hashable, _Queue] = {}
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
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Future | asyncio.Future:
        """Queue ``run(inputs)`` to be batched with other requests of the same ``key``; its outputs' future.

        Nothing waits on a thread. Called on an event loop's thread with ``loop``, the future is an
        asyncio future of that loop (awaited there); otherwise a ``concurrent.futures.Future``.
        """
        rows = len(next(iter(inputs.values())))
        task = _Task(inputs, rows, run, loop.create_future() if loop else Future(), loop)
        with self._cond:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue()
            queue.append(task)
            queue.rows += rows
            if len(queue) == 1 or queue.rows >= self.options.max_batch_size:
                self._cond.notify()  # a batch thread times the new queue's wait, or takes the full batch
        return task.future

    def run(
        self,
        key: Hashable,
        inputs: Mapping[str, np.ndarray],
        run: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        """Run ``run(inputs)`` batched with other requests of the same ``key``; blocks until done."""
        future = self.submit(key, inputs, run)
        assert isinstance(future, Future)
        return future.result()

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
                    age = now - queue[0].arrived
                    if queue.rows >= self.options.max_batch_size or age >= timeout or self._stopped:
                        ready = key
                        break
                    wait = min(wait or timeout, timeout - age)
                if ready is not None:
                    queue, batch, rows = self._queues[ready], [], 0
                    while queue and (not batch or rows + queue[0].rows <= self.options.max_batch_size):
                        task = queue.popleft()
                        batch.append(task)
                        rows += task.rows
                    queue.rows -= rows
                    if not queue:
                        del self._queues[ready]
                    if self._queues:
                        # Requests are left (here or in a queue whose wait this thread was timing): wake another
                        # thread to take them or time their wait.
                        self._cond.notify()
                    return batch
                if self._stopped:
                    return None
                self._cond.wait(timeout=wait)

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            self._run(batch)

    def _run(self, batch: list[_Task]) -> None:
        """Run one batch and settle every request in it, whatever happens."""
        self.batches += 1
        try:
            results = _run_batch(batch)
        except BaseException as err:  # noqa: BLE001 - a bug here must not leave requests waiting forever
            results = [(task, None, err) for task in batch]
        _resolve(results)


_Result = tuple[_Task, "dict[str, np.ndarray] | None", "BaseException | None"]


def _run_batch(batch: list[_Task]) -> list[_Result]:
    """Each request's rows of one model call on the joined batch; each request alone if that call fails.

    Alone also when an output does not have one row per input row (a signature whose outputs are not
    batched along the first dimension cannot be split among the requests).
    """
    if len(batch) == 1:
        return [_run_alone(batch[0])]
    rows = sum(task.rows for task in batch)
    try:
        joined = {name: np.concatenate([t.inputs[name] for t in batch]) for name in batch[0].inputs}
        outputs = batch[0].run(joined)
    except Exception:  # noqa: BLE001 - one bad request must not fail the others: run them alone
        return [_run_alone(task) for task in batch]
    if any(np.ndim(value) == 0 or len(value) != rows for value in outputs.values()):
        return [_run_alone(task) for task in batch]
    start, results = 0, []
    for task in batch:
        results.append((task, {name: value[start : start + task.rows] for name, value in outputs.items()}, None))
        start += task.rows
    return results


def _run_alone(task: _Task) -> _Result:
    try:
        return task, task.run(task.inputs), None
    except BaseException as err:  # noqa: BLE001 - handed to the waiting request
        return task, None, err


def _resolve(results: list[_Result]) -> None:
    """Hand each request its outputs (or error): one call onto each event loop, direct for the others."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
    for result in results:
        loop = result[0].loop
        if loop is None:
            _settle([result])
        else:
            by_loop.setdefault(loop, []).append(result)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:  # the loop is closed: the server stopped, nobody awaits these any more
            pass


def _settle(results: list[_Result]) -> None:
    """Complete each request's future; one that is done already (cancelled: the client went away) is skipped."""
    for task, outputs, error in results:
        if task.future.done():
            continue
        if error is not None and (not isinstance(error, Exception) or isinstance(error, StopIteration)):
            # Futures refuse StopIteration, and a KeyboardInterrupt or SystemExit raised by a model call
            # must not be re-raised in the request's handler as if it were the server's own.
            error = RuntimeError(f"the model call raised {type(error).__name__}: {error}")
        try:
            if error is None:
                task.future.set_result(outputs)
            else:
                task.future.set_exception(error)
        except (asyncio.InvalidStateError, InvalidStateError):  # cancelled between the check and now
            pass


def batch_key(model: str, version: int, signature: str, inputs: Mapping[str, np.ndarray]) -> Hashable:
    """Requests with equal keys can share a model call: same version, signature, and shapes after dim 0."""
    return (model, version, signature, tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in inputs.items())))


__all__ = ["BatchingOptions", "Batcher", "batch_key"]

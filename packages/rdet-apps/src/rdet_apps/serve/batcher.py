"""A micro-batcher: concurrent requests' images, collected into one batched predict.

Requests ``submit`` an image and get a ``concurrent.futures.Future``. One worker thread takes
the first waiting image, then gathers more until ``max_batch_size`` images or ``max_wait_ms``
after the first, runs ``predict`` once on them all and resolves each future with its own
result. A failing ``predict`` fails only the futures of that batch (``PredictionError``); the
worker carries on with the next batch. A ``predict`` that refuses one image of the batch
(:class:`ImageRejectedError`: an image the model cannot take, the client's fault) fails that
image's future alone with that error, and the rest of the batch is predicted again without it.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rdet_core.structures import Detections

__all__ = [
    "BatcherClosedError",
    "BatcherFullError",
    "BatcherStats",
    "ImageRejectedError",
    "MicroBatcher",
    "PredictionError",
]

PredictFn = Callable[[Sequence[np.ndarray]], Sequence[Detections]]


class PredictionError(RuntimeError):
    """The batched predict that held this request failed; the message says how."""


class ImageRejectedError(ValueError):
    """``predict`` refuses one image of its batch (the test pipeline cannot take it: a 2x5000
    image resizes to no pixels): a client's input error, not a server fault.

    Attributes:
        index: the image's position in the batch ``predict`` was given.
        message: why, for the client.
    """

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


class BatcherFullError(RuntimeError):
    """The queue of waiting images is full (``max_queue``): the server is overloaded."""


class BatcherClosedError(RuntimeError):
    """The batcher is not running (not started yet, or stopped)."""


@dataclass
class BatcherStats:
    """Counters since start.

    Attributes:
        requests: images submitted (and accepted into the queue).
        batches: predict calls made.
        failed_batches: predict calls that raised or returned a wrong number of results.
        largest_batch: the most images one predict call took.
        batch_sizes: how many batches there were of each size.
        rejected: images refused because the queue was full.
        refused_images: images ``predict`` refused (:class:`ImageRejectedError`).
    """

    requests: int = 0
    batches: int = 0
    failed_batches: int = 0
    largest_batch: int = 0
    rejected: int = 0
    refused_images: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters (batch sizes keyed by their size as a string)."""
        return {
            "requests": self.requests,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "largest_batch": self.largest_batch,
            "rejected": self.rejected,
            "refused_images": self.refused_images,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
        }


_STOP = object()


class MicroBatcher:
    """Collect concurrent images into batches of at most ``max_batch_size`` for ``predict``.

    Args:
        predict: images (a list of ``HxWx3`` uint8 arrays) -> one ``Detections`` per image.
        max_batch_size: the most images per predict call (1: no batching).
        max_wait_ms: how long the first image of a batch waits for others, milliseconds.
        max_queue: the most images waiting; more are refused (``BatcherFullError``).
    """

    def __init__(
        self, predict: PredictFn, max_batch_size: int = 8, max_wait_ms: float = 5.0, max_queue: int = 256
    ) -> None:
        if not callable(predict):
            raise TypeError(f"predict must be callable, got {type(predict).__name__}")
        for name, value in (("max_batch_size", max_batch_size), ("max_queue", max_queue)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)):
            raise ValueError(f"max_wait_ms must be a number of milliseconds >= 0, got {max_wait_ms!r}")
        if not math.isfinite(max_wait_ms) or max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be a number of milliseconds >= 0, got {max_wait_ms!r}")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._stats = BatcherStats()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def alive(self) -> bool:
        """Whether the worker thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        """The counters (:class:`BatcherStats`) and the images waiting now, JSON-ready."""
        with self._lock:
            out = self._stats.as_dict()
        out["queued"] = self._queue.qsize()
        out["max_batch_size"] = self.max_batch_size
        out["max_wait_ms"] = self.max_wait_s * 1000.0
        return out

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is not None:
            raise RuntimeError("this MicroBatcher was started already")
        self._thread = threading.Thread(target=self._work, name="rdet-serve-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the batch in progress finish, fail what still waits (``BatcherClosedError``),
        and end the worker thread (waiting at most ``timeout`` seconds)."""
        self._closed = True
        if self._thread is None:
            return
        while True:  # make room for the stop mark: what waits is failed, not predicted
            try:
                self._queue.put_nowait(_STOP)
                break
            except queue.Full:
                self._fail_waiting()
        self._thread.join(timeout)
        self._fail_waiting()

    def submit(self, image: np.ndarray) -> Future[Detections]:
        """Queue one image; the future resolves to its ``Detections`` or raises
        ``PredictionError`` (the batch failed) or ``ImageRejectedError`` (the model cannot take
        this image).

        Raises:
            BatcherClosedError: The batcher is not running.
            BatcherFullError: ``max_queue`` images wait already.
        """
        if self._closed or not self.alive:
            raise BatcherClosedError("the batcher is not running")
        future: Future[Detections] = Future()
        try:
            self._queue.put_nowait((image, future))
        except queue.Full:
            with self._lock:
                self._stats.rejected += 1
            raise BatcherFullError(
                f"{self._queue.maxsize} images are waiting already; try again later"
            ) from None
        with self._lock:
            self._stats.requests += 1
        return future

    def _fail_waiting(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and item[1].set_running_or_notify_cancel():
                item[1].set_exception(BatcherClosedError("the server is shutting down"))

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:  # past the deadline, still take what is already waiting
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[np.ndarray, Future[Detections]]]) -> None:
        live = [(img, fut) for img, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:  # every client went away
            return
        while True:
            images = [img for img, _ in live]
            try:
                results = list(self.predict(images))
                if len(results) != len(images):
                    raise RuntimeError(f"predict returned {len(results)} results for {len(images)} images")
            except ImageRejectedError as e:
                if not isinstance(e.index, int) or not 0 <= e.index < len(live):
                    self._fail(live, RuntimeError(f"predict refused image {e.index!r} of {len(live)}: {e}"))
                    return
                with self._lock:
                    self._stats.refused_images += 1
                live.pop(e.index)[1].set_exception(e)  # the others are predicted without it
                if not live:
                    return
                continue
            except Exception as e:  # only this batch fails; the worker goes on
                self._fail(live, e)
                return
            break
        with self._lock:
            self._count(len(images), failed=False)
        for (_, fut), dets in zip(live, results):
            fut.set_result(dets)

    def _fail(self, live: list[tuple[np.ndarray, Future[Detections]]], e: Exception) -> None:
        """Fail every future of a batch whose predict raised ``e``."""
        error = PredictionError(f"prediction failed: {type(e).__name__}: {e}")
        with self._lock:
            self._count(len(live), failed=True)
        for _, fut in live:
            fut.set_exception(error)

    def _count(self, size: int, failed: bool) -> None:
        s = self._stats
        s.batches += 1
        s.failed_batches += int(failed)
        s.largest_batch = max(s.largest_batch, size)
        s.batch_sizes[size] += 1

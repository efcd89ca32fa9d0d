"""Batches onto the model's device: pinned host memory, asynchronous copies, one batch ahead.

``DevicePrefetcher`` wraps a data loader for a CUDA model. A background thread takes the
loader's batches as they come (from its worker processes), pins their tensors (page-locked
memory: the only kind a copy to the GPU can overlap with), and keeps ``depth`` of them ready;
the training loop then gets each batch already on its way to the device (``non_blocking``
copies, ordered on the current stream before the kernels that read them). The loader's own
``pin_memory`` is not needed: it knows nothing of ``DetBatch``.

``to_device`` and ``pin`` work on any nesting of tensors, lists, tuples, dicts and dataclasses
(``DetBatch``, ``GroundTruth``); what holds no tensor is passed through as it is.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch

__all__ = ["DevicePrefetcher", "pin", "to_device"]


def _apply(x: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``x`` with ``fn`` applied to every tensor inside; containers without a tensor are
    returned as they are (the same object)."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, (str, bytes)) or x is None:
        return x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        changes = {}
        for f in dataclasses.fields(x):
            if not f.init:
                continue
            old = getattr(x, f.name)
            new = _apply(old, fn)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(x, **changes) if changes else x
    if isinstance(x, tuple):
        items = [_apply(v, fn) for v in x]
        if all(a is b for a, b in zip(items, x)):
            return x
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    if isinstance(x, list):
        items = [_apply(v, fn) for v in x]
        return x if all(a is b for a, b in zip(items, x)) else items
    if isinstance(x, Mapping):
        items = {k: _apply(v, fn) for k, v in x.items()}
        return (
            x
            if all(items[k] is v for k, v in x.items())
            else type(x)(items)
            if isinstance(x, dict)
            else items
        )
    return x


def to_device(batch: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """``batch`` with every tensor on ``device`` (``non_blocking`` copies from pinned memory
    return at once; the stream orders them before the kernels that read them)."""
    return _apply(batch, lambda t: t.to(device, non_blocking=non_blocking))


def pin(batch: Any) -> Any:
    """``batch`` with every CPU tensor in pinned (page-locked) memory."""
    return _apply(batch, lambda t: t.pin_memory() if t.device.type == "cpu" and not t.is_pinned() else t)


_BATCH, _END, _ERROR = 0, 1, 2


class DevicePrefetcher:
    """Iterate ``loader`` with its batches on ``device``: pinned and queued ``depth`` ahead by
    a background thread, copied asynchronously.

    ``len()`` and ``sampler`` are the loader's. Each ``iter()`` starts the loader's iterator in
    the calling thread (its worker processes start there) and one thread that feeds it; an
    error in the loader is raised in the loop, where the batch would have come.
    """

    def __init__(self, loader: Iterable[Any], device: torch.device | str, depth: int = 2) -> None:
        self.loader, self.device, self.depth = loader, torch.device(device), max(int(depth), 1)
        self.sampler = getattr(loader, "sampler", None)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        source = iter(self.loader)
        ready: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=self.depth)
        stop = threading.Event()
        use_pin = self.device.type == "cuda"

        def put(item: tuple[int, Any]) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def feed() -> None:
            try:
                for batch in source:
                    if not put((_BATCH, pin(batch) if use_pin else batch)):
                        return
                put((_END, None))
            except BaseException as e:  # handed to the loop, raised there
                put((_ERROR, e))

        thread = threading.Thread(target=feed, name="rdet-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                kind, value = ready.get()
                if kind == _END:
                    return
                if kind == _ERROR:
                    raise value
                yield to_device(value, self.device, non_blocking=True)
        finally:
            stop.set()
            thread.join(timeout=1.0)

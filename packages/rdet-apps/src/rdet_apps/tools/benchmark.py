"""MMRotate's ``tools/analysis_tools/benchmark.py``: the model's inference speed in images/s.

Only the model's pass (``model.predict(batch)``: network, decoding, NMS) is timed, not the
data loading and test pipeline, as MMRotate's tool; the first ``warmup`` batches are run but
not timed; on CUDA the device is synchronised before and after each timed pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["WARMUP", "measure", "random_batches"]

WARMUP = 5  # MMRotate's num_warmup


def random_batches(
    model: torch.nn.Module, shape: tuple[int, int], count: int, seed: int = 0
) -> Iterator[Any]:
    """``count`` batches of one random uint8 image of ``shape`` (H, W) through the test
    pipeline of ``model.cfg`` (its file loader replaced by an in-memory one)."""
    import copy

    from rdet_data import Compose, collate

    steps = copy.deepcopy(list(model.cfg.data.test.pipeline))
    steps[0] = dict(steps[0], type="LoadImageFromWebcam")
    for step in steps:  # MMDetection's replace_ImageToTensor
        if step.get("type") == "MultiScaleFlipAug":
            step["transforms"] = [
                dict(t, type="DefaultFormatBundle") if t.get("type") == "ImageToTensor" else t
                for t in step["transforms"]
            ]
    pipeline = Compose(steps)
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(min(count, 4))]
    for i in range(count):
        yield collate([pipeline(dict(img=images[i % len(images)]))], samples_per_gpu=1)


def _images_in(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (list, tuple)) else batch
    return len(getattr(first, "metas", [None]))


def measure(
    model: torch.nn.Module,
    batches: Iterable[Any],
    max_iter: int,
    log_interval: int = 50,
    warmup: int = WARMUP,
    log: Callable[[str], None] = print,
) -> float:
    """Images per second of ``model.predict`` over at most ``max_iter`` batches, the first
    ``warmup`` untimed.

    Raises:
        ValueError: Fewer batches than ``warmup + 1``.
    """
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    model.eval()
    timed, images, done = 0.0, 0, 0
    with torch.no_grad():
        for i, batch in enumerate(batches):
            if i >= max_iter:
                break
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model.predict(batch)
            if cuda:
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - start
            done = i + 1
            if i >= warmup:
                timed += elapsed
                images += _images_in(batch)
                if done % log_interval == 0:
                    log(f"Done image [{done:<3}/ {max_iter}], fps: {images / timed:.1f} img / s")
    if images == 0:
        raise ValueError(f"{done} batches: at least {warmup + 1} are needed ({warmup} warm-up, then timed)")
    return images / timed

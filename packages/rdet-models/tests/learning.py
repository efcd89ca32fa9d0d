"""The synthetic learning set and the fit-and-score loop that the families' learning tests share.

Images 128 x 128, 1-3 filled rotated rectangles (le90) of 2 classes (red / green) on noise.
Not a test module: the tests get it through the ``learning`` fixture (conftest.py), since
pytest's importlib mode does not let test modules import each other.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import torch

import rdet_eval
import rdet_models
from rbox_geometry import obb2poly
from rdet_core.structures import DetBatch, GroundTruth, ImageMeta, detections_to_result

SIZE = 128
COLORS = ((200, 60, 60), (60, 200, 60))


def make_images(n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """n images (H, W, 3) float32 with le90 boxes (k, 5) and labels (k,)."""
    data = []
    for _ in range(n):
        img = rng.uniform(0, 60, (SIZE, SIZE, 3)).astype(np.float32)
        boxes: list[list[float]] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, 4))):
            for _ in range(20):  # keep objects apart
                w, h, th = rng.uniform(28, 56), rng.uniform(10, 22), rng.uniform(-math.pi / 2, math.pi / 2)
                cx, cy = rng.uniform(w / 2, SIZE - w / 2), rng.uniform(w / 2, SIZE - w / 2)
                if all(np.hypot(cx - b[0], cy - b[1]) > 40 for b in boxes):
                    break
            c = int(rng.integers(0, 2))
            poly = obb2poly(np.array([[cx, cy, w, h, th]]), "le90").reshape(4, 2)
            cv2.fillPoly(img, [np.round(poly).astype(np.int32)], COLORS[c])
            boxes.append([cx, cy, w, h, th])
            labels.append(c)
        data.append((img, np.array(boxes, np.float32), np.array(labels, np.int64)))
    return data


def to_batch(items: list) -> DetBatch:
    images = torch.stack([torch.from_numpy((it[0] - 100) / 60).permute(2, 0, 1) for it in items]).float()
    metas = [ImageMeta(None, (SIZE, SIZE, 3), (SIZE, SIZE, 3)) for _ in items]
    gts = [GroundTruth(torch.from_numpy(it[1]), torch.from_numpy(it[2])) for it in items]
    return DetBatch(images, metas, gts)


def fit_and_map(
    model: torch.nn.Module,
    train: list,
    test: list,
    rng: np.random.Generator,
    iters: int,
    batch: int,
    lr: float,
    lr_at: Callable[[int], float] | None = None,
    threads: int = 1,
) -> tuple[float, float, float]:
    """Train ``model`` on random batches of ``train`` (AdamW, gradient clipping at 35, the loss
    checked finite each step; ``lr_at(it)`` sets the learning rate of step ``it``), then score
    it on ``test``: (mean loss of the first 10 steps, of the last 10, mAP@0.5 over 2 classes).

    Runs on ``threads`` intra-op threads (restored after): the figures depend on the thread
    count (it changes the order of float reductions: Rotated RepPoints' 80-iteration mAP was
    0.236 on two threads and 0.014 on one), so they must not follow the machine's core count;
    and on a loaded 2-core machine one thread runs an iteration several times faster than two."""
    with _threads(threads):
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
        history = []
        for it in range(iters):
            idx = rng.choice(len(train), batch, replace=False)
            losses = model.loss(to_batch([train[i] for i in idx]))
            rdet_models.check_finite_losses(losses, iteration=it)
            loss, log_vars = rdet_models.parse_losses(losses)
            if lr_at is not None:
                for group in opt.param_groups:
                    group["lr"] = lr_at(it)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
            opt.step()
            history.append(log_vars["loss"])
        model.eval()
        results = []
        for i in range(0, len(test), 8):
            results += [detections_to_result(d, 2) for d in model.predict(to_batch(test[i : i + 8]))]
        annotations = [dict(bboxes=it[1], labels=it[2]) for it in test]
        mean_ap, _ = rdet_eval.eval_rbbox_map(results, annotations, iou_thr=0.5, logger="silent")
        return float(np.mean(history[:10])), float(np.mean(history[-10:])), float(mean_ap)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` inside, restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

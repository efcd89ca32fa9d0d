"""A dataset of synthetic images with filled rotated rectangles: for smoke tests and demos.

It follows rdet's dataset contract (``rdet_core.structures.DetSample``): without a pipeline,
``__getitem__`` returns a ``DetSample``; with an MMRotate pipeline (ending with ``Collect``),
whatever the pipeline returns, as MMRotate's datasets do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rdet_core.structures import DetSample, GroundTruth, ImageMeta
from rdet_data import Compose

#: MMRotate's default ``img_norm_cfg`` (ImageNet statistics), used when there is no pipeline
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


class ToyShapesDataset:
    """``num_images`` square images, each with 1 to ``max_objects`` filled rotated rectangles.

    Class 0 (``box``) is a square, class 1 (``bar``) a 3:1 rectangle. Boxes are ``le90``:
    ``(cx, cy, w, h, theta)``, pixels, theta in radians in [-pi/2, pi/2), clockwise on screen,
    w >= h. The same seed gives the same images.

    Items:

    - ``pipeline=None`` (default): a ``DetSample``: ``image`` (3, H, W) float32, normalised
      with MMRotate's default mean and std (recorded in ``meta.extra['img_norm_cfg']``);
      ``meta`` an ``ImageMeta`` with ``filename`` None, ``ori_shape`` = ``img_shape`` =
      ``pad_shape`` = (H, W, 3), ``scale_factor`` 1; ``gt`` a ``GroundTruth`` (boxes (K, 5)
      float32, labels (K,) int64), or None with ``test_mode``.
    - ``pipeline=[...]``: the output of the MMRotate pipeline (its ``Collect`` dict). The
      pipeline starts from a results dict holding the image, (H, W, 3) uint8, as
      ``LoadImageFromWebcam`` leaves it (a ``LoadImageFromFile`` step is replaced by that, so
      an MMRotate training pipeline works unchanged) and the annotations in ``ann_info`` for
      ``LoadAnnotations`` (training only).

    Args:
        num_images: Images in the dataset.
        img_size: Their side, pixels (>= 32).
        max_objects: At most this many rectangles per image (>= 1).
        seed: Seeds the images.
        pipeline: MMRotate transform configs (or callables), or None for ``DetSample`` items.
        test_mode: Items without ground truth (MMRotate's validation and test datasets).
    """

    CLASSES = ("box", "bar")

    def __init__(
        self,
        num_images: int = 8,
        img_size: int = 256,
        max_objects: int = 4,
        seed: int = 0,
        pipeline: Sequence[Any] | None = None,
        test_mode: bool = False,
    ) -> None:
        if num_images < 1 or img_size < 32 or max_objects < 1:
            raise ValueError(
                f"need num_images >= 1, img_size >= 32, max_objects >= 1; got {num_images}, {img_size}, {max_objects}"
            )
        self.num_images, self.img_size, self.max_objects, self.seed = num_images, img_size, max_objects, seed
        self.test_mode = test_mode
        self.flag = np.zeros(num_images, np.uint8)  # one aspect-ratio group: the images are square
        self.pipeline = None if pipeline is None else Compose([_in_memory(step) for step in pipeline])

    def __len__(self) -> int:
        return self.num_images

    def _objects(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.num_images:
            raise IndexError(f"ToyShapesDataset has {self.num_images} images, asked for index {index}")
        rng = np.random.default_rng((self.seed, index))
        size = self.img_size
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            label = int(rng.integers(0, 2))
            w = rng.uniform(0.15, 0.3) * size
            h = w if label == 0 else w / 3
            theta = rng.uniform(-math.pi / 2, math.pi / 2)
            cx, cy = rng.uniform(0.25, 0.75, 2) * size
            boxes.append((cx, cy, w, h, theta))
            labels.append(label)
        return np.asarray(boxes, np.float32), np.asarray(labels, np.int64)

    def get_ann_info(self, index: int) -> dict[str, np.ndarray]:
        """MMRotate's annotation dict of image ``index``: ``bboxes`` (K, 5), ``labels`` (K,), no ignored boxes."""
        boxes, labels = self._objects(index)
        return {
            "bboxes": boxes,
            "labels": labels,
            "bboxes_ignore": np.zeros((0, 5), np.float32),
            "labels_ignore": np.zeros((0,), np.int64),
        }

    def get_cat_ids(self, index: int) -> list[int]:
        """The class indices of image ``index``'s objects (for ``ClassBalancedDataset``)."""
        return self._objects(index)[1].tolist()

    def image(self, index: int) -> np.ndarray:
        """Image ``index``: (H, W, 3) uint8, the rectangles painted on a dark background."""
        boxes, labels = self._objects(index)
        img = np.full((self.img_size, self.img_size, 3), 32, np.uint8)
        for (cx, cy, w, h, theta), label in zip(boxes, labels):
            _fill_rotated_rect(img, cx, cy, w, h, theta, (200, 80 + 120 * int(label), 60))
        return img

    def __getitem__(self, index: int) -> DetSample | Any:
        img = self.image(index)
        ann = self.get_ann_info(index)
        if self.pipeline is not None:
            results: dict[str, Any] = {
                "img_prefix": None,
                "bbox_fields": [],
                "img": img,
                "filename": None,
                "ori_filename": None,
                "img_shape": img.shape,
                "ori_shape": img.shape,
                "img_fields": ["img"],
            }
            if not self.test_mode:
                results["ann_info"] = ann
            return self.pipeline(results)
        image = ((img.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)
        norm = {"mean": MEAN.copy(), "std": STD.copy(), "to_rgb": False}
        meta = ImageMeta(None, img.shape, img.shape, scale_factor=1.0, extra={"img_norm_cfg": norm})
        gt = None if self.test_mode else GroundTruth(ann["bboxes"], ann["labels"])
        return DetSample(np.ascontiguousarray(image), meta, gt)

    def evaluate(
        self,
        results: list[Any],
        metric: str | Sequence[str] = "mAP",
        logger: Any = None,
        iou_thr: float = 0.5,
        scorer: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, float]:
        """mAP of ``results`` (per image, MMRotate's list per class of (k, 6) arrays).

        ``scorer`` is ``rdet_eval.eval_rbbox_map`` (or a function with its signature); the
        plugin does not depend on rdet-eval. Other keyword arguments go to the scorer.
        """
        if metric not in ("mAP", ["mAP"], ("mAP",)):
            raise KeyError(f"ToyShapesDataset evaluates mAP only, got metric {metric!r}")
        if scorer is None:
            raise RuntimeError("pass scorer=rdet_eval.eval_rbbox_map")
        if len(results) != len(self):
            raise ValueError(f"{len(results)} results for {len(self)} images")
        annotations = [self.get_ann_info(i) for i in range(len(self))]
        mean_ap, _ = scorer(
            results, annotations, iou_thr=iou_thr, dataset=self.CLASSES, logger=logger, **kwargs
        )
        return {"mAP": float(mean_ap)}

    def __repr__(self) -> str:
        return f"ToyShapesDataset(num_images={self.num_images}, img_size={self.img_size}, test_mode={self.test_mode})"


def _in_memory(step: Any) -> Any:
    """A ``LoadImageFromFile`` config becomes ``LoadImageFromWebcam``: the images are in memory."""
    if isinstance(step, dict) and step.get("type") == "LoadImageFromFile":
        return dict(step, type="LoadImageFromWebcam")
    return step


def _fill_rotated_rect(
    img: np.ndarray, cx: float, cy: float, w: float, h: float, theta: float, colour: tuple[int, int, int]
) -> None:
    """Paint the pixels whose centres lie inside the box (clockwise theta, y down)."""
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    cos, sin = math.cos(theta), math.sin(theta)
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    img[(np.abs(along) <= w / 2) & (np.abs(across) <= h / 2)] = colour

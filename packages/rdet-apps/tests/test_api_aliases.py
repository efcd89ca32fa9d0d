"""MMRotate 0.3.x's API names: ``inference_detector_by_patches(model, img, sizes, steps, ratios,
merge_iou_thr, bs=1)`` (mmrotate/apis/inference.py) runs as ported scripts call it, by keyword
or by position, beside rdet's ``batch_size``."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from rdet_apps.apis import inference_detector_by_patches
from rdet_core.structures import Detections

MMROTATE_PARAMETERS = ["model", "img", "sizes", "steps", "ratios", "merge_iou_thr", "bs"]


class PatchCounter(torch.nn.Module):
    """One box in the middle of every patch; records how many patches each call got."""

    num_classes = 2
    CLASSES = ("a", "b")

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        from rdet_apps.commands.demo import CONFIG
        from rdet_core import Config

        self.cfg = Config.fromfile(CONFIG)
        self.batches: list[int] = []

    def predict(self, batch, rescale: bool = True) -> list[Detections]:  # type: ignore[no-untyped-def]
        self.batches.append(len(batch.metas))
        out = []
        for meta in batch.metas:
            h, w = meta.ori_shape[:2]
            boxes = torch.tensor([[w / 2, h / 2, 20.0, 10.0, 0.0]])
            out.append(Detections(boxes, torch.tensor([0.9]), torch.tensor([1])))
        return out


@pytest.fixture()
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)


def test_every_mmrotate_parameter_name_is_accepted_in_its_order() -> None:
    names = list(inspect.signature(inference_detector_by_patches).parameters)
    assert all(n in names for n in MMROTATE_PARAMETERS)
    assert names[:6] == MMROTATE_PARAMETERS[:6]  # the positional ones in MMRotate's order


def test_bs_is_mmrotates_name_for_batch_size(image: np.ndarray) -> None:
    model = PatchCounter()  # 300 x 200 in 128-px patches every 100 px: 3 x 2 = 6 patches
    kwargs = dict(model=model, img=image, sizes=[128], steps=[100], ratios=[1.0], merge_iou_thr=0.1)
    by_bs = inference_detector_by_patches(**kwargs, bs=1)
    assert model.batches == [1] * 6
    model.batches.clear()
    by_batch_size = inference_detector_by_patches(**kwargs, batch_size=4)
    assert model.batches == [4, 2]
    model.batches.clear()
    positional = inference_detector_by_patches(model, image, [128], [100], [1.0], 0.1, 3)  # MMRotate's bs
    assert model.batches == [3, 3]
    model.batches.clear()
    inference_detector_by_patches(model, image, [128], [100], [1.0], 0.1)
    assert model.batches == [4, 2]  # rdet's default
    assert len(by_bs) == 2 and len(by_bs[1]) == 6 and len(by_bs[0]) == 0
    for a, b, c in zip(by_bs, by_batch_size, positional):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    model.batches.clear()
    inference_detector_by_patches(**kwargs, batch_size=2, bs=2)  # the same value twice is no conflict
    assert model.batches == [2, 2, 2]


def test_bs_conflicts_and_bad_values_are_named(image: np.ndarray) -> None:
    model = PatchCounter()
    with pytest.raises(TypeError, match=r"batch_size=4 and bs=2 .* give one"):
        inference_detector_by_patches(model, image, [128], [100], [1.0], 0.1, batch_size=4, bs=2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=rf"bs = {bad!r}: the batch size must be a whole number"):
            inference_detector_by_patches(model, image, [128], [100], [1.0], 0.1, bs=bad)
    with pytest.raises(ValueError, match=r"batch_size = 0"):
        inference_detector_by_patches(model, image, [128], [100], [1.0], 0.1, batch_size=0)
    assert model.batches == []

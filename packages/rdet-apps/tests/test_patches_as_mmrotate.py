"""Huge-image inference cuts and pads patches as MMRotate 0.3.4 does: ``slide_window``'s
full-size windows (past the border of an image smaller than the patch, the image-rate filter)
and ``LoadPatchFromImage``'s zero padding at the bottom and right, so that the test pipeline
never upscales a small patch; a tiling that would make hundreds of thousands of patches is
refused up front."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rdet_apps.apis import patches as patches_module
from rdet_apps.apis import predict_by_patches
from rdet_apps.apis.patches import check_overlap, patch_windows
from rdet_apps.commands.demo import CONFIG
from rdet_core import Config
from rdet_core.structures import Detections


class RecordingDetector(torch.nn.Module):
    """The demo config's test pipeline (img_scale 256); records each batch's metas, detects
    nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.cfg = Config.fromfile(CONFIG)
        self.CLASSES = ("plane", "ship", "storage-tank")
        self.num_classes = 3
        self.metas: list = []

    def predict(self, batch, rescale: bool = True) -> list[Detections]:
        self.metas += list(batch.metas)
        return [Detections.empty() for _ in batch.metas]


def test_a_patch_smaller_than_the_patch_size_is_padded_not_upscaled(monkeypatch):
    """Before: the 200x160 image went to the model as it was and RResize scaled it to 256
    (scale_factor 1.28, and 1.6 for 320 in the audit); MMRotate pads it to 256x256 with zeros."""
    seen: list[np.ndarray] = []
    real = patches_module.predict_images

    def recording(model, imgs):
        seen.extend(imgs)
        return real(model, imgs)

    monkeypatch.setattr(patches_module, "predict_images", recording)
    model = RecordingDetector()
    image = np.random.default_rng(0).integers(1, 255, (160, 200, 3), dtype=np.uint8)
    predict_by_patches(model, image, sizes=[256], steps=[200])
    assert len(seen) == 1 and seen[0].shape == (256, 256, 3)
    np.testing.assert_array_equal(seen[0][:160, :200], image)
    assert not seen[0][160:].any() and not seen[0][:, 200:].any()  # mmcv.impad's pad value 0
    (meta,) = model.metas
    np.testing.assert_array_equal(meta.scale_factor, np.ones(4, np.float32))
    assert tuple(meta.ori_shape[:2]) == (256, 256) and tuple(meta.img_shape[:2]) == (256, 256)


def test_windows_are_mmrotates_slide_window():
    # one side shorter than the patch: full-size windows reaching past it (image rate 0.625)
    assert patch_windows(1000, 160, [256], [200]).tolist() == [
        [0, 0, 256, 256], [200, 0, 456, 256], [400, 0, 656, 256], [600, 0, 856, 256], [744, 0, 1000, 256]
    ]  # fmt: skip
    # an image smaller than every window: the windows with the most image stay
    assert patch_windows(100, 80, [256], [200]).tolist() == [[0, 0, 256, 256]]
    # several sizes: a window mostly padding (1024 on a 500-pixel image, rate 0.24) is left out
    wins = patch_windows(500, 500, [320, 1024], [200, 824])
    assert wins.tolist() == [[0, 0, 320, 320], [0, 180, 320, 500], [180, 0, 500, 320], [180, 180, 500, 500]]
    # the last start moves back flush with the border only when it would pass it
    assert [w[0] for w in patch_windows(900, 300, [300], [200])] == [0, 200, 400, 600]
    assert [w[0] for w in patch_windows(1000, 300, [300], [200])] == [0, 200, 400, 600, 700]


def test_the_image_rate_filter_spans_all_ratios(monkeypatch):
    """MMRotate cuts the windows of every ratio in one slide_window call: on a 200x160 image with
    ratios 1 and 0.5 only the ratio-1 window (rate 0.39 against 0.10) is detected on."""
    seen: list[np.ndarray] = []
    real = patches_module.predict_images
    monkeypatch.setattr(patches_module, "predict_images", lambda m, imgs: seen.extend(imgs) or real(m, imgs))
    image = np.random.default_rng(1).integers(1, 255, (160, 200, 3), dtype=np.uint8)
    predict_by_patches(RecordingDetector(), image, sizes=[256], steps=[200], ratios=[1.0, 0.5])
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0][:160, :200], image)


def test_a_tiling_of_hundreds_of_thousands_of_patches_is_refused_before_reading():
    """Before: --patch-size 512 --patch-gap 511 (step 1) started about 262,000 patches."""
    with pytest.raises(ValueError, match=r"steps\[0\] = 1 with sizes\[0\] = 512 \(overlap 511 pixels\): "
                                         r"each pixel would be in about 262144 patches; the step must be "
                                         r"at least 1/8 of the size, 64 \(an overlap of at most 448\)"):  # fmt: skip
        predict_by_patches(torch.nn.Identity(), "/nowhere/absent.png", sizes=[512], steps=[1])
    check_overlap([1024, 512], [824, 64])  # MMRotate's demo; the densest allowed
    with pytest.raises(ValueError, match=r"steps\[1\] = 63"):
        check_overlap([1024, 512], [824, 63])


def test_rdet_infer_refuses_a_patch_gap_next_to_the_size(tmp_path, capsys):
    from rdet_apps.cli import main

    argv = ["infer", "c.py", "k.pth", str(tmp_path), "--patch-size", "512", "--patch-gap", "511"]
    assert main(argv) == 1  # before the config, the model or the images are read
    err = capsys.readouterr().err
    assert (
        "--patch-gap 511 with --patch-size 512: each pixel would be in about 262144 patches; the gap "
        "may be at most 448 (the step, size - gap, at least 1/8 of the size)"
    ) in err

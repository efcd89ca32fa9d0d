"""PhotoMetricDistortion is MMDetection 2.28's: forced into each branch (and seeded), its output equals
MMDetection's steps written out here with numpy / OpenCV; boxes and labels never move."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from rdet_data.registry import TRANSFORMS
from rdet_data.transforms import Compose, PhotoMetricDistortion


def image(h: int = 24, w: int = 40, seed: int = 0) -> np.ndarray:
    """uint8 BGR with every hue: a hue ramp along x (pixels near 0 and 359 degrees), noise in S and V."""
    rng = np.random.default_rng(seed)
    hsv = np.empty((h, w, 3), np.float32)
    hsv[..., 0] = np.linspace(0, 359.9, w, dtype=np.float32)[None, :]
    hsv[..., 1] = rng.uniform(0.3, 1.0, (h, w))
    hsv[..., 2] = rng.uniform(40, 255, (h, w))
    return np.clip(np.rint(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)), 0, 255).astype(np.uint8)


def results(img: np.ndarray) -> dict:
    boxes = np.array([[10.0, 8.0, 6.0, 4.0, 0.3], [30.0, 12.0, 9.0, 5.0, -0.2]], np.float32)
    return {"img": img, "img_shape": img.shape, "ori_shape": img.shape, "img_fields": ["img"],
            "gt_bboxes": boxes, "gt_labels": np.array([2, 5]), "bbox_fields": ["gt_bboxes"]}  # fmt: skip


def mmdet_steps(img, flags, values, perm, bd=32, cr=(0.5, 1.5), sr=(0.5, 1.5), hd=18):
    """MMDetection 2.28's PhotoMetricDistortion.__call__ with its draws given: ``flags`` the
    ``randint(2)`` results in draw order, ``values`` the ``uniform`` results, ``perm`` the permutation."""
    flags, values = list(flags), list(values)
    img = img.astype(np.float32)
    if flags.pop(0):
        img += values.pop(0)
    mode = flags.pop(0)
    if mode == 1 and flags.pop(0):
        img *= values.pop(0)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)  # mmcv.bgr2hsv
    if flags.pop(0):
        img[..., 1] *= values.pop(0)
    if flags.pop(0):
        img[..., 0] += values.pop(0)
        img[..., 0][img[..., 0] > 360] -= 360
        img[..., 0][img[..., 0] < 0] += 360
    img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)  # mmcv.hsv2bgr
    if mode == 0 and flags.pop(0):
        img *= values.pop(0)
    if flags.pop(0):
        img = img[..., perm]
    assert not flags and not values
    return img


class Scripted:
    """Stands in for numpy.random's randint / uniform / permutation, answering from scripts."""

    def __init__(self, flags, values, perm):
        self.flags, self.values, self.perm = list(flags), list(values), perm
        self.uniform_args = []

    def randint(self, n):
        assert n == 2
        return self.flags.pop(0)

    def uniform(self, lo, hi):
        self.uniform_args.append((lo, hi))
        return self.values.pop(0)

    def permutation(self, n):
        assert n == 3
        return np.array(self.perm)


def script(bright, mode, contrast, sat, hue, swap, hue_value):
    """The randint flags and uniform values MMDetection draws for one branch combination."""
    flags, values = [bright], [17.25] if bright else []
    flags.append(mode)
    if mode == 1:
        flags.append(contrast)
        values += [1.3] if contrast else []
    flags.append(sat)
    values += [0.62] if sat else []
    flags.append(hue)
    values += [hue_value] if hue else []
    if mode == 0:
        flags.append(contrast)
        values += [1.3] if contrast else []
    flags.append(swap)
    return flags, values


BRANCHES = list(itertools.product([0, 1], repeat=6))


@pytest.mark.parametrize("hue_value", [17.9, -17.9])  # wraps over 360 and under 0
@pytest.mark.parametrize("branch", BRANCHES, ids=["b{}m{}c{}s{}h{}x{}".format(*b) for b in BRANCHES])
def test_each_branch_is_mmdetections(branch, hue_value, monkeypatch):
    img = image()
    flags, values = script(*branch, hue_value=hue_value)
    perm = [2, 0, 1]
    expected = mmdet_steps(img, flags, values, perm)
    fake = Scripted(flags, values, perm)
    for name in ("randint", "uniform", "permutation"):
        monkeypatch.setattr(np.random, name, getattr(fake, name))
    r = results(img.copy())
    out = PhotoMetricDistortion()(r)
    assert not fake.flags and not fake.values  # every draw made, in MMDetection's order
    assert out["img"].dtype == np.float32 and out["img"].shape == img.shape
    np.testing.assert_array_equal(out["img"], expected)
    np.testing.assert_array_equal(r["gt_bboxes"], results(img)["gt_bboxes"])
    np.testing.assert_array_equal(out["gt_labels"], [2, 5])
    assert out["img_shape"] == img.shape and out["bbox_fields"] == ["gt_bboxes"]


def test_draw_ranges_are_the_arguments(monkeypatch):
    flags, values = script(1, 0, 1, 1, 1, 0, hue_value=3.0)
    fake = Scripted(flags, values, [0, 1, 2])
    for name in ("randint", "uniform", "permutation"):
        monkeypatch.setattr(np.random, name, getattr(fake, name))
    PhotoMetricDistortion(brightness_delta=10, contrast_range=(0.8, 1.2), saturation_range=(0.7, 1.1),
                          hue_delta=5)(results(image()))  # fmt: skip
    assert fake.uniform_args == [(-10, 10), (0.7, 1.1), (-5, 5), (0.8, 1.2)]


def test_the_hue_wraps_around():
    """The forced hue shifts above do leave [0, 360] before the wrap (else the wrap is untested)."""
    hsv = cv2.cvtColor(image().astype(np.float32), cv2.COLOR_BGR2HSV)
    assert (hsv[..., 0] + 17.9 > 360).any() and (hsv[..., 0] - 17.9 < 0).any()


def mmdet_seeded(img):
    """MMDetection 2.28's __call__, transcribed with ``from numpy import random``."""
    from numpy import random

    img = img.astype(np.float32)
    if random.randint(2):
        img += random.uniform(-32, 32)
    mode = random.randint(2)
    if mode == 1 and random.randint(2):
        img *= random.uniform(0.5, 1.5)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    if random.randint(2):
        img[..., 1] *= random.uniform(0.5, 1.5)
    if random.randint(2):
        img[..., 0] += random.uniform(-18, 18)
        img[..., 0][img[..., 0] > 360] -= 360
        img[..., 0][img[..., 0] < 0] += 360
    img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if mode == 0 and random.randint(2):
        img *= random.uniform(0.5, 1.5)
    if random.randint(2):
        img = img[..., random.permutation(3)]
    return img


@pytest.mark.parametrize("seed", range(12))
def test_a_seed_gives_mmdetections_output_and_leaves_the_rng_where_mmdetection_does(seed):
    img = image(seed=seed)
    np.random.seed(seed)
    expected = mmdet_seeded(img)
    after = np.random.random()
    np.random.seed(seed)
    out = PhotoMetricDistortion()(results(img))
    np.testing.assert_array_equal(out["img"], expected)
    assert np.random.random() == after


def test_uint8_is_converted_as_mmdetection_228_does():
    """MMDetection 2.x asserted float32 (``to_float32=True``) until mmdetection#6442 (late 2021); 2.28 converts."""
    img = image()
    np.random.seed(3)
    from_uint8 = PhotoMetricDistortion()(results(img))["img"]
    np.random.seed(3)
    from_float = PhotoMetricDistortion()(results(img.astype(np.float32)))["img"]
    assert from_uint8.dtype == np.float32
    np.testing.assert_array_equal(from_uint8, from_float)


def test_the_input_image_is_not_changed():
    img = image().astype(np.float32)
    before = img.copy()
    np.random.seed(0)
    for _ in range(5):
        PhotoMetricDistortion()(results(img))
    np.testing.assert_array_equal(img, before)


def test_builds_from_config_and_names_a_typo_d_argument():
    t = TRANSFORMS.build(dict(type="PhotoMetricDistortion"))
    assert isinstance(t, PhotoMetricDistortion) and t.brightness_delta == 32 and t.hue_delta == 18
    assert (t.contrast_lower, t.contrast_upper, t.saturation_lower, t.saturation_upper) == (
        0.5,
        1.5,
        0.5,
        1.5,
    )
    assert "PhotoMetricDistortion(brightness_delta=32" in repr(t)
    pipeline = Compose([dict(type="PhotoMetricDistortion", brightness_delta=10, hue_delta=4)])
    assert pipeline.transforms[0].brightness_delta == 10
    with pytest.raises(
        TypeError, match=r"PhotoMetricDistortion: .*unexpected keyword argument 'brightness_delat'"
    ):
        TRANSFORMS.build(dict(type="PhotoMetricDistortion", brightness_delat=10))


@pytest.mark.parametrize(
    "kwargs, named",
    [(dict(brightness_delta=-1), "brightness_delta"), (dict(hue_delta=400), "hue_delta"),
     (dict(contrast_range=(1.5, 0.5)), r"contrast_range\[1\]"), (dict(saturation_range=0.5), "saturation_range"),
     (dict(contrast_range=(-0.1, 1.0)), r"contrast_range\[0\]"), (dict(brightness_delta="32"), "brightness_delta")],
)  # fmt: skip
def test_bad_arguments_are_named_at_build(kwargs, named):
    with pytest.raises(ValueError, match=f"PhotoMetricDistortion: {named}"):
        TRANSFORMS.build(dict(type="PhotoMetricDistortion", **kwargs))


def test_wrong_pipeline_order_and_images_are_named():
    with pytest.raises(KeyError, match="PhotoMetricDistortion needs results\\['img'\\]"):
        PhotoMetricDistortion()({"img_fields": ["img"]})
    with pytest.raises(ValueError, match=r"img_fields must be \['img'\].*\['img', 'mask'\]"):
        PhotoMetricDistortion()({**results(image()), "img_fields": ["img", "mask"]})
    with pytest.raises(ValueError, match=r"3-channel .* shape \(24, 40\)"):
        PhotoMetricDistortion()({"img": image()[..., 0]})

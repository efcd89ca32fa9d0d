"""Transforms reject bad arguments at build time and wrong pipeline orders at call time,
with errors naming the transform and the argument; valid input behaves as before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rdet_data.registry import TRANSFORMS
from rdet_data.transforms import (
    Compose,
    DefaultFormatBundle,
    LoadAnnotations,
    MultiScaleFlipAug,
    Normalize,
    Pad,
    PolyRandomRotate,
    RRandomCrop,
    RRandomFlip,
    RResize,
)

BOX = [30.0, 50.0, 20.0, 10.0, 0.3]


def image(h: int = 100, w: int = 120, c: int = 3) -> np.ndarray:
    return (np.random.default_rng(0).random((h, w, c)) * 255).astype(np.uint8)


def loaded(h: int = 100, w: int = 120) -> dict[str, Any]:
    """Results as LoadImageFromFile leaves them (plus the dataset's pre_pipeline), with ``ann_info``."""
    img = image(h, w)
    return {
        "img": img,
        "img_shape": img.shape,
        "ori_shape": img.shape,
        "img_fields": ["img"],
        "bbox_fields": [],
        "ann_info": {"bboxes": np.array([BOX], np.float32), "labels": np.array([0])},
    }


def with_boxes(h: int = 100, w: int = 120) -> dict[str, Any]:
    return LoadAnnotations()(loaded(h, w))


# 1. LoadAnnotations twice --------------------------------------------------------------------


def test_load_annotations_twice_is_an_error():
    pipeline = Compose([dict(type="LoadAnnotations"), dict(type="LoadAnnotations")])
    with pytest.raises(ValueError, match="LoadAnnotations.*loaded twice"):
        pipeline(loaded())


def test_bbox_fields_listed_twice_move_once():
    results = with_boxes()
    results["bbox_fields"] = ["gt_bboxes", "gt_bboxes"]
    out = RResize(img_scale=(60, 50))(results)
    assert out["img"].shape[:2] == (50, 60)
    np.testing.assert_allclose(out["gt_bboxes"][0, :4], [15.0, 25.0, 10.0, 5.0], rtol=1e-5)
    flipped = RRandomFlip(flip_ratio=1.0)(with_boxes() | {"bbox_fields": ["gt_bboxes"] * 2})
    assert flipped["gt_bboxes"][0, 0] == pytest.approx(120 - BOX[0])


def test_load_annotations_lists_each_field_once():
    results = loaded()
    results["ann_info"]["bboxes_ignore"] = np.zeros((0, 5), np.float32)
    shared = results["bbox_fields"]
    out = LoadAnnotations()(results)
    assert out["bbox_fields"] == ["gt_bboxes", "gt_bboxes_ignore"]
    assert shared == []  # a new list: shallow copies of results (MultiScaleFlipAug) do not share it


def test_load_annotations_inside_multiscale_flip_aug_flips_each_copy_once():
    aug = MultiScaleFlipAug(
        transforms=[dict(type="LoadAnnotations"), dict(type="RResize"), dict(type="RRandomFlip")],
        img_scale=[(120, 100), (120, 100)],
        flip=True,
    )
    out = aug(loaded())
    xs = [b[0, 0] for b in out["gt_bboxes"]]
    assert xs == pytest.approx([BOX[0], 120 - BOX[0], BOX[0], 120 - BOX[0]])


def test_load_annotations_without_ann_info_names_test_mode():
    results = loaded()
    del results["ann_info"]
    with pytest.raises(KeyError, match="LoadAnnotations.*test_mode"):
        LoadAnnotations()(results)


# 2. a geometric transform before LoadAnnotations ---------------------------------------------


@pytest.mark.parametrize(
    "cfg, name",
    [
        (dict(type="RResize", img_scale=(60, 50)), "RResize"),
        (dict(type="RRandomFlip", flip_ratio=1.0), "RRandomFlip"),
        (dict(type="RRandomFlip", flip_ratio=0.0), "RRandomFlip"),
        (dict(type="PolyRandomRotate", rotate_ratio=1.0, allow_negative=True), "PolyRandomRotate"),
        (dict(type="RRandomCrop", crop_size=(50, 50), allow_negative_crop=True), "RRandomCrop"),
    ],
)
def test_geometric_transform_before_load_annotations(cfg, name):
    pipeline = Compose([cfg, dict(type="LoadAnnotations")])
    with pytest.raises(ValueError, match=f"LoadAnnotations must come before {name}"):
        pipeline(loaded())


def test_load_annotations_first_then_geometric_still_works():
    pipeline = Compose(
        [
            dict(type="LoadAnnotations"),
            dict(type="RResize", img_scale=(60, 50)),
            dict(type="RRandomFlip", flip_ratio=1.0),
            dict(type="Normalize", mean=[0, 0, 0], std=[1, 1, 1]),
            dict(type="Pad", size_divisor=32),
        ]
    )
    out = pipeline(loaded())
    assert out["img"].shape == (64, 64, 3)
    np.testing.assert_allclose(out["gt_bboxes"][0, :2], [60 - 15.0, 25.0], rtol=1e-5)


def test_multiscale_flip_aug_test_pipeline_without_annotations_still_works():
    aug = MultiScaleFlipAug(
        transforms=[
            dict(type="RResize"),
            dict(type="RRandomFlip"),
            dict(type="Normalize", mean=[0, 0, 0], std=[1, 1, 1]),
            dict(type="Pad", size_divisor=32),
            dict(type="DefaultFormatBundle"),
            dict(type="Collect", keys=["img"]),
        ],
        img_scale=(120, 100),
        flip=True,
    )
    results = loaded()
    del results["ann_info"]
    out = aug(results)
    assert len(out["img"]) == 2 and out["img"][0].shape == (3, 128, 128)


# 3. PolyRandomRotate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rotate_ratio=2), r"PolyRandomRotate: rotate_ratio must be in \[0, 1\], got 2"),
        (dict(rotate_ratio=-0.1), "rotate_ratio must be in"),
        (dict(rotate_ratio="0.5"), "rotate_ratio must be a number"),
        (dict(angles_range=-30), r"angles_range must be in \[0, inf\]"),
        (dict(angles_range=float("nan")), "angles_range must be finite"),
        (dict(angles_range=[90]), "mode 'range' expects angles_range to be a number"),
        (dict(mode="value", angles_range="90"), "mode 'value' expects angles_range as a non-empty list"),
        (dict(mode="value", angles_range=[]), "mode 'value' expects angles_range as a non-empty list"),
        (dict(mode="value", angles_range=[90, "180"]), "angles_range entry must be a number"),
        (dict(mode="value", angles_range=[90, float("inf")]), "angles_range entry must be finite"),
        (dict(rect_classes=0), "rect_classes must be None or a list"),
    ],
)
def test_poly_random_rotate_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(dict(type="PolyRandomRotate", **kwargs))


def test_poly_random_rotate_valid():
    t = PolyRandomRotate(rotate_ratio=1.0, mode="value", angles_range=(90,), version="le90")
    out = t(with_boxes(100, 100))
    assert out["rotate_angle"] == 90.0 and len(out["gt_bboxes"]) == 1
    PolyRandomRotate(rotate_ratio=0.5, angles_range=180, rect_classes=[9, 11], version="le90")


# 4. RRandomCrop -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(crop_size=(0.5, 0.5)),
            r"RRandomCrop: crop_size \(0.5, 0.5\) \(absolute\) entry must be an int",
        ),
        (dict(crop_size=(0, 50)), r"crop_size .* entry must be in \[1, inf\]"),
        (dict(crop_size=(50,)), "crop_size must be a pair"),
        (
            dict(crop_size=(10, 5), crop_type="absolute_range"),
            "absolute_range needs crop_size = \\(min, max\\)",
        ),
        (dict(crop_size=(0, 0.5), crop_type="relative"), r"crop_size .* entry must be in \(0, 1\]"),
        (dict(crop_size=(1.5, 0.5), crop_type="relative_range"), r"crop_size .* entry must be in \(0, 1\]"),
        (dict(crop_size=(50, 50), iof_thr=2), r"RRandomCrop: iof_thr must be in \[0, 1\], got 2"),
        (dict(crop_size=(50, 50), iof_thr=-1), "iof_thr must be in"),
        (dict(crop_size=(50, 50), crop_type="bogus"), "invalid crop_type"),
    ],
)
def test_random_crop_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(dict(type="RRandomCrop", **kwargs))


def test_random_crop_of_zero_pixels_names_crop_size():
    t = RRandomCrop(crop_size=(0.001, 0.001), crop_type="relative", allow_negative_crop=True)
    with pytest.raises(ValueError, match=r"RRandomCrop: crop_size \(0.001, 0.001\).*\(0, 0\) pixels"):
        t(with_boxes())


def test_random_crop_valid():
    out = RRandomCrop(crop_size=(1.0, 1.0), crop_type="relative", iof_thr=0.0)(with_boxes())
    assert out["img"].shape == (100, 120, 3)
    np.testing.assert_allclose(out["gt_bboxes"][0], BOX, rtol=1e-6)


# 5. Normalize ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mean=[0, 0, 0], std=[0, 1, 1]), "Normalize: std entries must not be 0"),
        (dict(mean=[0, 0, 0], std=[1, float("nan"), 1]), "Normalize: each std entry must be finite"),
        (dict(mean=[0, float("inf"), 0], std=[1, 1, 1]), "Normalize: each mean entry must be finite"),
        (dict(mean=[], std=[1, 1, 1]), "Normalize: mean must be a non-empty list"),
        (dict(mean=[0, "a", 0], std=[1, 1, 1]), "Normalize: each mean entry must be a number"),
    ],
)
def test_normalize_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(dict(type="Normalize", **kwargs))


def test_normalize_length_mismatch_names_lengths_and_channels():
    t = Normalize(mean=[0, 0, 0, 0], std=[1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"Normalize: mean has 4 entries but .* 3 channel"):
        t(loaded())


def test_normalize_valid():
    results = loaded()
    img = results["img"].astype(np.float32)
    out = Normalize(mean=[10, 20, 30], std=[2, 4, 5], to_rgb=False)(results)
    np.testing.assert_allclose(out["img"], (img - [10, 20, 30]) / [2, 4, 5], rtol=1e-5)
    out = Normalize(mean=[10], std=[2], to_rgb=False)(loaded())
    np.testing.assert_allclose(out["img"], (img - 10) / 2, rtol=1e-5)


# 6. RResize, Pad, MultiScaleFlipAug -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(img_scale=(0, 0)), r"RResize: img_scale \(0, 0\) entry must be in \[1, inf\]"),
        (dict(img_scale=(-100, 50)), "img_scale .* entry must be in"),
        (dict(img_scale=(100.5, 50)), "img_scale .* entry must be an int"),
        (dict(img_scale="1024"), "RResize: img_scale must be a \\(long, short\\) pair"),
        (dict(img_scale=(100, 80, 60)), "each img_scale must be a \\(long, short\\) pair"),
        (dict(img_scale=[]), "RResize: img_scale is empty"),
        (dict(img_scale=(100, 80), ratio_range=(-1, -0.5)), r"ratio_range\[0\] must be in \(0, inf\]"),
        (dict(img_scale=(100, 80), ratio_range=(2, 0.5)), r"ratio_range\[1\] must be in \[2, inf\]"),
        (dict(img_scale=(100, 80), ratio_range=(0.5, 1, 2)), "ratio_range must be a pair"),
        (dict(img_scale=(100, 80), interpolation="foo"), "RResize: interpolation must be one of"),
    ],
)
def test_resize_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(dict(type="RResize", **kwargs))


def test_resize_to_zero_pixels_is_an_error():
    with pytest.raises(ValueError, match=r"RResize: the image \(100, 120\) would be resized to"):
        RResize(img_scale=(100, 80), keep_ratio=False)(with_boxes() | {"scale": (0, 10)})


def test_resize_valid():
    out = RResize(img_scale=[(60, 50)], ratio_range=(1.0, 1.0), interpolation="area")(with_boxes())
    assert out["img"].shape == (50, 60, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size_divisor=0), r"Pad: size_divisor must be in \[1, inf\], got 0"),
        (dict(size_divisor=2.5), "Pad: size_divisor must be an int"),
        (dict(size=(-10, 10)), r"Pad: size .* entry must be in \[1, inf\]"),
        (dict(size=(200,)), "Pad: size must be a pair"),
        (dict(size_divisor=32, pad_val="x"), "Pad: pad_val must be a number"),
    ],
)
def test_pad_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(dict(type="Pad", **kwargs))


def test_pad_valid():
    out = Pad(size=(128, 130), pad_val=dict(img=0, masks=0, seg=255))(loaded())
    assert out["img"].shape == (128, 130, 3)
    assert Pad(size_divisor=32)(loaded())["img"].shape == (128, 128, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(scale_factor=0), r"MultiScaleFlipAug: scale_factor must be in \(0, inf\], got 0"),
        (dict(scale_factor=[1.0, -1.0]), "scale_factor must be in"),
        (dict(scale_factor="2"), "scale_factor must be a number"),
        (dict(img_scale=(0, 0)), r"MultiScaleFlipAug: img_scale \(0, 0\) entry must be in"),
        (dict(img_scale="1333"), "MultiScaleFlipAug: img_scale must be a \\(long, short\\) pair"),
    ],
)
def test_multiscale_flip_aug_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiScaleFlipAug(transforms=[dict(type="RResize")], **kwargs)


def test_multiscale_flip_aug_int_scale_factor_works():
    aug = MultiScaleFlipAug(transforms=[dict(type="RResize")], scale_factor=[2, 0.5])
    out = aug(with_boxes())
    assert [img.shape[:2] for img in out["img"]] == [(200, 240), (50, 60)]
    np.testing.assert_allclose(out["gt_bboxes"][0][0, :2], [60.0, 100.0], rtol=1e-5)


# 7. pipeline order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg, name",
    [
        (dict(type="RResize", img_scale=(60, 50)), "RResize"),
        (dict(type="RRandomFlip", flip_ratio=1.0), "RRandomFlip"),
        (dict(type="PolyRandomRotate", rotate_ratio=1.0), "PolyRandomRotate"),
        (dict(type="RRandomCrop", crop_size=(50, 50)), "RRandomCrop"),
        (dict(type="Normalize", mean=[0, 0, 0], std=[1, 1, 1]), "Normalize"),
        (dict(type="Pad", size_divisor=32), "Pad"),
    ],
)
def test_numpy_transform_after_format_bundle(cfg, name):
    results = DefaultFormatBundle()(with_boxes())
    assert isinstance(results["img"], torch.Tensor)
    with pytest.raises(TypeError, match=f"{name} must come before DefaultFormatBundle"):
        TRANSFORMS.build(cfg)(results)


@pytest.mark.parametrize(
    "cfg", [dict(type="RResize", img_scale=(60, 50)), dict(type="Normalize", mean=[0], std=[1])]
)
def test_transform_before_load_image(cfg):
    with pytest.raises(KeyError, match=f"{cfg['type']} needs results\\['img'\\].*after LoadImageFromFile"):
        TRANSFORMS.build(cfg)({"img_info": {"filename": "a.png"}})


def test_format_bundle_twice():
    results = DefaultFormatBundle()(with_boxes())
    with pytest.raises(TypeError, match="DefaultFormatBundle twice"):
        DefaultFormatBundle()(results)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prob": 2}, r"RMosaic: prob must be in \[0, 1\], got 2"),
        ({"img_scale": 640}, r"RMosaic: img_scale must be a \(long, short\) pair"),
        ({"img_scale": (640, 0)}, r"RMosaic: img_scale .* entry must be in \[1, inf\]"),
        ({"center_ratio_range": (1.5, 0.5)}, r"RMosaic: center_ratio_range\[1\] must be in \[1.5, inf\]"),
        ({"center_ratio_range": (0, 1)}, r"RMosaic: center_ratio_range\[0\] must be in \(0, inf\]"),
        ({"min_bbox_size": -1}, r"RMosaic: min_bbox_size must be in \[0, inf\]"),
        ({"version": "le45"}, r"le45"),
    ],
)
def test_rmosaic_checks_its_arguments(kwargs, message):
    from rdet_data.transforms.mosaic import RMosaic

    with pytest.raises(ValueError, match=message):
        RMosaic(**kwargs)
    assert RMosaic(img_scale=[320, 256]).img_scale == (320, 256)  # a JSON list pair is one scale

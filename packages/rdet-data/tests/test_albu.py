"""Albu wraps albumentations for rotated boxes. albumentations is an optional extra that is not
installed here: the missing-extra error is tested for real, the wrapper against a small stand-in
module put in ``sys.modules`` that follows albumentations' API and conventions (keypoints in the
pixel-index frame: a flip maps x to ``cols - 1 - x``). The real library is not exercised."""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
import types

import cv2
import numpy as np
import pytest

import rbox_geometry as rg
from rdet_data.registry import TRANSFORMS
from rdet_data.transforms import Albu, Compose, RRandomFlip

BOXES = np.array([[80, 60, 60, 30, 0.0], [200, 150, 90, 40, 0.5], [320, 220, 50, 50, -0.3],
                  [150, 240, 70, 20, 1.2]], np.float64)  # fmt: skip


# -- the stand-in ---------------------------------------------------------------------------------


def make_albumentations(version: str = "1.3.1", own_rng: bool = False) -> types.ModuleType:
    """A stand-in ``albumentations``: Compose, OneOf, BboxParams, KeypointParams, ImageOnlyTransform,
    DualTransform and a few transforms. ``own_rng``: albumentations >= 2 (its own generator,
    ``set_random_seed``); else 1.x (numpy's global state)."""
    A = types.ModuleType("albumentations")
    A.__version__ = version
    A.calls = []  # each Compose call's keyword names

    class KeypointParams:
        def __init__(self, format, label_fields=None, remove_invisible=True, angle_in_degrees=True,
                     check_each_transform=True):  # fmt: skip
            self.format, self.remove_invisible = format, remove_invisible

    class BboxParams:
        def __init__(
            self, format, label_fields=None, min_area=0.0, min_visibility=0.0, check_each_transform=True
        ):
            self.format = format

    class BasicTransform:
        def __init__(self, always_apply=False, p=0.5):
            self.p = p

        @property
        def targets(self):
            return {"image": self.apply}

        def get_params(self, rng, img):
            return {}

        def run(self, data, rng, image_keys, force=False):
            if not force and rng.random() >= self.p:
                return data
            params = self.get_params(rng, data["image"])
            rows, cols = data["image"].shape[:2]
            for key in image_keys:
                data[key] = self.apply(data[key], **params)
            if "mask" in self.targets and "mask" in data:
                data["mask"] = self.targets["mask"](data["mask"], **params)
            if "keypoints" in self.targets and "keypoints" in data:
                data["keypoints"] = [
                    self.apply_to_keypoint(kp, rows, cols, **params) for kp in data["keypoints"]
                ]
            return data

    class ImageOnlyTransform(BasicTransform):
        pass

    class DualTransform(BasicTransform):
        @property
        def targets(self):
            return {"image": self.apply, "mask": self.apply, "keypoints": self.apply_to_keypoint}

        def apply_to_keypoint(self, keypoint, rows, cols, **params):
            raise NotImplementedError(
                f"Method apply_to_keypoint is not implemented in class {type(self).__name__}"
            )

    class AddConstant(ImageOnlyTransform):
        def __init__(self, value=10, always_apply=False, p=0.5):
            super().__init__(always_apply, p)
            self.value = value

        def apply(self, img, **params):
            return np.clip(img.astype(np.float32) + self.value, 0, 255).astype(img.dtype)

    class ChannelShuffle(ImageOnlyTransform):
        def get_params(self, rng, img):
            return {"order": np.argsort([rng.random() for _ in range(img.shape[2])])}

        def apply(self, img, order=None, **params):
            return img[..., order]

    class HorizontalFlip(DualTransform):
        def apply(self, img, **params):
            return np.ascontiguousarray(img[:, ::-1])

        def apply_to_keypoint(self, keypoint, rows, cols, **params):
            x, y = keypoint
            return (cols - 1) - x, y

    class Transpose(DualTransform):
        def apply(self, img, **params):
            return np.ascontiguousarray(img.swapaxes(0, 1))

        def apply_to_keypoint(self, keypoint, rows, cols, **params):
            x, y = keypoint
            return y, x

    class Rotate(DualTransform):
        """albumentations 1.3's: the image about (w/2 - 0.5, h/2 - 0.5), keypoints about ((cols-1)/2, (rows-1)/2)."""

        def __init__(
            self, limit=90, border_mode=cv2.BORDER_REFLECT_101, value=None, always_apply=False, p=0.5
        ):
            super().__init__(always_apply, p)
            self.limit = (-limit, limit) if np.isscalar(limit) else tuple(limit)
            self.border_mode, self.value = border_mode, value

        def get_params(self, rng, img):
            lo, hi = self.limit
            return {"angle": lo + (hi - lo) * rng.random()}

        def apply(self, img, angle=0.0, **params):
            h, w = img.shape[:2]
            m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, 1.0)
            return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=self.border_mode,
                                  borderValue=self.value or 0)  # fmt: skip

        def apply_to_keypoint(self, keypoint, rows, cols, angle=0.0, **params):
            m = cv2.getRotationMatrix2D(((cols - 1) * 0.5, (rows - 1) * 0.5), angle, 1.0)
            x, y = m @ np.array([keypoint[0], keypoint[1], 1.0])
            return x, y

    class Crop(DualTransform):
        def __init__(self, x_min=0, y_min=0, x_max=1024, y_max=1024, always_apply=False, p=1.0):
            super().__init__(always_apply, p)
            self.box = (x_min, y_min, x_max, y_max)

        def apply(self, img, **params):
            x0, y0, x1, y1 = self.box
            return img[y0:y1, x0:x1]

        def apply_to_keypoint(self, keypoint, rows, cols, **params):
            return keypoint[0] - self.box[0], keypoint[1] - self.box[1]

    class CoarseWarp(DualTransform):
        """A 1.x geometric transform that never implemented keypoints."""

        def apply(self, img, **params):
            return img

    class MaskShuffle(DualTransform):
        """A newer-style transform that declares no keypoint target."""

        @property
        def targets(self):
            return {"image": self.apply, "mask": self.apply}

        def apply(self, img, **params):
            return img

    class OneOf:
        def __init__(self, transforms, p=0.5):
            self.transforms, self.p = transforms, p

        def run(self, data, rng, image_keys, force=False):
            if not force and rng.random() >= self.p:
                return data
            t = self.transforms[int(rng.random() * len(self.transforms))]
            return t.run(data, rng, image_keys, force=True)

    class Compose:
        def __init__(
            self, transforms, bbox_params=None, keypoint_params=None, additional_targets=None, p=1.0
        ):
            self.transforms = transforms
            self.keypoint_params = keypoint_params
            self.additional_targets = dict(additional_targets or {})
            if own_rng:
                self.random_generator = np.random.default_rng()

        def __call__(self, **data):
            A.calls.append(sorted(data))
            known = {"image", "mask", "masks", "bboxes", "keypoints", *self.additional_targets}
            unknown = set(data) - known
            if unknown:  # albumentations >= 1.4 refuses keys it does not know (strict)
                raise ValueError(f"Key(s) {sorted(unknown)} are not in available keys")
            if "keypoints" in data and self.keypoint_params is None:
                raise ValueError("keypoint_params must be specified for keypoint transformations")
            rng = self.random_generator if own_rng else np.random
            image_keys = ["image"] + [k for k, v in self.additional_targets.items() if v == "image"]
            data = dict(data)
            if "keypoints" in data:
                assert self.keypoint_params.format == "xy" and not self.keypoint_params.remove_invisible
                data["keypoints"] = [tuple(map(float, kp)) for kp in data["keypoints"]]
            for t in self.transforms:
                data = t.run(data, rng, image_keys)
            if own_rng and "keypoints" in data:  # 2.x returns arrays
                data["keypoints"] = np.array(data["keypoints"], np.float32).reshape(-1, 2)
            return data

    if own_rng:

        def set_random_seed(self, seed):
            self.random_generator = np.random.default_rng(seed)

        Compose.set_random_seed = set_random_seed

    for obj in (KeypointParams, BboxParams, BasicTransform, ImageOnlyTransform, DualTransform, AddConstant,
                ChannelShuffle, HorizontalFlip, Transpose, Rotate, Crop, CoarseWarp, MaskShuffle, OneOf, Compose):  # fmt: skip
        setattr(A, obj.__name__, obj)
    return A


@pytest.fixture
def albu(monkeypatch):
    module = make_albumentations()
    monkeypatch.setitem(sys.modules, "albumentations", module)
    return module


def sample(version: str = "le90", w: int = 400, h: int = 300) -> dict:
    img = np.random.default_rng(0).integers(0, 60, (h, w, 3), dtype=np.uint8)
    boxes = np.asarray(rg.regularize(BOXES, version), np.float32)
    return {"img": img, "img_shape": img.shape, "ori_shape": img.shape, "img_fields": ["img"],
            "gt_bboxes": boxes, "gt_labels": np.arange(len(boxes)), "bbox_fields": ["gt_bboxes"]}  # fmt: skip


def rasterise(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8, 255 where a pixel centre (j + 0.5, i + 0.5) lies in a box."""
    jj, ii = np.meshgrid(np.arange(shape[1]) + 0.5, np.arange(shape[0]) + 0.5)
    points = np.stack([jj.ravel(), ii.ravel()], 1)
    mask = np.zeros(shape[0] * shape[1], bool)
    for b in np.asarray(boxes, np.float64).reshape(-1, 5):
        mask |= np.asarray(rg.points_in_rboxes(points, b[None]))[:, 0]
    return (mask.reshape(shape) * 255).astype(np.uint8)


# -- the extra ------------------------------------------------------------------------------------


def test_without_albumentations_the_error_names_the_extra(monkeypatch):
    if importlib.util.find_spec("albumentations") is not None:  # installed after all: hide it
        monkeypatch.setitem(sys.modules, "albumentations", None)
    with pytest.raises(ImportError, match=r"pip install rdet-data\[albu\]"):
        TRANSFORMS.build(dict(type="Albu", transforms=[dict(type="HorizontalFlip", p=0.5)]))


def test_an_old_albumentations_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "albumentations", make_albumentations(version="0.5.2"))
    with pytest.raises(
        ImportError, match=r"pip install rdet-data\[albu\] \(albumentations 0.5.2 is installed\)"
    ):
        Albu([dict(type="HorizontalFlip")])


def test_importing_the_transforms_does_not_import_albumentations():
    import rdet_data.transforms.albu  # noqa: F401  (imported above already; the module is the point)

    assert "albumentations" not in sys.modules  # the stand-in fixtures take theirs out again


# -- photometric transforms: boxes untouched ------------------------------------------------------


def test_photometric_transforms_leave_the_boxes_alone(albu):
    t = TRANSFORMS.build(dict(type="Albu", transforms=[dict(type="AddConstant", value=7, p=1.0),
                                                       dict(type="OneOf", transforms=[dict(type="ChannelShuffle", p=1.0)], p=1.0)]))  # fmt: skip
    assert t.geometric == []
    r = sample()
    img, boxes = r["img"].copy(), r["gt_bboxes"].copy()
    np.random.seed(0)
    out = t(r)
    assert albu.calls[-1] == ["image"]  # no keypoints, no bboxes, nothing else of the results
    np.testing.assert_array_equal(
        np.sort(out["img"].reshape(-1, 3), axis=1), np.sort(img.reshape(-1, 3) + 7, axis=1)
    )
    np.testing.assert_array_equal(out["gt_bboxes"], boxes)
    np.testing.assert_array_equal(out["gt_labels"], np.arange(4))
    assert "geometric_transforms" not in out


# -- geometric transforms: boxes as corner keypoints ----------------------------------------------


@pytest.mark.parametrize("version", ["oc", "le135", "le90"])
def test_a_flip_moves_boxes_as_rresize_flip_does(albu, version):
    r = sample(version)
    ours = Albu([dict(type="HorizontalFlip", p=1.0)], version=version)(dict(r))
    ref = RRandomFlip(1.0, "horizontal", version=version)(dict(r))
    np.testing.assert_array_equal(ours["img"], ref["img"])
    np.testing.assert_allclose(ours["gt_bboxes"], ref["gt_bboxes"], atol=1e-4)
    assert ours["gt_bboxes"].dtype == np.float32 and ours["geometric_transforms"] == ("Albu",)
    assert "keypoints" in albu.calls[-1]


def _boxes_follow_pixels(albu_transforms, version, min_iou, **kwargs):
    """The rasterised boxes, carried as an extra image field, cover the raster of the moved boxes."""
    r = sample(version)
    r["mask"] = rasterise(r["gt_bboxes"], r["img"].shape[:2])[..., None].repeat(3, axis=2)
    r["img_fields"] = ["img", "mask"]
    out = Albu(albu_transforms, version=version, **kwargs)(r)
    assert out["img"].shape == out["mask"].shape and out["img_shape"] == out["img"].shape
    warped = out["mask"][..., 0] > 127
    drawn = rasterise(out["gt_bboxes"], out["img"].shape[:2]) > 0
    iou = (warped & drawn).sum() / (warped | drawn).sum()
    assert iou >= min_iou, f"{albu_transforms}: raster IoU {iou:.4f} < {min_iou}"
    assert np.asarray(rg.in_range(out["gt_bboxes"], version)).all()
    return out


GEOMETRIC = [
    ("flip", [dict(type="HorizontalFlip", p=1.0)], 0.999),
    ("transpose", [dict(type="Transpose", p=1.0)], 0.999),
    ("rotate-30", [dict(type="Rotate", limit=(30, 30), border_mode=cv2.BORDER_CONSTANT, p=1.0)], 0.985),
    ("crop", [dict(type="Crop", x_min=37, y_min=21, x_max=380, y_max=290)], 0.999),
    ("one-of-then-rotate", [dict(type="OneOf", transforms=[dict(type="Transpose", p=1.0)], p=1.0),
                            dict(type="Rotate", limit=(-65, -65), border_mode=cv2.BORDER_CONSTANT, p=1.0)], 0.985),
]  # fmt: skip


@pytest.mark.parametrize("version", ["oc", "le135", "le90"])
@pytest.mark.parametrize(("name", "transforms", "min_iou"), GEOMETRIC, ids=[g[0] for g in GEOMETRIC])
def test_boxes_follow_pixels(albu, name, transforms, min_iou, version):
    out = _boxes_follow_pixels(transforms, version, min_iou)
    assert len(out["gt_bboxes"]) == 4


def test_the_half_pixel_matters(albu, monkeypatch):
    """Without the shift into albumentations' pixel-index frame a flip is one pixel off (the raster check sees it)."""
    import rdet_data.transforms.albu as mod

    _boxes_follow_pixels([dict(type="HorizontalFlip", p=1.0)], "le90", 0.999)
    monkeypatch.setattr(mod, "_PIXEL_INDEX_OFFSET", 0.0)
    with pytest.raises(AssertionError, match="raster IoU"):
        _boxes_follow_pixels([dict(type="HorizontalFlip", p=1.0)], "le90", 0.99)


def test_boxes_that_leave_the_image_are_dropped_with_their_labels(albu):
    r = sample()
    r["gt_difficult"] = np.array([0, 1, 0, 1])
    crop = [dict(type="Crop", x_min=0, y_min=0, x_max=130, y_max=100)]  # box 0 inside, the others out
    out = Albu(crop, version="le90", bbox_params=dict(type="BboxParams", format="pascal_voc", label_fields=["gt_difficult"],
                                                      filter_lost_elements=True))(dict(r))  # fmt: skip
    assert out["gt_labels"].tolist() == [0] and out["gt_difficult"].tolist() == [0]
    np.testing.assert_allclose(out["gt_bboxes"][0, :2], [80, 60], atol=1e-4)
    assert out["img_shape"] == (100, 130, 3) and "pad_shape" not in out  # update_pad_shape=False
    # box 0 (60 x 30 at x 50..110) with a crop at x = 95: a quarter visible
    part = [dict(type="Crop", x_min=95, y_min=0, x_max=400, y_max=300)]
    kept = Albu(part, version="le90", update_pad_shape=True)(dict(r))
    assert 0 in kept["gt_labels"].tolist() and kept["pad_shape"] == kept["img"].shape
    strict = Albu(part, version="le90", bbox_params=dict(min_visibility=0.3))(dict(r))
    assert 0 not in strict["gt_labels"].tolist() and len(strict["gt_labels"]) == len(strict["gt_bboxes"])
    by_area = Albu(part, version="le90", bbox_params=dict(min_area=15 * 30 + 1))(dict(r))
    assert 0 not in by_area["gt_labels"].tolist()


def test_skip_img_without_anno(albu):
    nothing = [dict(type="Crop", x_min=0, y_min=0, x_max=10, y_max=10)]
    assert Albu(nothing, version="le90", skip_img_without_anno=True)(sample()) is None
    out = Albu(nothing, version="le90")(sample())
    assert out["gt_bboxes"].shape == (0, 5) and out["gt_labels"].shape == (0,)


def test_ignored_boxes_move_too(albu):
    r = sample()
    r["gt_bboxes_ignore"] = r["gt_bboxes"][:2].copy()
    r["bbox_fields"] = ["gt_bboxes", "gt_bboxes_ignore"]
    out = Albu([dict(type="HorizontalFlip", p=1.0)], version="le90")(r)
    np.testing.assert_allclose(out["gt_bboxes_ignore"], out["gt_bboxes"][:2], atol=1e-5)


def test_a_geometric_albu_marks_the_results(albu):
    pipeline = Compose(
        [
            dict(type="Albu", transforms=[dict(type="HorizontalFlip", p=1.0)], version="le90"),
            dict(type="LoadAnnotations"),
        ]
    )
    r = sample()
    del r["gt_bboxes"], r["gt_labels"]
    r["ann_info"] = {"bboxes": BOXES.astype(np.float32), "labels": np.arange(4)}
    r["bbox_fields"] = []
    with pytest.raises(ValueError, match="LoadAnnotations must come before Albu"):
        pipeline(r)


# -- transforms that cannot carry the boxes -------------------------------------------------------


def test_a_transform_without_keypoints_is_an_error_naming_it(albu):
    with pytest.raises(ValueError, match="Albu: MaskShuffle cannot move keypoints"):
        Albu([dict(type="MaskShuffle", p=1.0)], version="le90")(sample())
    with pytest.raises(
        NotImplementedError, match="Albu: .*not implemented in class CoarseWarp.*corner keypoints"
    ):
        Albu([dict(type="CoarseWarp", p=1.0)], version="le90")(sample())
    # without boxes there is nothing to leave behind
    r = sample()
    r["bbox_fields"] = []
    del r["gt_bboxes"]
    assert Albu([dict(type="MaskShuffle", p=1.0)], version="le90")(r)["img"].shape == (300, 400, 3)


# -- arguments ------------------------------------------------------------------------------------


def test_bad_arguments_are_named(albu):
    with pytest.raises(ValueError, match=r"no transform 'HorizontalFlp'; did you mean 'HorizontalFlip'"):
        Albu([dict(type="HorizontalFlp")])
    with pytest.raises(TypeError, match="Albu: HorizontalFlip: .*unexpected keyword argument 'prob'"):
        TRANSFORMS.build(dict(type="Albu", transforms=[dict(type="HorizontalFlip", prob=0.5)]))
    with pytest.raises(TypeError, match=r"Albu: .*unexpected keyword argument 'transfroms'"):
        TRANSFORMS.build(dict(type="Albu", transfroms=[]))
    with pytest.raises(ValueError, match=r"bbox_params \['min_width'\] do not apply to rotated boxes"):
        Albu([dict(type="HorizontalFlip")], bbox_params=dict(format="pascal_voc", min_width=3))
    with pytest.raises(ValueError, match="bbox_params min_visibility must be in"):
        Albu([dict(type="HorizontalFlip")], bbox_params=dict(min_visibility=2))
    with pytest.raises(ValueError, match="exactly one key to 'image'"):
        Albu([dict(type="HorizontalFlip")], keymap={"gt_bboxes": "bboxes"})
    with pytest.raises(ValueError, match="'keypoints', which carries"):
        Albu([dict(type="HorizontalFlip")], keymap={"img": "image", "points": "keypoints"})
    with pytest.raises(ValueError, match="each transform must be a dict with a 'type'"):
        Albu([dict(p=1.0)])
    with pytest.raises(ValueError, match="version"):
        Albu([dict(type="HorizontalFlip")], version="le45")


def test_mmdetections_config_builds(albu):
    """MMDetection's albu example, with the photometric and geometric parts it uses."""
    cfg = dict(
        type="Albu",
        transforms=[dict(type="Rotate", limit=10, p=0.5), dict(type="AddConstant", value=3, p=0.2),
                    dict(type="ChannelShuffle", p=0.1),
                    dict(type="OneOf", transforms=[dict(type="AddConstant", value=1, p=1.0)], p=0.1)],
        bbox_params=dict(type="BboxParams", format="pascal_voc", label_fields=["gt_labels"], min_visibility=0.0,
                         filter_lost_elements=True),
        keymap={"img": "image", "gt_masks": "masks", "gt_bboxes": "bboxes"},
        update_pad_shape=False,
        skip_img_without_anno=True,
        version="le90",
    )  # fmt: skip
    pipeline = Compose([cfg])
    t = pipeline.transforms[0]
    assert [type(g).__name__ for g in t.geometric] == ["Rotate"] and cfg["transforms"][0] == dict(
        type="Rotate", limit=10, p=0.5
    )
    np.random.seed(1)
    for _ in range(5):
        out = pipeline(sample())
        assert out is None or len(out["gt_bboxes"]) == len(out["gt_labels"])
    assert "Albu(transforms=[{'type': 'Rotate'" in repr(t)


def test_extra_keymap_entries_go_through_and_back(albu):
    r = sample()
    r["seg"] = np.arange(300 * 400, dtype=np.int32).reshape(300, 400)
    out = Albu([dict(type="HorizontalFlip", p=1.0)], keymap={"img": "image", "seg": "mask"}, version="le90")(
        r
    )
    assert albu.calls[-1] == ["image", "keypoints", "mask"]
    np.testing.assert_array_equal(out["seg"], np.arange(300 * 400).reshape(300, 400)[:, ::-1])


# -- randomness, copies ---------------------------------------------------------------------------


@pytest.mark.parametrize("own_rng", [False, True], ids=["albumentations-1.x", "own-generator"])
def test_a_numpy_seed_repeats_the_draws(monkeypatch, own_rng):
    monkeypatch.setitem(sys.modules, "albumentations", make_albumentations(own_rng=own_rng))
    t = Albu([dict(type="Rotate", limit=45, border_mode=cv2.BORDER_CONSTANT, p=0.7), dict(type="ChannelShuffle", p=0.5)],
             version="le90")  # fmt: skip

    def run(seed):
        np.random.seed(seed)
        return [t(sample()) for _ in range(3)]

    a, b, c = run(5), run(5), run(6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["img"], y["img"])
        np.testing.assert_array_equal(x["gt_bboxes"], y["gt_bboxes"])
    assert any(not np.array_equal(x["img"], z["img"]) for x, z in zip(a, c))


def test_albu_copies_and_pickles_without_the_module(albu):
    t = Albu([dict(type="HorizontalFlip", p=1.0)], version="le90")
    t(sample())
    clone = copy.deepcopy(t)
    np.testing.assert_allclose(clone(sample())["gt_bboxes"], t(sample())["gt_bboxes"])
    assert not any(isinstance(v, types.ModuleType) for v in vars(t).values())


def test_boxes_stay_rectangles_of_the_right_size(albu):
    """A rotation keeps each box's size; its angle turns by the rotation (CCW on screen)."""
    r = sample("le90")
    out = Albu([dict(type="Rotate", limit=(20, 20), border_mode=cv2.BORDER_CONSTANT, p=1.0)], version="le90")(
        dict(r)
    )
    old = np.asarray(r["gt_bboxes"], np.float64)
    new = out["gt_bboxes"].astype(np.float64)
    np.testing.assert_allclose(np.sort(new[:, 2:4], 1), np.sort(old[:, 2:4], 1), rtol=1e-5)
    turned = np.asarray(
        rg.regularize(np.concatenate([new[:, :4], old[:, 4:5] - math.radians(20)], 1), "le90")
    )
    np.testing.assert_allclose(turned, new, atol=1e-4)


def test_a_geometric_albu_needs_the_angle_version(albu):
    """Its default used to be 'oc': in a le90 pipeline the moved boxes came back as 'oc' boxes."""
    with pytest.raises(ValueError, match=r"Albu: HorizontalFlip move\(s\) the boxes.*give version="):
        Albu([dict(type="HorizontalFlip", p=1.0)])
    Albu([dict(type="ChannelShuffle", p=1.0)])  # photometric only: no version needed

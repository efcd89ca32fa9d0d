"""The dataset contract: ``DetSample``, ``DetSample.from_mapping`` (MMRotate's Collect dict) and
``InvalidSampleError`` naming the field, the item and its file. numpy only (torch where marked)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rdet_core.structures import SAMPLE_CONTRACT, DetSample, GroundTruth, ImageMeta, InvalidSampleError

SRC = "collate: item 3 (ToyDataset)"


def _meta(filename: str | None = "P0001.png", shape: tuple[int, int, int] = (8, 10, 3)) -> ImageMeta:
    return ImageMeta(filename, shape, shape)


def _collect(**overrides: object) -> dict:
    """A Collect dict as a numpy pipeline without DefaultFormatBundle leaves it: img (H, W, C)."""
    d = {
        "img": np.zeros((8, 10, 3), np.uint8),
        "img_metas": _meta(),
        "gt_bboxes": np.array([[4, 3, 4, 2, 0.1], [6, 5, 3, 1, -1.2]], np.float32),
        "gt_labels": np.array([0, 2]),
    }
    d.update(overrides)
    return {k: v for k, v in d.items() if v is not None}


def test_import_does_not_need_torch():
    code = "import sys, rdet_core.structures as s; s.DetSample; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_detsample_is_the_contract():
    gt = GroundTruth(np.zeros((2, 5), np.float32), np.array([0, 1]))
    s = DetSample(np.zeros((3, 8, 10), np.float32), _meta(None), gt)
    assert s.gt is gt and s.meta.filename is None
    assert DetSample(np.zeros((3, 8, 10), np.float32), _meta()).gt is None  # test time
    assert "DetSample" in SAMPLE_CONTRACT and "img_metas" in SAMPLE_CONTRACT


def test_from_mapping_numpy_collect_dict():
    s = DetSample.from_mapping(_collect(), SRC)
    assert s.image.shape == (3, 8, 10)  # numpy (H, W, C) -> a (C, H, W) view
    assert s.gt.boxes.shape == (2, 5) and s.gt.labels.tolist() == [0, 2]
    assert s.gt.boxes_ignore.shape == (0, 5) and s.gt.labels_ignore.shape == (0,)
    test = DetSample.from_mapping(_collect(gt_bboxes=None, gt_labels=None), SRC)
    assert test.gt is None
    ign = DetSample.from_mapping(_collect(gt_bboxes_ignore=np.ones((1, 5), np.float32)), SRC)
    assert ign.gt.labels_ignore.tolist() == [-1]  # MMRotate loads no classes of ignored boxes
    empty = DetSample.from_mapping(_collect(gt_bboxes=np.zeros((0,)), gt_labels=np.zeros((0,))), SRC)
    assert empty.gt.boxes.shape == (0, 5) and len(empty.gt) == 0
    floats = DetSample.from_mapping(_collect(gt_labels=np.array([1.0, 0.0])), SRC)
    assert floats.gt.labels.tolist() == [1.0, 0.0]  # whole numbers pass; collate makes them int64


def test_from_mapping_torch_collect_dict():
    torch = pytest.importorskip("torch")
    d = {
        "img": torch.zeros(3, 8, 10),  # DefaultFormatBundle: (C, H, W)
        "img_metas": _meta(),
        "gt_bboxes": torch.zeros(2, 5),
        "gt_labels": torch.tensor([1, 0]),
        "gt_bboxes_ignore": torch.zeros(3, 5),
    }
    s = DetSample.from_mapping(d, SRC)
    assert s.image is d["img"] and s.gt.boxes is d["gt_bboxes"]
    assert s.gt.labels_ignore.tolist() == [-1, -1, -1] and s.gt.labels_ignore.dtype == torch.int64
    with pytest.raises(InvalidSampleError, match=r"'img' must be 3-D \(C, H, W\), got shape \(8, 10\)"):
        DetSample.from_mapping(dict(d, img=torch.zeros(8, 10)), SRC)


# (overrides, regex of the message after the item's name and file)
BAD = [
    (dict(img_metas=None), r"^collate: item 3 \(ToyDataset\) has no 'img_metas': a dataset's __getitem__ must"),
    (dict(img=None), r"^collate: item 3 \(ToyDataset\), file P0001.png has no 'img': .*DetSample"),
    (dict(gt_labels=None), r"file P0001.png has 'gt_bboxes' but no 'gt_labels'"),
    (dict(gt_bboxes=None), r"file P0001.png has 'gt_labels' but no 'gt_bboxes'"),
    (dict(gt_bboxes=np.zeros((2, 4))), r"'gt_bboxes' must have shape \(K, 5\).*got \(2, 4\): horizontal"),
    (dict(gt_bboxes=np.zeros((2, 8))), r"'gt_bboxes' must have shape \(K, 5\).*got \(2, 8\): polygons.*poly2obb"),
    (dict(gt_bboxes=np.zeros(5)), r"'gt_bboxes' must have shape \(K, 5\).*got \(5,\)"),
    (dict(gt_labels=np.array([0])), r"'gt_labels' must have shape \(2,\), one class index per box, got \(1,\)"),
    (dict(gt_labels=np.array([0, -1])), r"'gt_labels' must be >= 0"),
    (dict(gt_labels=np.array([0.5, 1.0])), r"'gt_labels' must be whole class indices, got \[0.5\]"),
    (dict(gt_labels=np.array(["a", "b"])), r"'gt_labels' must be integer class indices"),
    (dict(gt_bboxes_ignore=np.zeros((1, 4))), r"'gt_bboxes_ignore' must have shape \(K, 5\)"),
    (dict(gt_bboxes_ignore=np.zeros((1, 5)), gt_labels_ignore=np.zeros(2)), r"'gt_labels_ignore' must have shape \(1,\)"),
    (dict(img=np.zeros((8, 10))), r"file P0001.png: 'img' must be 3-D: a numpy img is \(H, W, C\)"),
    (dict(img=np.zeros((3, 8, 10))), r"'img' of shape \(3, 8, 10\) looks like \(C, H, W\)"),
    (dict(img=np.zeros((0, 10, 3))), r"'img' is empty"),
    (dict(img=[[0, 1]]), r"'img' must be a numpy array or torch tensor \(C, H, W\), got list"),
    (dict(img=np.zeros((8, 10, 3), object)), r"'img' must hold numbers"),
    (dict(img_metas={"filename": "a.png", "ori_shape": (8, 10, 3)}),
     r"file a.png: 'img_metas' is a dict, not an rdet_core.structures.ImageMeta: end the pipeline with Collect"),
    (dict(img_metas=[_meta(), _meta()]), r"'img_metas' is a list \(one meta per augmentation"),
    (dict(img_metas="a.png"), r"'img_metas' must be an rdet_core.structures.ImageMeta, got str"),
    (dict(gt_bboxes=None, gt_labels=None, gt_bboxes_ignore=np.zeros((1, 5))), r"has 'gt_bboxes_ignore' but no 'gt_bboxes'"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_from_mapping_names_the_wrong_field(overrides, message):
    d = _collect()
    for key, value in overrides.items():
        if value is None:
            d.pop(key, None)
        else:
            d[key] = value
    with pytest.raises(InvalidSampleError, match=message):
        DetSample.from_mapping(d, SRC)


def test_not_a_mapping():
    with pytest.raises(InvalidSampleError, match=r"^sample is a tuple: a dataset's __getitem__ must return"):
        DetSample.from_mapping((np.zeros((8, 10, 3)), {}))  # type: ignore[arg-type]


def test_errors_are_value_errors_never_key_errors():
    with pytest.raises(ValueError) as info:
        DetSample.from_mapping({"img": np.zeros((8, 10, 3))}, SRC)
    assert not isinstance(info.value, KeyError)


def test_detsample_checks_its_fields():
    img = np.zeros((3, 8, 10), np.float32)
    with pytest.raises(InvalidSampleError, match=r"DetSample: meta is a dict, not an rdet_core"):
        DetSample(img, {"filename": None})  # type: ignore[arg-type]
    with pytest.raises(
        InvalidSampleError,
        match=r"DetSample, file P0001.png: image has shape \(8, 10, 3\), which looks like \(H, W, C\)",
    ):
        DetSample(np.zeros((8, 10, 3)), _meta())
    with pytest.raises(
        InvalidSampleError, match=r"gt must be an rdet_core.structures.GroundTruth or None, got dict"
    ):
        DetSample(img, _meta(), {"boxes": np.zeros((0, 5))})  # type: ignore[arg-type]
    with pytest.raises(InvalidSampleError, match=r"gt.labels must be >= 0"):
        DetSample(img, _meta(), GroundTruth(np.zeros((1, 5)), np.array([-2])))
    s = DetSample(img, _meta())
    s.image = np.zeros((8, 10))  # reassigned after construction: validate() sees it
    with pytest.raises(
        InvalidSampleError, match=r"^collate: item 3 \(ToyDataset\), file P0001.png: image must be 3-D"
    ):
        s.validate(SRC)

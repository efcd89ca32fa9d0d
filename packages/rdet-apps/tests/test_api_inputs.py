"""Bad input to the inference API, the model config's test settings, ``evaluate``'s ``iou_thr``
and ``rdet serve`` is a clear error naming it, raised before work is done; valid input works."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from rdet_apps.apis import inference_detector, init_detector, predict_images
from rdet_apps.commands.demo import CONFIG
from rdet_apps.engine.config_checks import check_model_config
from rdet_core import Config
from rdet_core.structures import Detections


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return init_detector(CONFIG)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)


def _checkpoint(path: Path, model: torch.nn.Module, classes: Any) -> Path:
    torch.save({"meta": {"CLASSES": classes}, "state_dict": model.state_dict()}, path)
    return path


# -- 1. checkpoint CLASSES against the head's num_classes ---------------------------------------


@pytest.mark.parametrize(
    ("classes", "match"),
    [
        (
            ("a", "b", "c", "d", "e"),
            r"ck\.pth.*CLASSES has 5 names \('a', 'b', 'c', 'd', 'e'\).*num_classes 3",
        ),
        (("a",), r"CLASSES has 1 names \('a'\).*num_classes 3"),
        ("abc", r"CLASSES 'abc': must be a list or tuple of class names"),
        ((1, 2, 3), r"CLASSES \(1, 2, 3\): must be a list or tuple of class names"),
    ],
)
def test_checkpoint_classes_must_fit_the_head(
    model: torch.nn.Module, tmp_path: Path, classes: Any, match: str
) -> None:
    ckpt = _checkpoint(tmp_path / "ck.pth", model, classes)
    with pytest.raises(ValueError, match=match):
        init_detector(CONFIG, ckpt)


def test_checkpoint_classes_that_fit_are_kept(model: torch.nn.Module, tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "ck.pth", model, ["x", "y", "z"])
    assert tuple(init_detector(CONFIG, ckpt).CLASSES) == ("x", "y", "z")


@pytest.mark.parametrize("with_checkpoint", [False, True])
def test_config_classes_must_fit_the_head_without_checkpoint_classes(
    model: torch.nn.Module, tmp_path: Path, with_checkpoint: bool
) -> None:
    """No checkpoint, or one without meta CLASSES: the config's test-set classes name the
    labels, so they must be one per class of the head (3 here; DOTA's 15 names would label
    class 2's detections 'bridge')."""
    ckpt = None
    if with_checkpoint:
        ckpt = tmp_path / "bare.pth"
        torch.save({"state_dict": model.state_dict()}, ckpt)
    options = {"data.test.classes": None, "data.test.type": "DOTADataset"}
    with pytest.raises(ValueError, match=r"data\.test classes have 15 names \('plane', .*num_classes 3"):
        init_detector(CONFIG, ckpt, cfg_options=options)
    assert tuple(init_detector(CONFIG, ckpt).CLASSES) == ("plane", "ship", "storage-tank")


def test_config_classes_from_a_file_name_the_model_classes(tmp_path: Path) -> None:
    """``data.test.classes`` naming a file of class names (one a line, as the dataset reads it):
    its names are the model's, checked against num_classes; a missing file is named."""
    names = tmp_path / "classes.txt"
    names.write_text("car\ntruck\nbus\n")
    model = init_detector(CONFIG, cfg_options={"data.test.classes": str(names)})
    assert tuple(model.CLASSES) == ("car", "truck", "bus")
    names.write_text("car\ntruck\n")
    with pytest.raises(ValueError, match=r"data\.test classes have 2 names \('car', 'truck'\)"):
        init_detector(CONFIG, cfg_options={"data.test.classes": str(names)})
    with pytest.raises(FileNotFoundError, match=r"nothere\.txt"):
        init_detector(CONFIG, cfg_options={"data.test.classes": str(tmp_path / "nothere.txt")})


# -- 2. image arrays -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((64, 64, 3), np.uint16), r"imgs \(shape \(64, 64, 3\), dtype uint16\): .*uint8"),
        (np.full((64, 64, 3), np.nan, np.float32), r"dtype float32\): must be a BGR HxWx3 uint8"),
        (np.zeros((64, 64, 3), bool), r"dtype bool\)"),
        (np.zeros((64, 64, 3), np.int8), r"dtype int8\)"),
        (np.array([[1, 2]], dtype=object), r"dtype object\)"),
        (np.zeros((1, 64, 64, 3), np.uint8), r"shape \(1, 64, 64, 3\).*HxWx3"),
        (np.zeros((0, 5, 3), np.uint8), r"shape \(0, 5, 3\).*empty"),
        (np.zeros((64, 64, 4), np.uint8), r"shape \(64, 64, 4\)"),
        (np.zeros((64, 64), np.uint8), r"shape \(64, 64\).*grey images are not supported.*COLOR_GRAY2BGR"),
    ],
)
def test_bad_arrays_name_the_image(model: torch.nn.Module, array: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        inference_detector(model, array)


def test_a_bad_array_in_a_list_is_named_by_its_index(model: torch.nn.Module, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"imgs\[1\] \(shape \(96, 128, 3\), dtype float32\)"):
        predict_images(model, [image, image.astype(np.float32)])
    with pytest.raises(TypeError, match=r"imgs\[0\]: an image is a file path or a numpy array, got int"):
        predict_images(model, [1])


def test_fortran_order_and_strided_arrays_give_the_c_order_detections(
    model: torch.nn.Module, image: np.ndarray
) -> None:
    expected = predict_images(model, image)[0]
    for variant in (np.asfortranarray(image), image[:, ::-1][:, ::-1]):
        got = predict_images(model, variant)[0]
        np.testing.assert_allclose(got.boxes, expected.boxes, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5, atol=1e-6)


# -- 3. model.test_cfg values --------------------------------------------------------------------


def _model_cfg() -> Any:
    return copy.deepcopy(Config.fromfile(CONFIG).model)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("score_thr", 2.0, r"model\.test_cfg\.score_thr 2\.0: must be a number in \[0, 1\]"),
        ("score_thr", -1, r"model\.test_cfg\.score_thr -1"),
        ("score_thr", "abc", r"model\.test_cfg\.score_thr 'abc'"),
        ("score_thr", float("nan"), r"model\.test_cfg\.score_thr nan"),
        ("max_per_img", "abc", r"model\.test_cfg\.max_per_img 'abc': must be an integer >= -1"),
        ("max_per_img", 2.5, r"model\.test_cfg\.max_per_img 2\.5"),
        ("nms_pre", -2, r"model\.test_cfg\.nms_pre -2: must be an integer >= -1"),
        ("min_bbox_size", -1, r"model\.test_cfg\.min_bbox_size -1"),
    ],
)
def test_bad_test_cfg_values_name_the_key(key: str, value: Any, match: str) -> None:
    cfg = _model_cfg()
    cfg.test_cfg[key] = value
    with pytest.raises(ValueError, match=match):
        check_model_config(cfg)


@pytest.mark.parametrize("value", [5, 0, -0.1, "0.1"])
def test_bad_nms_iou_thr_names_the_key(value: Any) -> None:
    cfg = _model_cfg()
    cfg.test_cfg.nms.iou_thr = value
    with pytest.raises(ValueError, match=r"model\.test_cfg\.nms\.iou_thr .*: must be a number in \(0, 1\]"):
        check_model_config(cfg)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("max_num", "100", r"nms\.max_num '100': must be an integer >= -1"),
        ("max_num", -5, r"nms\.max_num -5"),
        ("split_thr", -1, r"nms\.split_thr -1: must be a number >= 0"),
        ("score_threshold", 2, r"nms\.score_threshold 2: must be a number in \[0, 1\]"),
        ("class_agnostic", "no", r"nms\.class_agnostic 'no': must be True or False"),
        ("offset", 2, r"nms\.offset 2: must be 0 or 1"),
    ],
)
def test_bad_nms_settings_name_the_key(key: str, value: Any, match: str) -> None:
    """The rest of an ``nms`` dict (mmcv's batched_nms keys) is value-checked too; MMRotate's
    and MMDetection's own values pass."""
    cfg = _model_cfg()
    cfg.test_cfg.nms[key] = value
    with pytest.raises(ValueError, match=r"model\.test_cfg\." + match):
        check_model_config(cfg)
    cfg.test_cfg.nms.update(
        max_num=2000, split_thr=10000, score_threshold=0.05, class_agnostic=True, offset=0
    )
    check_model_config(cfg)


def test_two_stage_test_cfg_values_are_checked() -> None:
    rpn = dict(nms_pre=2000, max_per_img=2000, nms=dict(type="nms", iou_threshold=0.8), min_bbox_size=0)
    rcnn = dict(nms_pre=2000, min_bbox_size=0, score_thr=0.05, nms=dict(iou_thr=0.1), max_per_img=2000)
    check_model_config(dict(test_cfg=dict(rpn=rpn, rcnn=rcnn), train_cfg=dict(rpn_proposal=rpn)))
    with pytest.raises(ValueError, match=r"model\.test_cfg\.rpn\.nms\.iou_threshold 1\.5"):
        check_model_config(dict(test_cfg=dict(rpn=dict(rpn, nms=dict(type="nms", iou_threshold=1.5)))))
    with pytest.raises(ValueError, match=r"model\.test_cfg\.rpn\.max_per_img -1: must be a positive integer"):
        check_model_config(dict(test_cfg=dict(rpn=dict(rpn, max_per_img=-1))))
    with pytest.raises(ValueError, match=r"model\.train_cfg\.rpn_proposal\.max_per_img 0"):
        check_model_config(dict(train_cfg=dict(rpn_proposal=dict(rpn, max_per_img=0))))
    with pytest.raises(ValueError, match=r"model\.test_cfg\.rcnn\.score_thr 1\.5"):
        check_model_config(dict(test_cfg=dict(rcnn=dict(rcnn, score_thr=1.5))))


def test_bad_test_cfg_fails_init_detector_and_valid_edge_values_pass() -> None:
    with pytest.raises(ValueError, match=r"model\.test_cfg\.score_thr 2\.0"):
        init_detector(CONFIG, cfg_options={"model.test_cfg.score_thr": 2.0})
    cfg = _model_cfg()
    cfg.test_cfg.update(score_thr=0, max_per_img=-1, nms_pre=-1)
    cfg.test_cfg.nms.iou_thr = 1
    check_model_config(cfg)
    check_model_config(_model_cfg())


# -- 4. evaluate's iou_thr -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iou_thr", "match"),
    [
        ("abc", r"iou_thr 'abc': must be a number in \(0, 1\] or a list of them"),
        ([], r"iou_thr \[\]: give at least one threshold"),
        ([0.5, "x"], r"iou_thr \[0\.5, 'x'\]: 'x' is not a number in \(0, 1\]"),
        (1.5, r"iou_thr 1\.5"),
        (None, r"iou_thr None"),
    ],
)
def test_evaluate_iou_thr_must_be_numbers(iou_thr: Any, match: str) -> None:
    from rdet_data.datasets.base import RotatedDataset

    with pytest.raises(ValueError, match=match):  # before the dataset is looked at
        RotatedDataset.evaluate(object(), [], iou_thr=iou_thr)  # type: ignore[arg-type]


def test_evaluate_takes_a_number_or_a_list() -> None:
    from rdet_data.datasets.base import _iou_thrs

    assert _iou_thrs(0.5) == [0.5]
    assert _iou_thrs((0.5, np.float64(0.75))) == [0.5, 0.75]


# -- 5. a test pipeline without a load step ------------------------------------------------------


def test_test_pipeline_must_start_with_a_load_step(image: np.ndarray) -> None:
    cfg = Config.fromfile(CONFIG)
    cfg.data.test.pipeline = cfg.data.test.pipeline[1:]
    model = init_detector(cfg)
    with pytest.raises(
        ValueError, match=r"data\.test\.pipeline\[0\] is 'MultiScaleFlipAug'.*LoadImageFromFile"
    ):
        inference_detector(model, image)


# -- 6. rdet serve: an image the model cannot take is the client's error ------------------------


class _Refuser:
    """Refuses (``ImageRejectedError``) every image of height 2; records each batch's heights."""

    classes = ("a",)

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        from rdet_apps.serve import ImageRejectedError

        heights = [int(img.shape[0]) for img in images]
        self.batches.append(heights)
        if 2 in heights:
            raise ImageRejectedError(heights.index(2), "too flat")
        z = np.zeros(0, np.float32)
        return [Detections(np.zeros((0, 5), np.float32), z, z.astype(np.int64)) for _ in images]


def test_batcher_fails_only_the_refused_image() -> None:
    from rdet_apps.serve import ImageRejectedError, MicroBatcher

    predictor = _Refuser()
    batcher = MicroBatcher(predictor.predict, max_batch_size=3, max_wait_ms=200)
    batcher.start()
    try:
        futures = [batcher.submit(np.zeros((h, 4, 3), np.uint8)) for h in (4, 2, 6)]
        with pytest.raises(ImageRejectedError, match="too flat"):
            futures[1].result(timeout=10)
        assert len(futures[0].result(timeout=10)) == 0 and len(futures[2].result(timeout=10)) == 0
        stats = batcher.stats()
        assert stats["refused_images"] == 1 and stats["failed_batches"] == 0
    finally:
        batcher.stop()
    assert predictor.batches == [[4, 2, 6], [4, 6]]


def test_serve_answers_422_for_an_image_the_pipeline_refuses(model: torch.nn.Module) -> None:
    pytest.importorskip("httpx", reason="the test client needs httpx")
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient

    from rdet_apps.serve import TorchPredictor, create_app

    def png(a: np.ndarray) -> bytes:
        return cv2.imencode(".png", a)[1].tobytes()

    with TestClient(create_app(TorchPredictor(model), score_thr=0.0)) as client:
        post = {"headers": {"content-type": "image/png"}}
        flat = client.post("/predict", content=png(np.zeros((2, 5000, 3), np.uint8)), **post)
        assert flat.status_code == 422
        assert (
            "the model cannot take this image" in flat.json()["detail"] and "RResize" in flat.json()["detail"]
        )
        assert flat.json()["detail"].count("the image") == 1, flat.json()["detail"]  # said once
        ok = client.post("/predict", content=png(np.zeros((64, 64, 3), np.uint8)), **post)
        assert ok.status_code == 200 and "detections" in ok.json()
        assert client.get("/health").json()["batcher"]["failed_batches"] == 0

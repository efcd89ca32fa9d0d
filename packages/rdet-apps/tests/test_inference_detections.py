"""One inference path: ``predict_images`` / ``predict_by_patches`` give ``Detections``;
``inference_detector`` / ``inference_detector_by_patches`` are those, converted once to
MMRotate's per-class lists; testing, evaluation, submissions and pictures take either form
with identical results."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from rdet_apps.apis import (
    evaluate_results,
    inference_detector,
    inference_detector_by_patches,
    init_detector,
    predict_by_patches,
    predict_images,
    single_gpu_test,
    to_mmrotate_results,
)
from rdet_apps.apis.patches import patch_windows
from rdet_apps.commands.demo import CONFIG
from rdet_apps.commands.test import format_submission
from rdet_apps.demo_data import make_demo_dota
from rdet_apps.visualization import show_result
from rdet_core import Config
from rdet_core.structures import Detections, detections_to_result

# -- a real checkpoint: MMRotate's Rotated RetinaNet (golden/models) --------------------------


@pytest.fixture(scope="module")
def retina(shared_dir: Path) -> tuple[torch.nn.Module, Path]:
    models = shared_dir / "golden" / "mmrotate-0.3.4" / "models"
    configs = shared_dir / "configs" / "mmrotate-0.3.4"
    if not (models / "cases.json").is_file() or not configs.is_dir():
        pytest.skip("golden model cases or MMRotate configs absent")
    case = json.loads((models / "cases.json").read_text())["retinanet_obb_le90"]
    overrides = dict(case["overrides"])
    overrides["data.test.pipeline.1.img_scale"] = tuple(overrides["data.test.pipeline.1.img_scale"])
    model = init_detector(configs / case["config"], models / case["checkpoint"], cfg_options=overrides)
    return model, models / case["image"]


def test_inference_detector_is_predict_images_converted(retina):
    model, image = retina
    (dets,) = predict_images(model, str(image))
    assert isinstance(dets, Detections) and isinstance(dets.boxes, np.ndarray) and len(dets) > 0
    assert dets.boxes.dtype == np.float32 and dets.labels.dtype == np.int64
    result = inference_detector(model, str(image))
    expected = detections_to_result(dets, 15)
    assert len(result) == 15
    for a, b in zip(result, expected):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    # a list in, a list out; the typed form of a list is one Detections per image
    img = cv2.imread(str(image))
    two = predict_images(model, [img, str(image)])
    assert len(two) == 2 and predict_images(model, []) == [] and inference_detector(model, []) == []
    np.testing.assert_allclose(two[0].scores, two[1].scores, rtol=1e-5, atol=1e-5)


def test_predict_gives_what_the_mmdetection_forward_gave(retina):
    """The path inference_detector took before (``model(return_loss=False, ...)``, MMDetection's
    forward, which detectors keep as an adapter): the same numbers, bit for bit."""
    from rdet_apps.apis.inference import _image_batch

    model, image = retina
    batch = _image_batch(model, [str(image)])
    metas = [m.as_mmrotate() for m in batch.metas]
    with torch.no_grad():
        (old,) = model(return_loss=False, rescale=True, img=[batch.images], img_metas=[metas])
    for a, b in zip(inference_detector(model, str(image)), old):
        np.testing.assert_array_equal(a, b)


# -- huge images: a stand-in detector that sees objects near the patch borders -----------------


class BorderDetector(torch.nn.Module):
    """Per patch, boxes near its corners (so neighbouring patches see the same objects) with
    jittered positions, scores and classes from a seeded stream: a run is reproducible."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        cfg = Config.fromfile(CONFIG)
        self.cfg = cfg
        self.CLASSES = ("plane", "ship", "storage-tank")
        self.num_classes = 3
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def predict(self, batch, rescale: bool = True) -> list[Detections]:
        out = []
        for meta in batch.metas:
            h, w = meta.ori_shape[:2]
            centres = np.array([(x, y) for x in (30, w - 26) for y in (30, h - 26)], np.float32)
            centres = np.repeat(centres, 2, axis=0) + self.rng.normal(0, 1.0, (8, 2)).astype(np.float32)
            sizes = np.full((8, 2), 24, np.float32) + self.rng.uniform(-2, 2, (8, 2)).astype(np.float32)
            theta = self.rng.uniform(-0.2, 0.2, (8, 1)).astype(np.float32)
            boxes = np.concatenate([centres, sizes, theta], 1)
            scores = self.rng.uniform(0.05, 1.0, 8).astype(np.float32)
            labels = self.rng.integers(0, 3, 8)
            out.append(
                Detections(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels))
            )
        return out


def reference_by_patches(model, image, sizes, steps, ratios, thr, batch_size=4):
    """The per-class merge inference_detector_by_patches did before it worked on Detections."""
    from rbox_ops import nms_rotated

    height, width = image.shape[:2]
    per_class = None
    for ratio in ratios:
        scaled = image if ratio == 1 else cv2.resize(image, (round(width * ratio), round(height * ratio)))
        windows = patch_windows(scaled.shape[1], scaled.shape[0], sizes, steps)
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            patches = [np.ascontiguousarray(scaled[y0:y1, x0:x1]) for x0, y0, x1, y1 in chunk]
            for (x0, y0, _, _), result in zip(chunk, inference_detector(model, patches)):
                per_class = per_class or [[] for _ in result]
                for c, dets in enumerate(result):
                    if len(dets):
                        d = np.asarray(dets, np.float32).copy()
                        d[:, 0] += x0
                        d[:, 1] += y0
                        d[:, :4] /= ratio
                        per_class[c].append(d)
    merged = []
    for dets in per_class:
        if not dets:
            merged.append(np.zeros((0, 6), np.float32))
            continue
        d = torch.from_numpy(np.vstack(dets))
        merged.append(nms_rotated(d[:, :5], d[:, 5], thr)[0].numpy().astype(np.float32))
    return merged


@pytest.mark.parametrize("ratios", [(1.0,), (1.0, 0.5)])
def test_patches_on_detections_merge_as_the_per_class_path_did(ratios):
    model = BorderDetector()
    image = np.random.default_rng(0).integers(0, 255, (300, 470, 3), dtype=np.uint8)
    ref = reference_by_patches(model, image, [128], [100], ratios, 0.1)
    model.reset()
    dets = predict_by_patches(model, image, [128], [100], ratios, 0.1)
    model.reset()
    result = inference_detector_by_patches(model, image, [128], [100], ratios, 0.1)
    assert isinstance(dets, Detections) and len(dets) == sum(len(r) for r in ref) > 0
    assert np.all(np.diff(dets.scores) <= 0)  # kept in descending score order
    for c in range(3):
        np.testing.assert_array_equal(result[c], ref[c])
        np.testing.assert_array_equal(detections_to_result(dets, 3)[c], ref[c])
    # the merge removed the duplicates that neighbouring patches saw (about 28 windows x 8 boxes)
    model.reset()
    everything = predict_by_patches(model, image, [128], [100], ratios, 1.0)
    assert len(dets) < len(everything)


# -- testing, evaluation, submissions, pictures ------------------------------------------------


def random_detections(rng, dataset, num_classes: int = 3) -> list[Detections]:
    """Per image, its objects jittered (true positives) plus some noise, random classes."""
    out = []
    for i in range(len(dataset)):
        ann = dataset.get_ann_info(i)
        gt = np.asarray(ann["bboxes"], np.float32).reshape(-1, 5)
        hit = gt + rng.normal(0, 1.5, gt.shape).astype(np.float32) * [1, 1, 1, 1, 0.02]
        noise = np.c_[rng.uniform(0, 256, (3, 2)), rng.uniform(8, 40, (3, 2)), rng.uniform(-1, 1, 3)]
        boxes = np.vstack([hit, noise]).astype(np.float32)
        labels = np.r_[ann["labels"], rng.integers(0, num_classes, 3)].astype(np.int64)
        labels[rng.random(len(labels)) < 0.2] = rng.integers(0, num_classes)
        scores = rng.uniform(0.05, 1, len(boxes)).astype(np.float32)
        order = rng.permutation(len(boxes))  # classes interleaved, as a detector gives them
        out.append(Detections(boxes[order], scores[order], labels[order]))
    return out


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory):
    from rdet_data import build_dataset

    root = tmp_path_factory.mktemp("dets")
    s = make_demo_dota(root, num_images=12, size=256, seed=3)
    cfg = Config.fromfile(CONFIG)
    return build_dataset(
        {**dict(cfg.data.test), "ann_file": f"{s.labels}/", "img_prefix": f"{s.images}/", "test_mode": True}
    )


def test_evaluation_is_identical_for_detections_and_per_class_lists(demo_dataset):
    dets = random_detections(np.random.default_rng(0), demo_dataset)
    per_class = to_mmrotate_results(dets, 3)
    assert to_mmrotate_results(per_class, 3) == per_class  # MMRotate's format passes through
    for cfg in ({"logger": "silent"}, {"logger": "silent", "iou_thr": [0.5, 0.75], "use_07_metric": False}):
        typed = evaluate_results(demo_dataset, dets, cfg)
        assert typed == evaluate_results(demo_dataset, per_class, cfg) and 0 < typed["mAP"] < 1

    class MMRotateStyle:  # a dataset whose evaluate reads per-class lists itself
        CLASSES = demo_dataset.CLASSES

        def evaluate(self, results, scorer, **kwargs):
            assert all(isinstance(r, list) and len(r) == 3 for r in results)
            anns = [demo_dataset.get_ann_info(i) for i in range(len(demo_dataset))]
            return {"mAP": scorer(results, anns, dataset=self.CLASSES, **kwargs)[0]}

    other = evaluate_results(MMRotateStyle(), dets, {"logger": "silent", "interval": 1})
    assert other["mAP"] == evaluate_results(demo_dataset, dets, {"logger": "silent"})["mAP"]
    bad = [*dets[:-1], Detections(dets[-1].boxes, dets[-1].scores, np.full(len(dets[-1]), 3))]
    with pytest.raises(ValueError, match=r"det_results\[11\] has label 3, but there are 3 classes"):
        evaluate_results(demo_dataset, bad, {"logger": "silent"})


def test_single_gpu_test_collects_numpy_detections(demo_dataset, tmp_path):
    from rdet_data import build_dataloader

    model = BorderDetector()
    loader = build_dataloader(demo_dataset, samples_per_gpu=4, workers_per_gpu=0, dist=False, shuffle=False)
    results = single_gpu_test(model, loader, show_dir=tmp_path / "show", progress=False)
    assert len(results) == len(demo_dataset) and all(isinstance(r, Detections) for r in results)
    assert all(isinstance(r.boxes, np.ndarray) and len(r) == 8 for r in results)
    assert len(list((tmp_path / "show").glob("*.png"))) == len(demo_dataset)
    assert "mAP" in evaluate_results(demo_dataset, results, {"logger": "silent"})


def test_show_dir_keeps_a_picture_per_image_when_two_folders_share_file_names(demo_dataset, tmp_path):
    """Two test sets whose images have the same file names (a ConcatDataset of two folders):
    each image gets its own picture, the second set's prefixed with its folder's name (the
    second set's pictures used to overwrite the first's)."""
    from rdet_data import build_dataloader, build_dataset

    other = make_demo_dota(tmp_path / "other", num_images=12, size=256, seed=3)
    cfg = Config.fromfile(CONFIG)
    second = build_dataset(
        {
            **dict(cfg.data.test),
            "ann_file": f"{other.labels}/",
            "img_prefix": f"{other.images}/",
            "test_mode": True,
        }
    )
    names = sorted(info["filename"] for info in demo_dataset.data_infos)
    assert names == sorted(info["filename"] for info in second.data_infos)  # the same names
    both = torch.utils.data.ConcatDataset([demo_dataset, second])
    both.CLASSES = demo_dataset.CLASSES
    loader = build_dataloader(both, samples_per_gpu=4, workers_per_gpu=0, dist=False, shuffle=False)
    single_gpu_test(BorderDetector(), loader, show_dir=tmp_path / "show", progress=False)
    pictures = sorted(p.name for p in (tmp_path / "show").iterdir())
    assert pictures == sorted(names + [f"{Path(other.images).name}_{n}" for n in names])


def test_submission_from_detections_equals_the_per_class_one(tmp_path):
    rng = np.random.default_rng(1)
    patches = [f"P0001__1024__{x}___{y}" for x in (0, 824) for y in (0, 824)] + ["P0002__1024__0___0"]
    dets = [
        Detections(
            np.c_[rng.uniform(0, 1024, (9, 2)), rng.uniform(10, 60, (9, 2)), rng.uniform(-1, 1, 9)].astype(
                np.float32
            ),
            rng.uniform(0, 1, 9).astype(np.float32),
            rng.integers(0, 3, 9),
        )
        for _ in patches
    ]
    for names in (patches, [f"W{i}" for i in range(len(patches))]):  # patches are merged; whole images not
        ds = SimpleNamespace(img_ids=names, CLASSES=("plane", "ship", "storage-tank"))
        a = format_submission(ds, dets, tmp_path / "typed")
        b = format_submission(ds, to_mmrotate_results(dets, 3), tmp_path / "lists")
        assert [f.read_bytes() for f in a] == [f.read_bytes() for f in b]
    assert "P0001 " in a[0].read_text() or "W0 " in a[0].read_text()


def test_show_result_takes_detections():
    rng = np.random.default_rng(2)
    boxes = np.c_[rng.uniform(20, 200, (6, 2)), rng.uniform(10, 40, (6, 2)), rng.uniform(-1, 1, 6)]
    dets = Detections(
        boxes.astype(np.float32), rng.uniform(0, 1, 6).astype(np.float32), rng.integers(0, 2, 6)
    )
    img = np.zeros((256, 256, 3), np.uint8)
    names = ["plane", "ship"]
    np.testing.assert_array_equal(
        show_result(img, dets, names, 0.3), show_result(img, detections_to_result(dets, 2), names, 0.3)
    )
    with pytest.raises(ValueError, match="labels must lie in"):
        show_result(img, dets, ["plane"])


def test_picture_names_go_up_the_folders_until_free(tmp_path):
    from rdet_apps.apis.test import _picture_name

    taken: dict = {}
    images = [
        tmp_path / "trainval/images/P0001.png",
        tmp_path / "val/images/P0001.png",
        tmp_path / "test/images/P0001.png",
        tmp_path / "trainval/images/P0001.png",  # the same image again: its own name
    ]
    assert [_picture_name(p, taken) for p in images] == [
        "P0001.png",
        "images_P0001.png",
        "test_images_P0001.png",
        "P0001.png",
    ]

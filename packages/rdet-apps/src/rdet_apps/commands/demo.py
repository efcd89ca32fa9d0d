"""``rdet demo``: the main job. Train, evaluate and draw on the embedded default data.

It generates the synthetic oriented-object set (DOTA format, deterministic), trains the
bundled Rotated RetinaNet config (``rdet_apps/configs/rotated_retinanet_r18_demo_le90.py``,
an MMRotate config file) for a few CPU minutes, evaluates mAP@0.5 on the held-out split,
draws detections, and, when ../shared is there, runs huge-image inference by patches on a
real DOTA image. Then it prints where everything is.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

HELP = "the main job: train + evaluate + draw on the embedded synthetic DOTA-format set"

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "rotated_retinanet_r18_demo_le90.py"
_SHARED = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[5] / ".." / "shared"))
REAL_IMAGE = _SHARED / "data" / "real" / "CAPTAIN-WHU_DOTA_devkit" / "example" / "images" / "P0706.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work-dir", default="work_dirs/demo", help="where data, checkpoints, logs and pictures go"
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the config's)")
    parser.add_argument("--train-images", type=int, default=64, help="synthetic training images")
    parser.add_argument("--val-images", type=int, default=16, help="synthetic validation images")


def _huge_image_demo(detector, root: Path, vis: Path, names: list[str]) -> Path:  # type: ignore[no-untyped-def]
    """Patch inference at work: a generated 2048-pixel scene of the demo's domain (objects on
    the patch edges too) by 256-pixel patches, merged, scored against its labels, and drawn with
    the patch grid. Returns the picture."""
    import numpy as np

    from rbox_geometry import poly2obb
    from rdet_apps.apis import predict_by_patches
    from rdet_apps.apis.patches import patch_windows
    from rdet_apps.demo_data import make_demo_scene
    from rdet_apps.visualization import draw_patch_grid, show_result
    from rdet_data.formats import read_dota_labels
    from rdet_eval import eval_rbbox_map

    size, patch, step = 2048, 256, 200
    scene = make_demo_scene(root, size=size, patch=patch, step=step)
    image = scene.images / "SCENE.png"
    dets = predict_by_patches(detector, str(image), sizes=[patch], steps=[step])
    windows = patch_windows(size, size, [patch], [step])
    canvas = show_result(image, dets, names, 0.5)
    picture = vis / "scene_2048_by_256_patches.png"
    cv2_write(picture, draw_patch_grid(canvas, windows, (200, 200, 200)))
    labels = read_dota_labels(scene.labels / "SCENE.txt")
    boxes = poly2obb(labels.polygons.astype(np.float64), "le90").astype(np.float32)
    classes = np.array([names.index(n) for n in labels.names], np.int64)
    hard = labels.difficult > 0
    ann = {
        "bboxes": boxes[~hard],
        "labels": classes[~hard],
        "bboxes_ignore": boxes[hard],
        "labels_ignore": classes[hard],
    }
    per_class = [
        np.concatenate([dets.boxes, dets.scores[:, None]], 1)[dets.labels == c] for c in range(len(names))
    ]
    mean_ap, _ = eval_rbbox_map([per_class], [ann], iou_thr=0.5, logger="silent")
    print(
        f"huge-image inference: a {size} x {size} scene with {scene.num_objects} objects by {len(windows)} "
        f"patches of {patch} px (stride {step}), merged: {int((dets.scores >= 0.5).sum())} detections above 0.5, "
        f"mAP@0.5 {mean_ap:.3f}"
    )
    return picture


def cv2_write(path: Path, img) -> None:  # type: ignore[no-untyped-def]
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    import rdet_models
    from rdet_apps.apis import init_detector, predict_by_patches, predict_images
    from rdet_apps.apis.test import evaluate_results, single_gpu_test
    from rdet_apps.apis.train import default_device, train_detector
    from rdet_apps.demo_data import make_demo_dota
    from rdet_apps.engine import set_random_seed
    from rdet_apps.engine.workers import loader_args
    from rdet_apps.logs import get_logger
    from rdet_apps.visualization import show_result
    from rdet_core import Config
    from rdet_data import build_dataloader, build_dataset

    start = time.time()
    work = Path(args.work_dir).resolve()
    data = work / "data"
    train_set = make_demo_dota(data / "train", num_images=args.train_images, size=256, seed=0)
    val_set = make_demo_dota(data / "val", num_images=args.val_images, size=256, seed=1)
    print(
        f"data: {train_set.num_images} training images ({train_set.num_objects} objects), {val_set.num_images} validation images in {data}"
    )

    cfg = Config.fromfile(CONFIG)
    options = {"work_dir": str(work)}
    for split, folder in (("train", train_set), ("val", val_set), ("test", val_set)):
        options[f"data.{split}.ann_file"] = str(folder.labels) + "/"
        options[f"data.{split}.img_prefix"] = str(folder.images) + "/"
    if args.epochs is not None:
        options["runner.max_epochs"] = args.epochs
    cfg.merge_from_dict(options)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    logger = get_logger(work / "train.log")
    set_random_seed(cfg.seed)
    train_start = time.time()
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    device = default_device(False)  # the GPU where there is one
    model.to(device)
    runner = train_detector(model, build_dataset(cfg.data.train), cfg, validate=True, logger=logger)
    latest = work / "latest.pth"

    train_seconds = time.time() - train_start
    detector = init_detector(cfg, latest, device=str(device))
    dataset = build_dataset({**dict(cfg.data.test), "test_mode": True})
    loader = build_dataloader(dataset, **loader_args(cfg.data, "test"))
    results = single_gpu_test(detector, loader, progress=False)
    metrics = evaluate_results(dataset, results, {"iou_thr": 0.5, "logger": "silent"})
    vis = work / "vis"
    names = list(dataset.CLASSES)
    pictures = []
    for path in sorted(val_set.images.glob("*.png"))[:3]:
        pictures.append(vis / path.name)
        show_result(path, predict_images(detector, str(path))[0], names, 0.3, pictures[-1])
    pictures.append(_huge_image_demo(detector, data / "scene", vis, names))
    if REAL_IMAGE.is_file():  # an extra: a real DOTA harbour, out of the demo's domain
        dets = predict_by_patches(detector, str(REAL_IMAGE), sizes=[256], steps=[200])
        pictures.append(vis / f"real_dota_{REAL_IMAGE.stem}_out_of_domain.png")
        show_result(REAL_IMAGE, dets, names, 0.5, pictures[-1])
        confident = int((dets.scores >= 0.5).sum())
        print(
            f"extra: the real DOTA image {REAL_IMAGE.name} by the same patches: {confident} detections above "
            "0.5 (out of domain: a model trained on synthetic shapes is not expected to see its ships)"
        )

    losses = runner.losses_history
    print(
        f"trained {runner.epoch} epochs ({runner.iter} iterations) on {device.type} in {train_seconds:.1f} s "
        f"({time.time() - start:.0f} s in all); loss {np.mean(losses[:5]):.3f} -> {np.mean(losses[-5:]):.3f}"
    )
    print(f"mAP@0.5 on {len(dataset)} validation images: {metrics['mAP']:.3f}")
    print(f"checkpoint: {latest}")
    print(f"logs:       {work / 'train.log'} and {work}/*.log.json")
    print("pictures:   " + ", ".join(str(p) for p in pictures))
    return 0

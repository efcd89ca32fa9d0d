"""MMRotate's own config files run through `rdet train` and `rdet test` with only the data
paths and a small backbone overridden by --cfg-options (the generated set is DOTA-format with
DOTA class names, so MMRotate's DOTADataset configs take it as it is)."""

from __future__ import annotations

import re

import pytest
import torch

from rdet_apps.cli import main
from rdet_apps.demo_data import make_demo_dota

SMALL = [
    "model.backbone.depth=18",
    "model.backbone.base_channels=16",
    "model.backbone.init_cfg=None",
    "model.neck.in_channels=[16,32,64,128]",
    "model.neck.out_channels=32",
]
CASES = {
    "rotated_retinanet/rotated_retinanet_obb_r50_fpn_1x_dota_le90.py": [
        "model.bbox_head.in_channels=32",
        "model.bbox_head.feat_channels=32",
        "model.bbox_head.stacked_convs=2",
    ],
    "oriented_rcnn/oriented_rcnn_r50_fpn_1x_dota_le90.py": [
        "model.rpn_head.in_channels=32",
        "model.rpn_head.feat_channels=32",
        "model.roi_head.bbox_roi_extractor.out_channels=32",
        "model.roi_head.bbox_head.in_channels=32",
        "model.roi_head.bbox_head.fc_out_channels=64",
    ],
}


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfgdata")
    return make_demo_dota(root / "train", 6, 256, seed=0), make_demo_dota(root / "val", 3, 256, seed=1)


@pytest.mark.parametrize("config", sorted(CASES))
def test_config_trains_and_tests_through_the_commands(shared_dir, demo_sets, tmp_path, capsys, config):
    path = shared_dir / "configs/mmrotate-0.3.4" / config
    train, val = demo_sets
    options = [
        *SMALL,
        *CASES[config],
        "runner.max_epochs=1",
        "data.samples_per_gpu=2",
        "data.workers_per_gpu=0",
    ]
    options += [
        "data.train.pipeline.2.img_scale=(256,256)",
        "data.test.pipeline.1.img_scale=(256,256)",
        "data.val.pipeline.1.img_scale=(256,256)",
    ]
    for split, s in (("train", train), ("val", val), ("test", val)):
        options += [f"data.{split}.ann_file={s.labels}/", f"data.{split}.img_prefix={s.images}/"]
    work = tmp_path / "work"
    assert main(["train", str(path), "--work-dir", str(work), "--amp", "--cfg-options", *options]) == 0
    ckpt = work / "latest.pth"
    state = torch.load(ckpt, weights_only=False)
    assert state["meta"]["epoch"] == 1 and len(state["meta"]["CLASSES"]) == 15  # DOTA v1.0 classes
    capsys.readouterr()
    assert main(["test", str(path), str(ckpt), "--eval", "mAP", "--cfg-options", *options]) == 0
    assert re.search(r"mAP: [0-9.]+", capsys.readouterr().out)

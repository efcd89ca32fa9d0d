"""Datasets that return ``DetSample`` themselves (no pipeline) work with the commands that read
a config's pipelines: ``rdet train``'s ('val', 1) workflow and ``rdet browse-dataset``."""

from __future__ import annotations

import numpy as np
import torch

from rdet_apps.commands.browse_dataset import _picture
from rdet_apps.commands.train import _val_with_train_pipeline
from rdet_core.structures import DetSample, GroundTruth, ImageMeta

PIPELINE = [dict(type="LoadImageFromFile"), dict(type="Collect", keys=["img"])]


def test_val_workflow_takes_the_train_pipeline_through_wrappers_or_keeps_none() -> None:
    val = dict(type="DOTADataset", ann_file="val/", pipeline=["val's"])
    assert _val_with_train_pipeline(val, dict(type="DOTADataset", pipeline=PIPELINE))["pipeline"] == PIPELINE
    wrapped = dict(type="RepeatDataset", times=3, dataset=dict(type="DOTADataset", pipeline=PIPELINE))
    assert _val_with_train_pipeline(val, wrapped)["pipeline"] == PIPELINE
    own = dict(type="ToyShapesDataset", num_images=4)  # returns DetSample, no pipeline
    assert _val_with_train_pipeline(dict(type="ToyShapesDataset"), own) == dict(type="ToyShapesDataset")
    assert val["pipeline"] == ["val's"]  # not modified in place


def test_browse_draws_a_detsample_and_a_pipeline_dict() -> None:
    image = torch.linspace(-2, 2, 3 * 8 * 10).reshape(3, 8, 10)
    gt = GroundTruth(torch.tensor([[5.0, 4.0, 4.0, 2.0, 0.1]]), torch.tensor([1]))
    sample = DetSample(image, ImageMeta(None, (8, 10, 3), (8, 10, 3)), gt)
    img, boxes, labels, name = _picture(sample)
    assert img.shape == (8, 10, 3) and img.dtype == np.uint8 and img.min() == 0 and img.max() == 255
    assert boxes.shape == (1, 5) and labels.tolist() == [1] and name is None
    item = dict(img=np.zeros((8, 10, 3), np.uint8), gt_bboxes=np.zeros((0, 5)), gt_labels=np.zeros(0),
                img_info=dict(filename="a/P0001.png"))  # fmt: skip
    img, boxes, labels, name = _picture(item)
    assert img.shape == (8, 10, 3) and boxes.shape == (0, 5) and name == "a/P0001.png"

"""The plugin's components are found by name from config dicts: nothing here imports the plugin."""

import subprocess
import sys

import numpy as np
import pytest

from rdet_core import list_plugins
from rdet_data.registry import DATASETS, TRANSFORMS
from rdet_models.registry import MODELS


def test_not_imported_until_asked_for():
    """In a fresh interpreter: importing rdet does not import the plugin; a look-up by name does."""
    code = (
        "import sys\n"
        "from rdet_data.registry import DATASETS\n"
        "assert 'rdet_plugin_example' not in sys.modules\n"
        "assert DATASETS.get('ToyShapesDataset').__module__ == 'rdet_plugin_example.dataset'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataset_from_config():
    ds = DATASETS.build(dict(type="ToyShapesDataset", num_images=3, img_size=64, max_objects=2))
    item = ds[1]
    assert len(ds) == 3 and item["img"].shape == (64, 64, 3)
    assert item["gt_bboxes"].shape[1] == 5 and len(item["gt_labels"]) == len(item["gt_bboxes"])
    # the painted pixels are where the boxes are: each box centre has the box colour
    for cx, cy, *_ in item["gt_bboxes"]:
        assert item["img"][int(cy), int(cx), 0] == 200
    np.testing.assert_array_equal(ds[1]["img"], item["img"])  # reproducible


def test_transform_from_config():
    t = TRANSFORMS.build(dict(type="RandomGrayscale", prob=1.0))
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255
    out = t({"img": img})["img"]
    assert out.shape == (4, 4, 3) and np.all(out == 76)  # 0.299 * 255 rounded


def test_backbone_from_config():
    torch = pytest.importorskip("torch")
    net = MODELS.build(dict(type="TinyConvBackbone", base_channels=4, out_indices=(1, 3)))
    feats = net(torch.zeros(2, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(2, 8, 16, 16), (2, 32, 4, 4)]


def test_listed_with_distribution_and_version():
    rows = {(r.registry, r.name): r for r in list_plugins() if r.distribution == "rdet-plugin-example"}
    assert set(rows) == {
        ("datasets", "ToyShapesDataset"),
        ("transforms", "RandomGrayscale"),
        ("models", "TinyConvBackbone"),
    }
    assert all(r.version == "0.1.0" and r.status == "ok" for r in rows.values())

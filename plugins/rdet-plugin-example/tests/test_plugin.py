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
    assert type(item).__name__ == "DetSample" and len(ds) == 3
    assert item.image.shape == (3, 64, 64) and item.image.dtype == np.float32
    assert item.meta.filename is None and item.meta.img_shape == item.meta.ori_shape == (64, 64, 3)
    assert item.meta.scale_factor.tolist() == [1, 1, 1, 1]
    assert item.gt.boxes.shape[1] == 5 and len(item.gt.labels) == len(item.gt.boxes)
    w, h, theta = item.gt.boxes[:, 2], item.gt.boxes[:, 3], item.gt.boxes[:, 4]
    assert (w >= h).all() and (theta >= -np.pi / 2).all() and (theta < np.pi / 2).all()  # le90
    # the painted pixels are where the boxes are: each box centre has the box colour
    img = ds.image(1)
    for cx, cy, *_ in item.gt.boxes:
        assert img[int(cy), int(cx), 0] == 200
    np.testing.assert_array_equal(ds[1].image, item.image)  # reproducible


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

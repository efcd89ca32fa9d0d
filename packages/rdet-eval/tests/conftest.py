"""Loading MMRotate's eval_map.npz layout (also the devkit benchmark's) as evaluation inputs."""

from __future__ import annotations

import numpy as np
import pytest

from rbox_geometry import obb2poly


def load_eval_npz(path):
    """-> (det_results per image per class (k, 6), annotations dicts, class names)."""
    z = np.load(path)
    images = sorted({k.split("/")[1] for k in z.files if k.startswith("dets/")})
    num_classes = len([k for k in z.files if k.startswith(f"dets/{images[0]}/")])
    dets = [[z[f"dets/{im}/class{c}"] for c in range(num_classes)] for im in images]
    keys = ("bboxes", "labels", "bboxes_ignore", "labels_ignore")
    anns = [{k: z[f"anns/{im}/{k}"] for k in keys} for im in images]
    names = (
        [str(x) for x in z["classnames"]]
        if "classnames" in z.files
        else [f"class{c}" for c in range(num_classes)]
    )
    return dets, anns, names


def as_polygon_inputs(dets, anns):
    """Rotated boxes -> the official metric's polygons; ignored objects become difficult."""
    pdets = [[np.hstack([obb2poly(d[:, :5].astype(np.float64)), d[:, 5:6]]) for d in per] for per in dets]
    panns = [
        {
            "polygons": np.vstack(
                [obb2poly(a["bboxes"].astype(np.float64)), obb2poly(a["bboxes_ignore"].astype(np.float64))]
            ),
            "labels": np.concatenate([a["labels"], a["labels_ignore"]]),
            "difficult": np.concatenate(
                [np.zeros(len(a["labels"]), bool), np.ones(len(a["labels_ignore"]), bool)]
            ),
        }
        for a in anns
    ]
    return pdets, panns


@pytest.fixture(scope="session")
def eval_map_case(shared_dir):
    return load_eval_npz(shared_dir / "golden/mmrotate-0.3.4/eval_map.npz")


@pytest.fixture(scope="session")
def devkit_dir(shared_dir):
    return shared_dir / "golden/dota_devkit"


@pytest.fixture(scope="session")
def to_polygons():
    """The converter from rotated-box inputs to the official metric's polygon inputs."""
    return as_polygon_inputs


@pytest.fixture(scope="session")
def load_npz():
    return load_eval_npz

"""Run in a virtual environment without torch: the torch-free packages import and compute."""

import importlib.util
import sys

assert importlib.util.find_spec("torch") is None, "this check must run where torch is not installed"

import numpy as np  # noqa: E402

import rbox_geometry  # noqa: E402
import rdet_eval  # noqa: E402

assert "torch" not in sys.modules
print(
    "rbox_geometry", rbox_geometry.__version__, "and rdet_eval", rdet_eval.__version__, "import without torch"
)

# the public API on numpy, where it exists
if hasattr(rbox_geometry, "rbbox_overlaps"):
    boxes = np.array([[50, 50, 40, 20, 0.3], [52, 50, 40, 20, 0.3]], np.float32)
    iou = rbox_geometry.rbbox_overlaps(boxes, boxes)
    assert iou.shape == (2, 2) and abs(float(iou[0, 0]) - 1) < 1e-4 and 0 < float(iou[0, 1]) < 1, iou
    print("rbbox_overlaps on numpy:", np.round(iou, 4).tolist())
assert "torch" not in sys.modules

# rdet_eval end to end on numpy: two images, one class, a hit and a miss
from rdet_eval import eval_dota_task1, eval_rbbox_map  # noqa: E402

dets = [[np.array([[50, 50, 40, 20, 0.3, 0.9]], np.float32)], [np.array([[10, 10, 4, 4, 0.0, 0.8]], np.float32)]]
anns = [{"bboxes": np.array([[50, 50, 40, 20, 0.3]], np.float32), "labels": np.array([0])}, {"bboxes": np.zeros((0, 5)), "labels": np.zeros(0)}]
mean_ap, _ = eval_rbbox_map(dets, anns, use_07_metric=False, logger="silent")
assert abs(mean_ap - 1.0) < 1e-6, mean_ap
polys = [[np.hstack([rbox_geometry.obb2poly(d[:, :5]), d[:, 5:]])] for (d,) in dets]
res = eval_dota_task1(polys, [{"polygons": rbox_geometry.obb2poly(a["bboxes"]), "labels": a["labels"]} for a in anns])
assert abs(res["mAP"] - 1.0) < 1e-6, res
assert "torch" not in sys.modules
print("eval_rbbox_map and the official DOTA metric run without torch")

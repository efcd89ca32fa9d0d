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

"""The package imports and runs its whole public API on numpy with torch unavailable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    import numpy as np
    import rbox_geometry as rg
    b = np.array([[10, 10, 8, 4, 0.3, 0.9], [12, 11, 6, 6, -0.4, 0.5]])
    x = b[:, :5]
    p = rg.obb2poly(x, "le90")
    for v in rg.VERSIONS:
        rg.obb2poly_np(b, v); rg.poly2obb(p, v); rg.poly2obb_np(p, v); rg.obb2hbb(x, v)
        rg.hbb2obb(rg.obb2xyxy(x, v), v); rg.norm_angle(x[:, 4], v); rg.regularize(x, v)
        rg.convert_version(x, "le90", v); rg.flip_rboxes(x, (50, 50), "vertical", v)
        rg.rotate_rboxes(x, 0.5, (5, 5), v); rg.bbox_flip(x, (50, 50), "diagonal", v)
    rg.from_old_oc(x); rg.to_old_oc(x); rg.in_range(x, "oc"); rg.min_area_rect(p)
    rg.get_best_begin_point(p)
    mu, s = rg.xywhr2gaussian(x); rg.gaussian2xywhr(mu, s); rg.xy_wh_r_2_xy_sigma(x)
    rg.gaussian2bbox(*rg.gt2gaussian(p))
    assert rg.rbbox_overlaps(x, x).shape == (2, 2); rg.box_iou_rotated(x, x, "iof", True)
    rg.polygon_overlaps(p, p); rg.polygon_area(p)
    rg.rbox_area(x); rg.points_in_rboxes(x[:, :2], x); rg.clip_rboxes(x, (8, 8))
    rg.rescale_rboxes(x, (2, 3)); rg.translate_rboxes(x, (1, 1))
    assert rg.obb2hbb_np is rg.obb2hbb and rg.norm_angle_np is rg.norm_angle
    assert sys.modules["torch"] is None
    print("ok")
    """
)


def test_public_api_without_torch():
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"

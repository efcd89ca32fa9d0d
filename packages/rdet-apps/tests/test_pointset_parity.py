"""init_detector + inference_detector against MMRotate 0.3.4 on the point-set golden cases
(Rotated RepPoints, SASM, CFA, Oriented RepPoints).

The reference ran these heads on the CPU with cv2.minAreaRect + cv2.boxPoints standing in for
mmcv's CUDA-only ``min_area_polygons`` (golden README). The minimum-area rectangle of a random
model's 9 points is often a near-tie between two directions (areas equal within float rounding),
which flips with the last bits of the points: such a detection has the reference's score and
area but the other rectangle. Those are counted as ties (``parity_counts``); every detection must
match exactly or as a tie, with the same count per class, and at least 90% exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rbox_ops
from rbox_geometry import rbbox_overlaps

#: golden case -> the fewest reference detections (of 100) matched by the usual rule
#: (rotated IoU >= 0.99, score within 1e-3). When written, with rbox_ops' rectangles:
#: rotated_reppoints_le135 93, sasm_oc 95, cfa_oc 96, oriented_reppoints_le135 98; with the
#: reference's cv2 stand-in patched in: 95, 98, 96, 98. The rest are ties.
POINTSET_CASES = ("rotated_reppoints_le135", "sasm_oc", "cfa_oc", "oriented_reppoints_le135")


def parity_counts(ref: np.ndarray, ours: np.ndarray) -> tuple[int, int]:
    """(reference rows matched by the usual rule: one of ours with rotated IoU >= 0.99 and score
    within 1e-3; rows matched only as a tie: one of ours with the same score, area within 0.1%
    and centre within half the box's mean side: the other minimum-area rectangle of the same
    point set)."""
    if len(ref) == 0 or len(ours) == 0:
        return 0, 0
    iou = rbbox_overlaps(ref[:, :5].astype(np.float64), ours[:, :5].astype(np.float64))
    score = np.abs(ref[:, 5:6] - ours[None, :, 5]) <= 1e-3
    exact = ((iou >= 0.99) & score).any(axis=1)
    reach = 0.5 * np.sqrt(ref[:, None, 2] * ref[:, None, 3])
    centre = np.hypot(ref[:, None, 0] - ours[None, :, 0], ref[:, None, 1] - ours[None, :, 1]) <= reach
    area = np.abs(ref[:, None, 2] * ref[:, None, 3] / (ours[None, :, 2] * ours[None, :, 3]) - 1) <= 1e-3
    tie = ~exact & (score & centre & area).any(axis=1)
    return int(exact.sum()), int(tie.sum())


def reference_rectangles(pointsets: torch.Tensor) -> torch.Tensor:
    """What the reference ran instead of mmcv's min_area_polygons: cv2.minAreaRect's corners
    (cv2.boxPoints) of each (18,) point set, float32."""
    import cv2

    rows = [
        cv2.boxPoints(cv2.minAreaRect(p.reshape(9, 2).astype(np.float32))).reshape(8)
        for p in pointsets.detach().cpu().numpy()
    ]
    return torch.as_tensor(np.asarray(rows, dtype=np.float32).reshape(-1, 8), dtype=pointsets.dtype)


@pytest.mark.parametrize("rectangles", ["rbox_ops", "cv2"])
@pytest.mark.parametrize("name", POINTSET_CASES)
def test_pointset_checkpoint_parity(golden_case, name: str, rectangles: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """MMRotate's config + overrides + checkpoint -> per class the reference's count, every
    detection matched exactly or as a tie, at least 90 of 100 exactly; with rbox_ops' exact
    rectangles and with the reference's cv2 stand-in."""
    from rdet_apps.apis import inference_detector, init_detector

    if rectangles == "cv2":
        monkeypatch.setattr(rbox_ops, "min_area_polygons", reference_rectangles)
    case = golden_case(name)
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    result = inference_detector(model, str(case["image"]))
    ref = case["result"]
    exact = tie = 0
    for c in range(15):
        r, o = ref[f"class{c:02d}"], result[c]
        assert o.dtype == np.float32 and len(o) == len(r), f"class {c}: {len(o)} detections vs {len(r)}"
        e, t = parity_counts(r, o)
        assert e + t == len(r), f"class {c}: {len(r) - e - t} of {len(r)} unmatched"
        exact, tie = exact + e, tie + t
    print(f"{name} ({rectangles} rectangles): {exact}/{case['num_detections']} matched, {tie} ties")
    assert exact + tie == case["num_detections"] == 100 and exact >= 90


@pytest.mark.parametrize("name", POINTSET_CASES)
def test_exported_pointset_model_matches_mmrotate(golden_case, tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    """`rdet export` of a point-set detector (the minimum-area rectangle in standard ONNX operators:
    rbox_ops' fixed-size hull and rotating calipers) run by rdet_deploy: the same rule as above.
    When written: 92, 96, 95, 97 of 100 exactly, the rest ties."""
    pytest.importorskip(
        "onnxruntime", reason="the export extra is not installed: pip install 'rdet-apps[export]'"
    )
    import onnx
    from rdet_deploy import OnnxDetector
    from rdet_deploy import inference_detector as onnx_inference

    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx

    case = golden_case(name)
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, path, input_shape=(256, 320))  # the case's image: 256 x 320, scale 1
    assert {n.domain for n in onnx.load(str(path)).graph.node} <= {"", "ai.onnx"}
    result = onnx_inference(OnnxDetector(path), str(case["image"]))
    ref = case["result"]
    exact = tie = 0
    for c in range(15):
        r, o = ref[f"class{c:02d}"], result[c]
        assert len(o) == len(r), f"class {c}: {len(o)} detections vs {len(r)}"
        e, t = parity_counts(r, o)
        assert e + t == len(r), f"class {c}: {len(r) - e - t} of {len(r)} unmatched"
        exact, tie = exact + e, tie + t
    print(f"{name} exported: {exact}/{case['num_detections']} matched, {tie} ties")
    assert exact >= 90

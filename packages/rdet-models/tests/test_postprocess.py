"""multiclass_nms_rotated refuses non-finite predictions: a NaN score used to fail the score
threshold silently, and one NaN box turned every class offset, so every box, into NaN."""

from __future__ import annotations

import pytest
import torch

from rdet_models.postprocess import multiclass_nms_rotated

NMS = dict(iou_thr=0.1)


def _predictions() -> tuple[torch.Tensor, torch.Tensor]:
    boxes = torch.tensor([[10.0, 10, 8, 4, 0.1], [40, 40, 6, 6, -0.3], [10.5, 10, 8, 4, 0.1]])
    scores = torch.tensor([[0.9, 0.05, 0.0], [0.05, 0.8, 0.0], [0.7, 0.01, 0.0]])
    return boxes, scores


def test_finite_predictions_pass_through_class_aware_nms() -> None:
    dets, labels = multiclass_nms_rotated(*_predictions(), score_thr=0.1, nms=NMS)
    assert labels.tolist() == [0, 1]  # by descending score: 0.9 (class 0), 0.8 (class 1)
    assert dets.shape[1] == 6 and torch.isfinite(dets).all()
    # the two overlapping class-0 boxes: IoU ~0.94 > 0.1, one suppressed
    assert (labels == 0).sum() == 1 and dets[labels == 0, 5].item() == pytest.approx(0.9)


@pytest.mark.parametrize(
    "where, value, message",
    [
        ("boxes", float("nan"), r"non-finite boxes \(NaN or inf\) for 1 of 3 candidates, e\.g\. candidate 1"),
        ("boxes", float("inf"), r"non-finite boxes .* candidate 1"),
        ("scores", float("nan"), r"non-finite scores .* candidate 1"),
    ],
)
def test_a_non_finite_prediction_is_an_error_naming_the_candidate(
    where: str, value: float, message: str
) -> None:
    boxes, scores = _predictions()
    (boxes if where == "boxes" else scores)[1, 0] = value
    with pytest.raises(FloatingPointError, match=message + r".*diverged"):
        multiclass_nms_rotated(boxes, scores, score_thr=0.1, nms=NMS)

"""MMDetection 2.x's RoI-head signatures, written once over a RoI head's typed ``losses`` and
``predict`` (``RotatedStandardRoIHead``, ``RoITransRoIHead`` and what ports add)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rdet_core.structures import Detections, GroundTruth, ImageMeta, detections_to_result
from rdet_models.mmdet_compat import as_metas, detections_as_pairs, gts_from_lists

__all__ = ["RoIHeadAdapters"]


class RoIHeadAdapters:
    """``forward_train``, ``simple_test_bboxes``, ``simple_test`` and ``aug_test`` with
    MMDetection's signatures; a RoI head provides ``losses``, ``predict`` and ``num_classes``."""

    def losses(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        gts: Sequence[GroundTruth],
        metas: Sequence[ImageMeta],
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        metas: Sequence[ImageMeta],
        rescale: bool = True,
        cfg: Any = None,
    ) -> list[Detections]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    def forward_train(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        proposal_list: Sequence[torch.Tensor],
        gt_bboxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_bboxes_ignore: Sequence[torch.Tensor | None] | None = None,
        gt_masks: Any = None,
        **kwargs: Any,
    ) -> dict[str, torch.Tensor]:
        """MMDetection's signature over ``losses`` (``gt_masks`` unused: no mask head)."""
        gts = gts_from_lists(gt_bboxes, gt_labels, gt_bboxes_ignore)
        return self.losses(x, proposal_list, gts, as_metas(img_metas))

    def simple_test_bboxes(
        self,
        x: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        proposals: Sequence[torch.Tensor],
        rcnn_test_cfg: Any,
        rescale: bool = False,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """MMDetection's signature: per image dets (k, 6) ``(cx, cy, w, h, theta, score)`` and labels (k,)."""
        pairs = detections_as_pairs(self.predict(x, proposals, as_metas(img_metas), rescale, rcnn_test_cfg))
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def simple_test(
        self,
        x: Sequence[torch.Tensor],
        proposal_list: Sequence[torch.Tensor],
        img_metas: Sequence[dict],
        rescale: bool = False,
    ) -> list[list[Any]]:
        """MMDetection's signature: per image, MMRotate's result (a list per class of (k, 6) arrays)."""
        dets = self.predict(x, proposal_list, as_metas(img_metas), rescale)
        return [detections_to_result(d, self.num_classes) for d in dets]

    def aug_test(self, x: Any, proposal_list: Any, img_metas: Any, rescale: bool = False) -> Any:
        raise NotImplementedError("test-time augmentation (aug_test) is not supported yet")

"""``RotatedRetinaRefineHead``: R3Det's refinement stage, a RetinaNet head whose anchors are the
previous stage's boxes (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rdet_models.heads.rotated_anchor_head import check_rois
from rdet_models.heads.rotated_retina_head import _RETINA_INIT, RotatedRetinaHead
from rdet_models.registry import MODELS

__all__ = ["RotatedRetinaRefineHead"]

_PSEUDO_ANCHORS = dict(type="PseudoAnchorGenerator", strides=[8, 16, 32, 64, 128])
# MMRotate's default names 'DeltaXYWHABBoxCoder', which no registry holds (every config sets
# the coder); ours is the rotated coder with MMRotate's default arguments.
_REFINE_CODER = dict(type="DeltaXYWHAOBBoxCoder", target_means=(0.0,) * 5, target_stds=(1.0,) * 5)


@MODELS.register_module()
class RotatedRetinaRefineHead(RotatedRetinaHead):
    """:class:`RotatedRetinaHead` (same towers and module names) with one anchor per position,
    and that anchor is the box the previous stage predicted there (``rois``, per image, per level
    (H*W, 5)): its ``PseudoAnchorGenerator`` gives only valid flags. Training assigns and
    encodes against ``rois``, testing decodes against them, and :meth:`refine_bboxes` gives the
    next stage's ``rois``. ``loss`` / ``get_bboxes`` / ``predict`` / ``loss_by_feat`` take
    ``rois=`` and refuse to run without it.
    """

    needs_rois = True

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 4,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        anchor_generator: dict = _PSEUDO_ANCHORS,
        bbox_coder: dict = _REFINE_CODER,
        init_cfg: dict | list[dict] | None = _RETINA_INIT,
        **kwargs: object,
    ) -> None:
        super().__init__(
            num_classes,
            in_channels,
            stacked_convs=stacked_convs,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            init_cfg=init_cfg,
            **kwargs,
        )
        if self.num_anchors != 1:
            raise ValueError(
                f"{type(self).__name__} refines one box per position; its anchor_generator gives "
                f"{self.num_anchors} (use PseudoAnchorGenerator)"
            )

    def refine_bboxes(  # type: ignore[override]
        self,
        cls_scores: list[torch.Tensor],
        bbox_preds: list[torch.Tensor],
        rois: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> list[list[torch.Tensor]]:
        """The next stage's ``rois``: per image, per level, each position's box decoded against
        its ``rois`` box (H*W, 5), detached; the coder's angle range, no clipping to the image.

        Args:
            cls_scores: per level (N, num_classes, H, W) (unused: every position is kept).
            bbox_preds: per level (N, 5, H, W) deltas.
            rois: per image, per level (H*W, 5), this stage's anchors.
        """
        if len(cls_scores) != len(bbox_preds):
            raise ValueError(f"{len(cls_scores)} levels of cls_scores, {len(bbox_preds)} of bbox_preds")
        num_imgs = bbox_preds[0].size(0)
        if rois is None:
            raise ValueError(f"{type(self).__name__} needs rois: this stage's anchors, to refine")
        check_rois(rois, [p.shape[-2:] for p in bbox_preds], num_imgs, 1, type(self).__name__)
        bboxes_list: list[list[torch.Tensor]] = [[] for _ in range(num_imgs)]
        for lvl, bbox_pred in enumerate(bbox_preds):
            if bbox_pred.size(1) != 5:
                raise ValueError(f"bbox_preds of level {lvl} have {bbox_pred.size(1)} channels, expected 5")
            deltas = bbox_pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 5)
            for img_id in range(num_imgs):
                anchors = rois[img_id][lvl]  # type: ignore[index]
                bboxes_list[img_id].append(self.bbox_coder.decode(anchors, deltas[img_id]).detach())
        return bboxes_list

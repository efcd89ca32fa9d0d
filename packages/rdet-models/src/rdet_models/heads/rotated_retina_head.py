"""``RotatedRetinaHead``: RetinaNet's two conv towers on rotated anchors (MMRotate 0.3.x)."""

from __future__ import annotations

import torch
from torch import nn

from rdet_models.heads.rotated_anchor_head import RotatedAnchorHead
from rdet_models.layers import ConvModule
from rdet_models.registry import MODELS

__all__ = ["RotatedRetinaHead"]

_RETINA_INIT = dict(
    type="Normal",
    layer="Conv2d",
    std=0.01,
    override=dict(type="Normal", name="retina_cls", std=0.01, bias_prob=0.01),
)
# MMRotate's default is MMDetection's horizontal AnchorGenerator, which cannot work with
# 5-column deltas; every MMRotate config overrides it. Ours defaults to the rotated one.
_RETINA_ANCHORS = dict(
    type="RotatedAnchorGenerator",
    octave_base_scale=4,
    scales_per_octave=3,
    ratios=[0.5, 1.0, 2.0],
    strides=[8, 16, 32, 64, 128],
)


@MODELS.register_module()
class RotatedRetinaHead(RotatedAnchorHead):
    """``stacked_convs`` 3x3 ConvModules for classification and for regression, then
    ``retina_cls`` (A * num_classes) and ``retina_reg`` (A * 5) 3x3 convs. Module names are
    MMRotate's (``cls_convs.0.conv``, ``retina_cls``...). Both OBB (``assign_by_circumhbbox=None``)
    and HBB variants of MMRotate's configs.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 4,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        anchor_generator: dict = _RETINA_ANCHORS,
        init_cfg: dict | list[dict] | None = _RETINA_INIT,
        **kwargs: object,
    ) -> None:
        self.stacked_convs, self.conv_cfg, self.norm_cfg = stacked_convs, conv_cfg, norm_cfg
        super().__init__(
            num_classes, in_channels, anchor_generator=anchor_generator, init_cfg=init_cfg, **kwargs
        )

    def _init_layers(self) -> None:
        self.relu = nn.ReLU(inplace=True)
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(self.stacked_convs):
            chn = self.in_channels if i == 0 else self.feat_channels
            for convs in (self.cls_convs, self.reg_convs):
                convs.append(
                    ConvModule(
                        chn,
                        self.feat_channels,
                        3,
                        stride=1,
                        padding=1,
                        conv_cfg=self.conv_cfg,
                        norm_cfg=self.norm_cfg,
                    )
                )
        self.retina_cls = nn.Conv2d(
            self.feat_channels, self.num_anchors * self.cls_out_channels, 3, padding=1
        )
        self.retina_reg = nn.Conv2d(self.feat_channels, self.num_anchors * 5, 3, padding=1)

    def _towers(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cls_feat, reg_feat = x, x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        return cls_feat, reg_feat

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, C, H, W) -> cls_score (N, A*num_classes, H, W), bbox_pred (N, A*5, H, W)."""
        cls_feat, reg_feat = self._towers(x)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)

    def filter_bboxes(
        self, cls_scores: list[torch.Tensor], bbox_preds: list[torch.Tensor]
    ) -> list[list[torch.Tensor]]:
        """Per image, per level: the decoded box of the best-scoring anchor at each position
        ((H*W, 5), detached). R3Det uses it before its first refinement stage."""
        num_levels, num_imgs = len(cls_scores), cls_scores[0].size(0)
        featmap_sizes = [cls_scores[i].shape[-2:] for i in range(num_levels)]
        mlvl_anchors = self.anchor_generator.grid_priors(featmap_sizes, device=cls_scores[0].device)
        bboxes_list: list[list[torch.Tensor]] = [[] for _ in range(num_imgs)]
        for lvl in range(num_levels):
            cls_score = (
                cls_scores[lvl]
                .permute(0, 2, 3, 1)
                .reshape(num_imgs, -1, self.num_anchors, self.cls_out_channels)
            )
            cls_score = cls_score.max(dim=-1, keepdim=True)[0]
            best_ind = cls_score.argmax(dim=-2, keepdim=True).expand(-1, -1, -1, 5)
            bbox_pred = bbox_preds[lvl].permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_anchors, 5)
            best_pred = bbox_pred.gather(dim=-2, index=best_ind).squeeze(dim=-2)
            anchors = mlvl_anchors[lvl].reshape(-1, self.num_anchors, 5)
            for img_id in range(num_imgs):
                best_anchor = anchors.gather(dim=-2, index=best_ind[img_id]).squeeze(dim=-2)
                bboxes_list[img_id].append(self.bbox_coder.decode(best_anchor, best_pred[img_id]).detach())
        return bboxes_list

    def refine_bboxes(
        self, cls_scores: list[torch.Tensor], bbox_preds: list[torch.Tensor]
    ) -> list[list[torch.Tensor]]:
        """Per image, per level: every anchor's decoded box (num_anchors must be 1; S2A-Net)."""
        num_levels, num_imgs = len(cls_scores), cls_scores[0].size(0)
        featmap_sizes = [cls_scores[i].shape[-2:] for i in range(num_levels)]
        mlvl_anchors = self.anchor_generator.grid_priors(featmap_sizes, device=cls_scores[0].device)
        bboxes_list: list[list[torch.Tensor]] = [[] for _ in range(num_imgs)]
        for lvl in range(num_levels):
            bbox_pred = bbox_preds[lvl].permute(0, 2, 3, 1).reshape(num_imgs, -1, 5)
            for img_id in range(num_imgs):
                bboxes_list[img_id].append(
                    self.bbox_coder.decode(mlvl_anchors[lvl], bbox_pred[img_id]).detach()
                )
        return bboxes_list

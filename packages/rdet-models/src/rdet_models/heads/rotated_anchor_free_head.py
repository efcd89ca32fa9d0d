"""``RotatedAnchorFreeHead``: the typed base of anchor-free dense heads (MMRotate 0.3.x /
MMDetection 2.x's ``AnchorFreeHead``): conv towers, points instead of anchors.

A subclass (see ``RotatedFCOSHead``) declares ``pred_names``, builds its layers, and implements
``get_targets(points, gts) -> PointTargets``, ``loss_by_feat(outs, gts, metas)`` and
``_decode_level``; the MMDetection adapters (``loss``, ``get_bboxes``, ``forward_train``,
``simple_test``) and ``predict`` come from ``DenseHeadAdapters``, shared with anchor heads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rdet_core.structures import GroundTruth, ImageMeta
from rdet_models.anchors.point_generator import MlvlPointGenerator
from rdet_models.builder import build_bbox_coder, build_loss
from rdet_models.heads.dense_adapters import DenseHeadAdapters
from rdet_models.init import BaseModule
from rdet_models.layers import conv_tower
from rdet_models.postprocess import multiclass_nms_rotated
from rdet_models.registry import MODELS
from rdet_models.rescale import rescale_rboxes
from rdet_models.targets import PointTargets
from rdet_models.utils import multi_apply, to_config

__all__ = ["RotatedAnchorFreeHead"]

_AF_INIT = dict(
    type="Normal",
    layer="Conv2d",
    std=0.01,
    override=dict(type="Normal", name="conv_cls", std=0.01, bias_prob=0.01),
)


@MODELS.register_module()
class RotatedAnchorFreeHead(DenseHeadAdapters, BaseModule):
    """``stacked_convs`` 3x3 ConvModules for classification (``cls_convs``) and for regression
    (``reg_convs``), then ``conv_cls`` (num_classes) and ``conv_reg`` (4 side distances), one
    point per feature-map cell (``prior_generator``: ``MlvlPointGenerator(strides)``).

    Args:
        num_classes: classes without background.
        in_channels: channels of each input level.
        feat_channels: channels of the towers.
        stacked_convs: convs per tower.
        strides: per level, the stride (px) of its points.
        dcn_on_last_conv: the towers' last conv is a modulated deformable one (DCNv2).
        conv_bias: ``'auto'`` (a bias only without a norm) or a bool.
        loss_cls / loss_bbox / bbox_coder: component configs.
        conv_cfg / norm_cfg: the towers' conv and norm layers.
        train_cfg / test_cfg: ``test_cfg``: ``nms_pre``, ``score_thr``, ``nms``, ``max_per_img``.

    Forward: levels (N, C, H_l, W_l) -> one list over levels per ``pred_names``.
    """

    #: names of ``forward``'s outputs, in order (each a list over levels)
    pred_names: tuple[str, ...] = ("cls_score", "bbox_pred")

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        strides: Sequence[int] = (4, 8, 16, 32, 64),
        dcn_on_last_conv: bool = False,
        conv_bias: bool | str = "auto",
        loss_cls: dict = dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),  # noqa: B006
        loss_bbox: dict = dict(type="IoULoss", loss_weight=1.0),  # noqa: B006
        bbox_coder: dict = dict(type="DistancePointBBoxCoder"),  # noqa: B006
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        init_cfg: dict | list[dict] | None = _AF_INIT,
    ) -> None:
        super().__init__(init_cfg)
        if not (conv_bias == "auto" or isinstance(conv_bias, bool)):
            raise ValueError(f"conv_bias must be 'auto' or a bool, got {conv_bias!r}")
        self.num_classes = num_classes
        self.use_sigmoid_cls = loss_cls.get("use_sigmoid", False)
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        self.in_channels, self.feat_channels, self.stacked_convs = in_channels, feat_channels, stacked_convs
        self.strides = list(strides)
        self.dcn_on_last_conv, self.conv_bias = dcn_on_last_conv, conv_bias
        self.loss_cls = build_loss(loss_cls)
        self.loss_bbox = build_loss(loss_bbox)
        self.bbox_coder = build_bbox_coder(bbox_coder)
        self.prior_generator = MlvlPointGenerator(self.strides)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self.train_cfg = to_config(train_cfg)
        self.test_cfg = to_config(test_cfg)
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self._init_layers()

    # -- network --------------------------------------------------------------------------------

    def _init_layers(self) -> None:
        self._init_cls_convs()
        self._init_reg_convs()
        self._init_predictor()

    def _tower(self) -> nn.ModuleList:
        return conv_tower(
            self.in_channels,
            self.feat_channels,
            self.stacked_convs,
            self.conv_cfg,
            self.norm_cfg,
            self.conv_bias,
            self.dcn_on_last_conv,
        )

    def _init_cls_convs(self) -> None:
        self.cls_convs = self._tower()

    def _init_reg_convs(self) -> None:
        self.reg_convs = self._tower()

    def _init_predictor(self) -> None:
        self.conv_cls = nn.Conv2d(self.feat_channels, self.cls_out_channels, 3, padding=1)
        self.conv_reg = nn.Conv2d(self.feat_channels, 4, 3, padding=1)

    def forward_single(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, C, H, W) -> cls_score (N, cls_out, H, W), bbox_pred (N, 4, H, W), and the towers'
        features cls_feat, reg_feat (N, feat_channels, H, W) (MMDetection's order)."""
        cls_feat, reg_feat = x, x
        for layer in self.cls_convs:
            cls_feat = layer(cls_feat)
        for layer in self.reg_convs:
            reg_feat = layer(reg_feat)
        return self.conv_cls(cls_feat), self.conv_reg(reg_feat), cls_feat, reg_feat

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], ...]:
        """Levels -> one list over levels per ``pred_names``."""
        return multi_apply(self.forward_single, feats)[: len(self.pred_names)]

    # -- points and targets ----------------------------------------------------------------------

    def get_points(
        self, featmap_sizes: Sequence[Sequence[int]], dtype: torch.dtype, device: torch.device | str
    ) -> list[torch.Tensor]:
        """Per level, the (H_l*W_l, 2) points ``(x, y)`` px, row-major."""
        return self.prior_generator.grid_priors(featmap_sizes, dtype=dtype, device=device)

    def get_targets(self, points: list[torch.Tensor], gts: Sequence[GroundTruth]) -> PointTargets:
        """The batch's targets per level for ``points`` (L (P_l, 2))."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_targets")

    # -- losses --------------------------------------------------------------------------------

    def loss_by_feat(
        self, outs: Sequence[Sequence[torch.Tensor]], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, torch.Tensor]:
        """Losses from the head's outputs (``forward``'s lists per level, ``pred_names`` order)."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss_by_feat")

    def losses(
        self, x: Sequence[torch.Tensor], gts: Sequence[GroundTruth], metas: Sequence[ImageMeta]
    ) -> dict[str, torch.Tensor]:
        """Forward the features and return the losses."""
        return self.loss_by_feat(self(x), gts, metas)

    # -- inference -----------------------------------------------------------------------------

    def _batch_get_bboxes(
        self,
        outs: Sequence[Sequence[torch.Tensor]],
        metas: Sequence[ImageMeta],
        cfg: dict | None,
        rescale: bool,
        with_nms: bool,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Split per-level batch outputs per image and decode each image."""
        levels = self._named(outs)
        first = levels[0]["cls_score"]
        featmap_sizes = [level["cls_score"].shape[-2:] for level in levels]
        mlvl_points = self.get_points(featmap_sizes, levels[0]["bbox_pred"].dtype, first.device)
        cfg = self.test_cfg if cfg is None else to_config(cfg)
        results = []
        for img_id, meta in enumerate(metas):
            mlvl_bboxes, mlvl_scores, mlvl_factors = [], [], []
            for level, points in zip(levels, mlvl_points):
                preds = {name: t[img_id].detach() for name, t in level.items()}
                bboxes, scores, factors = self._decode_level(preds, points, meta.img_shape, cfg)
                mlvl_bboxes.append(bboxes)
                mlvl_scores.append(scores)
                mlvl_factors.append(factors)
            known = [f for f in mlvl_factors if f is not None]
            factors = torch.cat(known) if len(known) == len(mlvl_factors) else None
            results.append(
                self._finish_bboxes(
                    mlvl_bboxes, mlvl_scores, factors, meta.scale_factor, cfg, rescale, with_nms
                )
            )
        return results

    def _decode_level(
        self, preds: Mapping[str, torch.Tensor], points: torch.Tensor, img_shape: Sequence[int], cfg: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One image's level: ``preds`` by ``pred_names`` ((C, H, W) maps), ``points`` (H*W, 2)
        -> the ``nms_pre`` best points' boxes (k, 5), scores (k, C) and score factors (k,) or None."""
        raise NotImplementedError(f"{type(self).__name__} must implement _decode_level")

    def _finish_bboxes(
        self,
        mlvl_bboxes: list[torch.Tensor],
        mlvl_scores: list[torch.Tensor],
        score_factors: torch.Tensor | None,
        scale_factor: Any,
        cfg: Any,
        rescale: bool,
        with_nms: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenate the levels, rescale, add the background column, NMS (``score_factors``
        multiply the scores after the threshold, as MMRotate)."""
        bboxes = torch.cat(mlvl_bboxes)
        if rescale:  # to the original image (an anisotropic resize through the corners)
            bboxes = rescale_rboxes(bboxes, scale_factor, self)
        scores = torch.cat(mlvl_scores)
        if self.use_sigmoid_cls:
            scores = torch.cat([scores, scores.new_zeros(scores.shape[0], 1)], dim=1)
        if with_nms:
            dets, labels = multiclass_nms_rotated(
                bboxes, scores, cfg.score_thr, cfg.nms, cfg.max_per_img, score_factors=score_factors
            )
            return dets, labels
        return bboxes, scores

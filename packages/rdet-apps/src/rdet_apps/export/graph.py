"""The network to export: a detector's forward up to (and without) its final NMS.

``ExportGraph(model)`` maps padded normalised images ``img`` (N, 3, H, W) and each image's size
before padding ``img_shape`` (N, 2) ``(H, W)`` (network-input pixels; the decoded boxes are clamped
there, as eager inference clamps at the meta's ``img_shape``) to

- ``boxes`` (N, K, 5): ``(cx, cy, w, h, theta)`` in pixels of the network input (resized image),
  radians, clockwise on screen;
- ``scores`` (N, K, C): per candidate and class its probability (background dropped); the label
  of ``scores[..., c]`` is ``c``;
- ``score_factors`` (N, K): multiplied into the scores after the score threshold (FCOS's
  centerness; ones for heads without).

These are the rows the torch model hands to ``multiclass_nms_rotated``: the runtime applies the
score threshold, the factors, the rescale to the original image and the per-class rotated NMS.
The code is the heads' own (``_decode_level``, ``refine_bboxes``, the RPN's level selection, the
RoI head's ``decode_rois``); only the two ops between the stages of Oriented R-CNN are replaced by
exportable forms (``rdet_apps.export.ops``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "EXPORTABLE",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "ExportGraph",
    "UnsupportedModelError",
    "check_exportable",
    "head_of",
]

#: the exported graph's inputs: images (N, 3, H, W) float32, their sizes before padding (N, 2) int64
INPUT_NAMES = ("img", "img_shape")
OUTPUT_NAMES = ("boxes", "scores", "score_factors")
#: detectors with an exportable form (RetinaNet covers ATSS, HBB and the KLD/GWD/KFIoU/CSL heads)
EXPORTABLE = ("RotatedRetinaNet", "RotatedFCOS", "R3Det", "S2ANet", "RotatedRepPoints", "OrientedRCNN")


class UnsupportedModelError(ValueError):
    """The detector (or one of its parts) has no exportable form."""


def check_exportable(model: nn.Module) -> None:
    """Raise ``UnsupportedModelError`` naming the detector unless it is one of ``EXPORTABLE``."""
    name = type(model).__name__
    if name not in EXPORTABLE:
        raise UnsupportedModelError(f"{name} has no exportable form; these export: {', '.join(EXPORTABLE)}")


def head_of(model: nn.Module) -> nn.Module:
    """The head whose candidates are the detections: the dense head, the ODM head (S2A-Net),
    the last refine head (R3Det) or the RoI box head (two-stage)."""
    if hasattr(model, "odm_head"):
        return model.odm_head
    if hasattr(model, "refine_head"):
        return model.refine_head[-1]
    if hasattr(model, "roi_head"):
        return model.roi_head.bbox_head
    if hasattr(model, "bbox_head"):
        return model.bbox_head
    raise UnsupportedModelError(f"{type(model).__name__}: no dense, refine or RoI head to export")


def _scores_without_background(head: nn.Module, scores: torch.Tensor, num_classes: int) -> torch.Tensor:
    return scores[:, :num_classes] if scores.shape[1] > num_classes else scores


class ExportGraph(nn.Module):
    """``model`` (an rdet detector, eval mode) as a graph of fixed-size tensor maths; see the module doc.

    Args:
        model: RotatedRetinaNet, RotatedFCOS, R3Det, S2ANet or a two-stage detector with a rotated
            RoI head (Oriented R-CNN).
        img_shape: (H, W) that clamps the decoded centres (as the heads do with the test image's
            ``img_shape``) when ``forward`` gets no ``img_shape``; None: the input's own (H, W),
            read from its shape.

    ``forward(img, img_shape)``: ``img_shape`` (N, 2) int64 or float, each image's (H, W) before
    padding in network-input pixels, clamps that image's boxes, as eager inference clamps at its
    meta's ``img_shape`` (the exported graphs take it as their second input, ``img_shape``).
    """

    def __init__(self, model: nn.Module, img_shape: tuple[int, int] | None = None) -> None:
        super().__init__()
        name = type(model).__name__
        if name not in EXPORTABLE:
            raise UnsupportedModelError(
                f"{name} has no exportable form; these export: {', '.join(EXPORTABLE)}"
            )
        self.model = model
        self.head = head_of(model)
        self.num_classes = int(model.num_classes)
        self.img_shape = None if img_shape is None else (int(img_shape[0]), int(img_shape[1]))
        if hasattr(model, "roi_head"):
            self._check_two_stage(model)

    @staticmethod
    def _check_two_stage(model: nn.Module) -> None:
        from rdet_models.roi_heads.roi_extractors import RotatedSingleRoIExtractor

        name = type(model).__name__
        if not type(model.rpn_head).__name__ == "OrientedRPNHead":
            raise UnsupportedModelError(f"{name}: only an OrientedRPNHead's proposals export (rotated RoIs)")
        extractor = model.roi_head.bbox_roi_extractor
        if not isinstance(extractor, RotatedSingleRoIExtractor):
            raise UnsupportedModelError(f"{name}: the RoI extractor must be RotatedSingleRoIExtractor")
        if int(extractor.roi_layers[0].sampling_ratio) <= 0:
            raise UnsupportedModelError(
                f"{name}: roi_layer sample_num=0 (adaptive) has a data-dependent sample count; set it > 0"
            )
        if type(model.roi_head).__name__ not in ("OrientedStandardRoIHead",):
            raise UnsupportedModelError(f"{name}: {type(model.roi_head).__name__} does not export")

    def forward(
        self, img: torch.Tensor, img_shape: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``img`` (N, 3, H, W) padded normalised images, ``img_shape`` (N, 2) each image's (H, W)
        before padding (None: ``self.img_shape``, else the input's size) -> ``OUTPUT_NAMES``."""
        shapes = self._image_shapes(img, img_shape)
        x = self.model.extract_feat(img)
        if hasattr(self.model, "roi_head"):
            per_image = [self._two_stage(x, i, shapes[i]) for i in range(img.shape[0])]
        else:
            per_image = self._dense(x, img.shape[0], shapes)
        boxes, scores, factors = (torch.stack(t) for t in zip(*per_image))
        return boxes, scores, factors

    def _image_shapes(self, img: torch.Tensor, img_shape: torch.Tensor | None) -> list[Any]:
        """Per image the (H, W) its clamps use: a (2,) tensor of ``img``'s dtype (a traced graph
        input: the clamps become Min / Max on it), or ints / the input's traced size."""
        n = img.shape[0]
        if img_shape is None:
            # traced, img.shape[2:] are graph values: the clamp follows the input's size
            fixed = self.img_shape if self.img_shape is not None else (img.shape[2], img.shape[3])
            return [fixed] * n
        if img_shape.dim() != 2 or img_shape.shape[1] != 2:
            raise ValueError(f"img_shape must be (N, 2) (H, W) per image, got {tuple(img_shape.shape)}")
        bounds = img_shape.to(img.dtype)
        return [bounds[i] for i in range(n)]

    # -- dense heads ---------------------------------------------------------------------------

    def _dense_outputs(self, x: Sequence[torch.Tensor]) -> tuple[Any, Any]:
        """The final head's outputs and its anchors from an earlier stage (None: the grid's)."""
        model = self.model
        if hasattr(model, "odm_head"):  # S2A-Net
            _, rois, odm_outs = model._stages(x)
            return odm_outs, rois
        if hasattr(model, "refine_head"):  # R3Det
            outs, rois = model._forward_stages(x)[1][-1]
            return outs, rois
        return model.bbox_head(x), None

    def _dense(
        self, x: Sequence[torch.Tensor], num_imgs: int, img_shapes: Sequence[Any]
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        head = self.head
        outs, rois = self._dense_outputs(x)
        levels = head._named(outs)
        if type(self.model).__name__ == "RotatedRepPoints":
            return self._pointsets(levels, num_imgs)
        first = levels[0]["cls_score"]
        sizes = [level["cls_score"].shape[-2:] for level in levels]
        if hasattr(head, "get_points"):
            priors = head.get_points(sizes, levels[0]["bbox_pred"].dtype, first.device)
        elif rois is None:
            priors = head.anchor_generator.grid_priors(sizes, device=first.device)
        cfg = head.test_cfg
        results = []
        for img_id in range(num_imgs):
            image_priors = priors if rois is None else rois[img_id]
            boxes, scores, factors = [], [], []
            for level, level_priors in zip(levels, image_priors):
                preds = {name: t[img_id] for name, t in level.items()}
                out = head._decode_level(preds, level_priors, img_shapes[img_id], cfg)
                boxes.append(out[0])
                scores.append(_scores_without_background(head, out[1], self.num_classes))
                has_factor = len(out) == 3 and out[2] is not None
                factors.append(out[2] if has_factor else out[1].new_ones(out[1].shape[0]))
            results.append((torch.cat(boxes), torch.cat(scores), torch.cat(factors)))
        return results

    def _pointsets(
        self, levels: Sequence[dict[str, torch.Tensor]], num_imgs: int
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The point-set heads (Rotated / SAM / Oriented RepPoints, G-Rep): each level's refined
        point sets turned into boxes by the head's own ``_decode_level`` (the minimum-area
        rectangle in rbox_ops' pure-torch form: a fixed-size hull and rotating calipers)."""
        head = self.head
        sizes = [level["cls_score"].shape[-2:] for level in levels]
        cells = head.prior_generator.grid_priors(sizes, device=levels[0]["cls_score"].device)
        results = []
        for img_id in range(num_imgs):
            boxes, scores = [], []
            for lvl, (level, level_cells) in enumerate(zip(levels, cells)):
                b, s = head._decode_level(
                    level["cls_score"][img_id], level["pts_refine"][img_id], level_cells, lvl, head.test_cfg
                )
                boxes.append(b)
                scores.append(s)
            scores_all = torch.cat(scores)
            results.append((torch.cat(boxes), scores_all, scores_all.new_ones(scores_all.shape[0])))
        return results

    # -- Oriented R-CNN ------------------------------------------------------------------------

    def _proposals(self, x: Sequence[torch.Tensor], img_id: int, img_shape: Any) -> torch.Tensor:
        """The RPN's proposals (k, 5) for one image, as ``OrientedRPNHead._get_proposals_single``
        with the NMS as ``NonMaxSuppression`` on the enclosing boxes (levels kept apart)."""
        from rbox_geometry import obb2xyxy
        from rdet_apps.export.ops import nms_xyxy

        rpn = self.model.rpn_head
        cls_scores, bbox_preds = rpn(x)
        sizes = [c.shape[-2:] for c in cls_scores]
        anchors = rpn.anchor_generator.grid_priors(sizes, device=cls_scores[0].device)
        cfg = rpn.test_cfg
        scores, deltas, kept_anchors, ids = rpn._select_per_level(
            [c[img_id] for c in cls_scores], [b[img_id] for b in bbox_preds], anchors, cfg
        )
        proposals = rpn.bbox_coder.decode(kept_anchors, deltas, max_shape=img_shape)
        if cfg.min_bbox_size > 0:
            w, h = rpn._proposal_wh(proposals)
            valid = (w >= cfg.min_bbox_size) & (h >= cfg.min_bbox_size)
            proposals, scores, ids = proposals[valid], scores[valid], ids[valid]
        nms = dict(cfg.nms)
        if nms.get("type", "nms") != "nms" or nms.get("class_agnostic", False):
            raise UnsupportedModelError(f"the RPN's nms must be per-level type='nms', got {nms}")
        thr = nms.get("iou_threshold", nms.get("iou_thr"))
        hbb = obb2xyxy(proposals, rpn.version)
        hbb = hbb + (ids.to(hbb) * (hbb.max() + 1))[:, None]  # mmcv's batched_nms: levels apart
        keep = nms_xyxy(hbb, scores, float(thr))[: cfg.max_per_img]
        return proposals[keep]

    def _two_stage(self, x: Sequence[torch.Tensor], img_id: int, img_shape: Any) -> tuple[torch.Tensor, ...]:
        from rdet_apps.export.ops import multilevel_roi_align_rotated

        roi_head = self.model.roi_head
        extractor = roi_head.bbox_roi_extractor
        proposals = self._proposals(x, img_id, img_shape)
        rois = torch.cat([proposals.new_full((proposals.shape[0], 1), float(img_id)), proposals], 1)
        feats = x[: extractor.num_inputs]
        levels = extractor.map_roi_levels(rois, len(feats))
        layer = extractor.roi_layers[0]
        bbox_feats = multilevel_roi_align_rotated(
            [f.float() for f in feats],
            rois.float(),
            levels,
            [float(lay.spatial_scale) for lay in extractor.roi_layers],
            tuple(layer.output_size),
            int(layer.sampling_ratio),
            bool(layer.aligned),
            bool(layer.clockwise),
        )
        head = roi_head.bbox_head
        preds = dict(zip(head.pred_names, head(bbox_feats)))
        boxes, scores = head.decode_rois(rois, preds, img_shape, 1.0, False)
        if boxes.shape[1] != 5:
            raise UnsupportedModelError(
                "class-specific box regression (reg_class_agnostic=False) does not export"
            )
        scores = _scores_without_background(head, scores, self.num_classes)
        return boxes, scores, scores.new_ones(scores.shape[0])

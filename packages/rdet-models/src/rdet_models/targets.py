"""Training targets of heads, with named fields (what MMDetection 2.x passed as tuples).

``ImageAnchorTargets``: one image's per-anchor targets (dense heads). ``AnchorTargets``: a
batch's targets split per feature level, with the loss normaliser; ``.level(i)`` gives the
``LevelTargets`` that a head's ``loss_level`` gets. ``RoITargets``: the sampled RoIs' targets
of a box head (positives first in each image, images concatenated). ``ImagePointTargets`` /
``PointTargets``: the same for anchor-free heads (FCOS): labels, side distances, angles and
centerness per point, split per level.

A head with targets of its own (CSL's angle bins, Gliding Vertex's fix and ratio) returns them
in ``extra``, a dict of named tensors shaped like the others (one row per anchor or RoI): the
generic code unmaps, splits and concatenates every entry, so a new head adds targets by name
without touching the shared loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from rdet_models.anchors.utils import images_to_levels, unmap

__all__ = [
    "AnchorTargets",
    "ImageAnchorTargets",
    "ImagePointTargets",
    "LevelTargets",
    "PointTargets",
    "RoITargets",
    "centerness_target",
]


@dataclass
class ImageAnchorTargets:
    """One image's targets for every anchor (``A`` = all anchors of all levels, concatenated).

    Attributes:
        labels: (A,) long; the class of a positive, ``num_classes`` (background) elsewhere.
        label_weights: (A,) float; 0 for anchors neither sampled nor inside the image.
        bbox_targets: (A, reg_dim) encoded deltas (or boxes with ``reg_decoded_bbox``).
        bbox_weights: (A, reg_dim) float; 1 on the positives.
        sampling_result: The assigner's and sampler's choice (``pos_inds`` index the anchors
            inside the image, before unmapping).
        extra: Per-anchor targets of a subclass by name, (A, ...) each.
    """

    labels: torch.Tensor
    label_weights: torch.Tensor
    bbox_targets: torch.Tensor
    bbox_weights: torch.Tensor
    sampling_result: Any
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def num_pos(self) -> int:
        return int(self.sampling_result.pos_inds.numel())

    @property
    def num_neg(self) -> int:
        return int(self.sampling_result.neg_inds.numel())

    def unmapped(self, total: int, inside: torch.Tensor, background: int) -> ImageAnchorTargets:
        """The targets of the ``inside`` anchors scattered back onto all ``total`` anchors
        (labels filled with ``background``, everything else with 0)."""
        return ImageAnchorTargets(
            unmap(self.labels, total, inside, fill=background),
            unmap(self.label_weights, total, inside),
            unmap(self.bbox_targets, total, inside),
            unmap(self.bbox_weights, total, inside),
            self.sampling_result,
            {name: unmap(t, total, inside) for name, t in self.extra.items()},
        )


@dataclass
class LevelTargets:
    """One feature level's targets of a batch (``A_l`` anchors of that level per image).

    Attributes:
        anchors: (N, A_l, 5) or (N, A_l, 4) anchors.
        labels / label_weights: (N, A_l).
        bbox_targets / bbox_weights: (N, A_l, reg_dim).
        extra: A subclass's targets by name, (N, A_l, ...) each.
        avg_factor: The loss normaliser of the whole batch (positives, plus negatives when the
            head samples).
    """

    anchors: torch.Tensor
    labels: torch.Tensor
    label_weights: torch.Tensor
    bbox_targets: torch.Tensor
    bbox_weights: torch.Tensor
    extra: dict[str, torch.Tensor]
    avg_factor: int


@dataclass
class AnchorTargets:
    """A batch's anchor targets split per level (``L`` levels, ``N`` images).

    Attributes:
        anchors / labels / label_weights / bbox_targets / bbox_weights: L tensors (N, A_l, ...).
        extra: A subclass's targets by name, each L tensors (N, A_l, ...).
        num_total_pos / num_total_neg: Positives / negatives over the batch (at least 1 per image,
            as MMDetection counts them).
        avg_factor: The loss normaliser (``num_total_pos``, plus ``num_total_neg`` when sampling).
        sampling_results: N per-image sampling results.
    """

    anchors: list[torch.Tensor]
    labels: list[torch.Tensor]
    label_weights: list[torch.Tensor]
    bbox_targets: list[torch.Tensor]
    bbox_weights: list[torch.Tensor]
    extra: dict[str, list[torch.Tensor]]
    num_total_pos: int
    num_total_neg: int
    avg_factor: int
    sampling_results: list[Any]

    @classmethod
    def from_images(
        cls,
        per_image: list[ImageAnchorTargets],
        anchors: list[torch.Tensor],
        num_level_anchors: list[int],
        sampling: bool,
    ) -> AnchorTargets:
        """Stack N images' unmapped targets and split them per level.

        Args:
            per_image: N unmapped targets (A rows each).
            anchors: N (A, 5) anchors of all levels, concatenated.
            num_level_anchors: A_l of each level.
            sampling: Whether negatives count in the loss normaliser.
        """

        def levels(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            return images_to_levels(ts, num_level_anchors)

        num_pos = sum(max(t.num_pos, 1) for t in per_image)
        num_neg = sum(max(t.num_neg, 1) for t in per_image)
        names = list(per_image[0].extra) if per_image else []
        return cls(
            anchors=levels(anchors),
            labels=levels([t.labels for t in per_image]),
            label_weights=levels([t.label_weights for t in per_image]),
            bbox_targets=levels([t.bbox_targets for t in per_image]),
            bbox_weights=levels([t.bbox_weights for t in per_image]),
            extra={name: levels([t.extra[name] for t in per_image]) for name in names},
            num_total_pos=num_pos,
            num_total_neg=num_neg,
            avg_factor=num_pos + num_neg if sampling else num_pos,
            sampling_results=[t.sampling_result for t in per_image],
        )

    @property
    def num_levels(self) -> int:
        return len(self.labels)

    def level(self, i: int) -> LevelTargets:
        """The targets of level ``i``."""
        return LevelTargets(
            anchors=self.anchors[i],
            labels=self.labels[i],
            label_weights=self.label_weights[i],
            bbox_targets=self.bbox_targets[i],
            bbox_weights=self.bbox_weights[i],
            extra={name: ts[i] for name, ts in self.extra.items()},
            avg_factor=self.avg_factor,
        )


@dataclass
class RoITargets:
    """Targets of the sampled RoIs of a batch (``R`` RoIs: per image positives then negatives,
    images concatenated in order).

    Attributes:
        labels: (R,) long; ``num_classes`` (background) for the negatives.
        label_weights: (R,) float.
        bbox_targets: (R, reg_dim) encoded deltas (or boxes with ``reg_decoded_bbox``).
        bbox_weights: (R, reg_dim).
        extra: A box head's other targets by name, (R, ...) each (Gliding Vertex:
            ``fix_targets`` / ``fix_weights`` (R, 4), ``ratio_targets`` / ``ratio_weights`` (R, 1)).
    """

    labels: torch.Tensor
    label_weights: torch.Tensor
    bbox_targets: torch.Tensor
    bbox_weights: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def cat(cls, per_image: list[RoITargets]) -> RoITargets:
        """One image after another (``torch.cat`` of every field)."""
        names = list(per_image[0].extra) if per_image else []
        return cls(
            torch.cat([t.labels for t in per_image]),
            torch.cat([t.label_weights for t in per_image]),
            torch.cat([t.bbox_targets for t in per_image]),
            torch.cat([t.bbox_weights for t in per_image]),
            {name: torch.cat([t.extra[name] for t in per_image]) for name in names},
        )


@dataclass
class ImagePointTargets:
    """One image's targets for every point of an anchor-free head (``P`` = all points of all
    levels, concatenated).

    Attributes:
        labels: (P,) long; the class of the gt a point regresses to, ``num_classes`` (background)
            for the others.
        bbox_targets: (P, 4) distances (px) from the point to the gt's sides ``(left, top,
            right, bottom)``, in the gt's own frame.
        angle_targets: (P, 1) the gt's angle (radians), or (P, coding_len) encoded (CSL).
        extra: Per-point targets of a subclass by name, (P, ...) each.
    """

    labels: torch.Tensor
    bbox_targets: torch.Tensor
    angle_targets: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class PointTargets:
    """A batch's point targets per level (``L`` levels, ``N`` images, ``P_l`` points of level
    ``l`` per image); in each level the images follow one another (MMDetection's order, that of
    ``pred.permute(0, 2, 3, 1).reshape(-1, C)``).

    Attributes:
        points: L tensors (P_l, 2), the points ``(x, y)`` px (the same for every image).
        labels: L tensors (N * P_l,) long; ``num_classes`` for background.
        bbox_targets: L tensors (N * P_l, 4) side distances, divided by the level's stride
            when the head normalises them (``norm_on_bbox``).
        angle_targets: L tensors (N * P_l, 1) radians, or (N * P_l, coding_len) encoded.
        centerness: L tensors (N * P_l,) FCOS's centerness of the positives'
            ``bbox_targets`` (``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``), 0 elsewhere.
        extra: A subclass's targets by name, each L tensors (N * P_l, ...).
        num_imgs: N.
        num_classes: The background label.
    """

    points: list[torch.Tensor]
    labels: list[torch.Tensor]
    bbox_targets: list[torch.Tensor]
    angle_targets: list[torch.Tensor]
    centerness: list[torch.Tensor]
    extra: dict[str, list[torch.Tensor]]
    num_imgs: int
    num_classes: int

    @classmethod
    def from_images(
        cls,
        per_image: list[ImagePointTargets],
        points: list[torch.Tensor],
        num_classes: int,
        bbox_scales: list[float] | None = None,
    ) -> PointTargets:
        """Split N images' targets per level, images concatenated within a level.

        Args:
            per_image: N targets (P rows each).
            points: L (P_l, 2) points.
            num_classes: The background label.
            bbox_scales: per level, a divisor of ``bbox_targets`` (the strides with
                ``norm_on_bbox``), or None.
        """
        sizes = [p.size(0) for p in points]

        def levels(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            split = [t.split(sizes, 0) for t in ts]
            return [torch.cat([s[i] for s in split]) for i in range(len(sizes))]

        labels = levels([t.labels for t in per_image])
        bbox_targets = levels([t.bbox_targets for t in per_image])
        if bbox_scales is not None:
            bbox_targets = [b / s for b, s in zip(bbox_targets, bbox_scales)]
        names = list(per_image[0].extra) if per_image else []
        return cls(
            points=list(points),
            labels=labels,
            bbox_targets=bbox_targets,
            angle_targets=levels([t.angle_targets for t in per_image]),
            centerness=[
                _centerness(b, (lab >= 0) & (lab < num_classes)) for b, lab in zip(bbox_targets, labels)
            ],
            extra={name: levels([t.extra[name] for t in per_image]) for name in names},
            num_imgs=len(per_image),
            num_classes=num_classes,
        )

    @property
    def num_levels(self) -> int:
        return len(self.labels)

    def flat(self, name: str) -> torch.Tensor:
        """A field (or an ``extra`` entry) with all levels concatenated: (N * P, ...)."""
        value = self.extra[name] if name in self.extra else getattr(self, name)
        return torch.cat(value)

    def flat_points(self) -> torch.Tensor:
        """(N * P, 2): each level's points repeated per image, levels concatenated (the rows of
        ``flat``)."""
        return torch.cat([p.repeat(self.num_imgs, 1) for p in self.points])

    def pos_inds(self) -> torch.Tensor:
        """(num_pos,) indices of the positives in the ``flat`` rows."""
        labels = self.flat("labels")
        return ((labels >= 0) & (labels < self.num_classes)).nonzero().reshape(-1)


def centerness_target(pos_bbox_targets: torch.Tensor) -> torch.Tensor:
    """FCOS's centerness of (n, 4) side distances -> (n,) in [0, 1] (MMDetection's formula;
    only meaningful for positives: a zero distance gives NaN)."""
    left_right = pos_bbox_targets[:, [0, 2]]
    top_bottom = pos_bbox_targets[:, [1, 3]]
    if len(left_right) == 0:
        return torch.sqrt(left_right[..., 0])
    ratio = (left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0]) * (
        top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]
    )
    return torch.sqrt(ratio)


def _centerness(bbox_targets: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    out = bbox_targets.new_zeros(bbox_targets.shape[0])
    out[pos] = centerness_target(bbox_targets[pos])
    return out

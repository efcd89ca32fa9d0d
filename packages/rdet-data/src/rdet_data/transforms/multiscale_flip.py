"""Test-time augmentation: ``MultiScaleFlipAug`` runs its transforms once per scale and flip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_bool, check_number, check_scales
from rdet_data.transforms.compose import Compose

__all__ = ["MultiScaleFlipAug"]

FLIP_DIRECTIONS = ("horizontal", "vertical", "diagonal")


def _scales(img_scale: Any, owner: str = "MultiScaleFlipAug") -> list[tuple[int, int]]:
    """A list of (long, short) pairs; a bare pair (tuple, or a list of two numbers from JSON) is one scale."""
    return check_scales(owner, img_scale)


@TRANSFORMS.register_module()
class MultiScaleFlipAug:
    """MMDetection's ``MultiScaleFlipAug``: a dict of lists, one entry per (scale, flip).

    Args:
        transforms: The transforms run for each augmentation (``RResize`` without
            ``img_scale`` reads ``results['scale']``).
        img_scale: One ``(long, short)`` pair or a list of them.
        scale_factor: Instead of ``img_scale``: one factor or a list of factors.
        flip: Also run each scale flipped.
        flip_direction: Direction(s) of the flipped runs.

    Raises:
        ValueError: ``img_scale`` not (long, short) pairs of positive ints,
            ``scale_factor`` not numbers > 0, an unknown ``flip_direction``, ``flip=True``
            without ``RRandomFlip`` (or with ``Pad`` before it).

    Output: ``{'img': [...], 'img_metas': [...], ...}``, lists in the order scales x (no flip,
    flips); ``rdet_data.collate`` makes one ``DetBatch`` per augmentation from it.
    """

    def __init__(
        self,
        transforms: Sequence[Any],
        img_scale: Any = None,
        scale_factor: float | Sequence[float] | None = None,
        flip: bool = False,
        flip_direction: str | Sequence[str] = "horizontal",
    ):
        check_bool("MultiScaleFlipAug", "flip", flip)
        if (img_scale is None) == (scale_factor is None):
            raise ValueError("give exactly one of img_scale and scale_factor")
        self.transforms = Compose(transforms)
        if img_scale is not None:
            self.img_scale = _scales(img_scale)
            self.scale_key = "scale"
        else:
            factors = list(scale_factor) if isinstance(scale_factor, (list, tuple)) else [scale_factor]
            self.img_scale = [
                float(check_number(type(self).__name__, "scale_factor", f, low=0, low_open=True))
                for f in factors
            ]
            self.scale_key = "scale_factor"
        if not self.img_scale:
            what = "img_scale" if img_scale is not None else "scale_factor"
            raise ValueError(f"MultiScaleFlipAug: {what} is empty: give at least one scale")
        self.flip = flip
        self.flip_direction = [flip_direction] if isinstance(flip_direction, str) else list(flip_direction)
        bad = [d for d in self.flip_direction if d not in FLIP_DIRECTIONS]
        if bad or not self.flip_direction:
            raise ValueError(
                f"MultiScaleFlipAug: flip_direction {flip_direction!r}: each must be one of "
                f"{', '.join(FLIP_DIRECTIONS)}"
            )
        if flip:
            from rdet_data.transforms.geometric import RRandomFlip
            from rdet_data.transforms.image import Pad

            steps = self.transforms.transforms
            flips = [i for i, t in enumerate(steps) if isinstance(t, RRandomFlip)]
            if not flips:
                raise ValueError(
                    "MultiScaleFlipAug(flip=True) needs dict(type='RRandomFlip') in its transforms, after "
                    "RResize (else the images are not flipped but their metas say so)"
                )
            if any(isinstance(t, Pad) for t in steps[: flips[0]]):
                raise ValueError(
                    "MultiScaleFlipAug(flip=True): RRandomFlip must come before Pad (flipping the padded "
                    "image moves the boxes by the padding)"
                )

    def __call__(self, results: dict[str, Any]) -> dict[str, list[Any]]:
        flips = [(False, None)] + ([(True, d) for d in self.flip_direction] if self.flip else [])
        augs = []
        for scale in self.img_scale:
            for flip, direction in flips:
                r = dict(results)
                r[self.scale_key] = tuple(scale) if isinstance(scale, (list, tuple)) else scale
                r["flip"] = flip
                r["flip_direction"] = direction
                out = self.transforms(r)
                if out is None:
                    raise RuntimeError("a test-time transform returned None")
                augs.append(out)
        return {key: [a[key] for a in augs] for key in augs[0]}

    def __repr__(self) -> str:
        return (
            f"MultiScaleFlipAug(transforms={self.transforms!r}, img_scale={self.img_scale}, flip={self.flip})"
        )

"""Formatting: arrays to tensors (``DefaultFormatBundle``), pick keys and metas (``Collect``).

``Collect`` gives MMRotate's dict ``{'img': (3, H, W) float tensor, 'img_metas': ImageMeta,
'gt_bboxes': (n, 5) tensor, 'gt_labels': (n,) tensor, ...}`` with the metas typed as
``rdet_core.structures.ImageMeta`` (``.as_mmrotate()`` gives MMRotate's dict);
``rdet_data.collate`` turns a list of them into a ``DetBatch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rdet_core.structures import ImageMeta
from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_bool

__all__ = ["Collect", "DefaultFormatBundle", "ImageToTensor", "to_tensor"]


def to_tensor(data: Any) -> torch.Tensor:
    """numpy array, sequence, int or float -> tensor (numpy arrays without a copy)."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(data))
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, int):
        return torch.LongTensor([data])
    if isinstance(data, float):
        return torch.FloatTensor([data])
    raise TypeError(f"type {type(data)} cannot be converted to tensor")


def _image_to_chw(img: np.ndarray, to_float: bool) -> torch.Tensor:
    if img.ndim < 3:
        img = img[..., None]
    if to_float and img.dtype == np.uint8:
        img = img.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class DefaultFormatBundle:
    """``img`` -> (C, H, W) tensor (float32 from uint8 with ``img_to_float``); boxes, labels -> tensors.

    Also fills ``pad_shape``, ``scale_factor`` and ``img_norm_cfg`` when no transform did.

    Raises:
        TypeError: (at call) ``img`` is already a tensor (``DefaultFormatBundle`` listed twice).
    """

    KEYS = ("proposals", "gt_bboxes", "gt_bboxes_ignore", "gt_labels", "gt_labels_ignore", "gt_polygons")

    def __init__(self, img_to_float: bool = True, pad_val: dict | None = None):
        check_bool("DefaultFormatBundle", "img_to_float", img_to_float)
        self.img_to_float = img_to_float

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        if "img" in results:
            img = results["img"]
            if isinstance(img, torch.Tensor):
                raise TypeError(
                    "DefaultFormatBundle: results['img'] is already a tensor: the pipeline lists "
                    "DefaultFormatBundle twice (or after ImageToTensor); keep one"
                )
            results.setdefault("pad_shape", img.shape)
            results.setdefault("scale_factor", 1.0)
            channels = 1 if img.ndim < 3 else img.shape[2]
            results.setdefault(
                "img_norm_cfg",
                {
                    "mean": np.zeros(channels, np.float32),
                    "std": np.ones(channels, np.float32),
                    "to_rgb": False,
                },
            )
            results["img"] = _image_to_chw(img, self.img_to_float)
        for key in self.KEYS:
            if key in results:
                results[key] = to_tensor(results[key])
        return results

    def __repr__(self) -> str:
        return f"DefaultFormatBundle(img_to_float={self.img_to_float})"


@TRANSFORMS.register_module()
class ImageToTensor:
    """``results[key]`` (H, W, C) -> (C, H, W) tensor for each of ``keys``."""

    def __init__(self, keys: Sequence[str] = ("img",)):
        self.keys = keys

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in self.keys:
            results[key] = _image_to_chw(results[key], to_float=False)
        return results


def _hwc_shape(img: Any) -> tuple[int, ...]:
    """(H, W, C) of an image: a tensor is (C, H, W) (formatted), a numpy array (H, W[, C])."""
    shape = tuple(int(v) for v in img.shape)
    if isinstance(img, torch.Tensor) and len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    return shape


META_FIELDS = ("filename", "ori_shape", "img_shape", "pad_shape", "scale_factor", "flip", "flip_direction")
#: meta keys that MMDetection's and rdet's transforms write, present or not in a given pipeline
#: (a ``meta_keys`` entry outside these and missing from the results is a typo)
KNOWN_META_KEYS = frozenset(
    META_FIELDS
    + (
        "ori_filename",
        "img_norm_cfg",
        "img_info",
        "img_prefix",
        "scale",
        "scale_idx",
        "keep_ratio",
        "pad_fixed_size",
        "pad_size_divisor",
        "rotate",
        "rotate_angle",
        "rotate_matrix",
        "crop_offset",
        "batch_input_shape",
        "img_fields",
        "bbox_fields",
    )
)


@TRANSFORMS.register_module()
class Collect:
    """Keep ``keys`` and gather ``meta_keys`` into ``img_metas`` (an ``ImageMeta``).

    Meta keys that ``ImageMeta`` has no field for (``ori_filename``, ``img_norm_cfg``, ...)
    go to ``ImageMeta.extra``; ones that the pipeline did not make (no ``Pad``: no
    ``pad_shape``) are left out (``img_shape`` and ``ori_shape`` then default to the image's
    (H, W, C)). Errors, where MMDetection raises a ``KeyError`` on the first image or its
    detections come out wrong without a word:

    * a key of ``keys`` missing from the results;
    * a meta key that no transform makes (a typo: ``scale_factr``), missing from the results;
    * at test time (``keys`` without ``gt_bboxes``), a resize, flip or original shape that the
      pipeline made but ``meta_keys`` leaves out (``scale_factor``, ``flip``, ``flip_direction``,
      ``ori_shape``): the detections would be mapped back to the image without it. The output is the ``Collect`` dict of the dataset contract
    (``rdet_core.structures.DetSample``); ``rdet_data.collate`` checks it.
    """

    def __init__(
        self,
        keys: Sequence[str],
        meta_keys: Sequence[str] = (
            "filename",
            "ori_filename",
            "ori_shape",
            "img_shape",
            "pad_shape",
            "scale_factor",
            "flip",
            "flip_direction",
            "img_norm_cfg",
        ),
    ):
        self.keys = tuple(keys)
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key in self.meta_keys:
            if key not in results:
                if key not in KNOWN_META_KEYS:
                    raise KeyError(self._unknown_meta_key(key, results))
                continue
            (fields if key in META_FIELDS else extra)[key] = results[key]
        if "gt_bboxes" not in self.keys:  # training maps nothing back (the boxes moved with the image)
            self._check_nothing_left_out(results)
        missing = [key for key in self.keys if key not in results]
        if missing:
            raise KeyError(
                f"Collect: {missing} not in the results (have {sorted(results)}); "
                "is a loading step (LoadImageFromFile, LoadAnnotations) missing from the pipeline?"
            )
        fields.setdefault("filename", None)
        fields.setdefault("img_shape", _hwc_shape(results["img"]) if "img" in results else ())
        fields.setdefault("ori_shape", fields["img_shape"])
        if isinstance(fields.get("scale_factor"), float):
            fields["scale_factor"] = np.full(4, fields["scale_factor"], np.float32)
        if not fields.get("flip"):
            fields["flip"] = False
            fields["flip_direction"] = None
        for key in ("ori_shape", "img_shape", "pad_shape"):
            if fields.get(key) is not None:
                fields[key] = tuple(int(v) for v in fields[key])
        data = {"img_metas": ImageMeta(**fields, extra=extra)}
        for key in self.keys:
            data[key] = results[key]
        return data

    def _unknown_meta_key(self, key: str, results: dict[str, Any]) -> str:
        import difflib

        near = difflib.get_close_matches(key, sorted(KNOWN_META_KEYS | set(results)), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        return (
            f"Collect: meta key {key!r} is not made by any transform before it (the results have "
            f"{sorted(results)}){hint}"
        )

    def _check_nothing_left_out(self, results: dict[str, Any]) -> None:
        """A resize / flip / original shape that ``meta_keys`` drops would leave the detections
        at the network's scale, unflipped, or clipped to the wrong image."""
        changed = []
        scale = results.get("scale_factor")
        if "scale_factor" not in self.meta_keys and scale is not None and not np.allclose(scale, 1):
            changed.append(f"scale_factor (the image was resized by {np.round(scale, 4).tolist()})")
        if results.get("flip") and ("flip" not in self.meta_keys or "flip_direction" not in self.meta_keys):
            changed.append(f"flip / flip_direction (the image was flipped {results.get('flip_direction')})")
        ori, img = results.get("ori_shape"), results.get("img_shape")
        if "ori_shape" not in self.meta_keys and ori is not None and tuple(ori)[:2] != tuple(img or ori)[:2]:
            changed.append(f"ori_shape ({tuple(ori)[:2]}, the image is now {tuple(img)[:2]})")
        if changed:
            raise ValueError(
                f"Collect: meta_keys={list(self.meta_keys)} leaves out {'; '.join(changed)}: the "
                "detections could not be mapped back to the original image; add the key(s) to meta_keys"
            )

    def __repr__(self) -> str:
        return f"Collect(keys={self.keys}, meta_keys={self.meta_keys})"

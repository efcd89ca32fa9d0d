"""``Albu``: MMDetection 2.x's wrapper of albumentations, for rotated boxes.

albumentations is an optional extra (``pip install rdet-data[albu]``), imported when an
``Albu`` is built, never at package import.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
import re
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

import rbox_geometry as rg
from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_bool, check_image, check_number
from rdet_data.transforms.geometric import BBOX2LABEL, _bbox_fields
from rdet_data.transforms.loading import mark_geometric

__all__ = ["Albu"]

_INSTALL_HINT = "Albu needs albumentations>=1.3: pip install rdet-data[albu]"
_MIN_VERSION = (1, 3)
#: albumentations' keypoints put a pixel's centre at integer coordinates (a flip maps x to
#: ``cols - 1 - x``); rdet's at ``+ 0.5``. Corners go in shifted by this and come back.
_PIXEL_INDEX_OFFSET = 0.5
#: ``bbox_params`` keys that mean something for rotated boxes (see ``Albu``)
_BBOX_PARAMS = ("type", "format", "label_fields", "min_area", "min_visibility", "filter_lost_elements",
                "check_each_transform")  # fmt: skip


def _import_albumentations() -> ModuleType:
    """The ``albumentations`` module; ImportError naming the extra when missing or older than 1.3."""
    try:
        albu = importlib.import_module("albumentations")
    except ImportError as err:
        raise ImportError(f"{_INSTALL_HINT} ({err})") from err
    version = str(getattr(albu, "__version__", "0"))
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if parts < _MIN_VERSION:
        raise ImportError(f"{_INSTALL_HINT} (albumentations {version} is installed)")
    return albu


@TRANSFORMS.register_module()
class Albu:
    """albumentations transforms on the image, with rotated boxes (MMDetection 2.x's ``Albu``).

    Args:
        transforms: albumentations transform configs, ``dict(type='RandomBrightnessContrast',
            p=0.2)``; ``type`` is a name in ``albumentations`` (or a class); ``OneOf`` and the
            other compositions take ``transforms`` lists, built the same way.
        bbox_params: MMDetection's ``dict(type='BboxParams', format='pascal_voc',
            label_fields=['gt_labels'], min_visibility=0.0, filter_lost_elements=True)``,
            read for rotated boxes (below): ``min_visibility``, ``min_area`` (pixels) and
            ``label_fields`` (more per-box keys to filter with ``gt_bboxes``) apply; ``format``,
            ``filter_lost_elements`` and ``check_each_transform`` are accepted and have no
            effect (the boxes are rotated, and the labels are always filtered with them).
        keymap: ``{results key: albumentations key}``; default MMDetection's ``{'img': 'image',
            'gt_masks': 'masks', 'gt_bboxes': 'bboxes'}``. Exactly one key maps to ``'image'``;
            ``'bboxes'`` entries are accepted (the box fields are ``bbox_fields``, carried as
            below); other keys present in the results go to albumentations under the mapped
            name and come back under theirs.
        update_pad_shape: Set ``pad_shape`` to the new image shape (MMDetection's).
        skip_img_without_anno: Return None (the dataset draws another image) when no
            ``gt_bboxes`` are left.
        version: Angle version of the boxes (rdet's addition: a box moved by a geometric
            transform is rebuilt in it). Required when a transform is geometric: the config's
            ``angle_version``, as the other transforms take it.

    Rotated boxes (MMDetection's ``Albu`` knows only horizontal ones):

    * Only photometric transforms (every leaf an ``albumentations.ImageOnlyTransform``): the
      image alone goes through albumentations; boxes, labels and their count are untouched.
    * Any other transform (a ``DualTransform``: flips, rotations, crops, resizes, affine, ...):
      each box goes as its four corners, albumentations keypoints (``KeypointParams('xy',
      remove_invisible=False)``, in its pixel-index frame: rdet's coordinates minus half a
      pixel), and comes back as the minimum-area rectangle of the moved corners
      (``rbox_geometry.min_area_rect``) in ``version``. This is exact for flips, transposes,
      rotations, shifts, crops and pads; albumentations scales keypoints in its pixel-index frame
      (``x * s``), so after a resize by ``s`` a box is up to ``|1 - s| / 2`` px off the pixels;
      shear, unequal scaling and perspective turn a rectangle into a quadrilateral, whose
      enclosing rectangle is taken (as ``RResize(keep_ratio=False)``); non-affine warps
      (``ElasticTransform``, ``GridDistortion``, ...) move only the corners exactly. Boxes are
      never clipped; a box is dropped (with its ``gt_labels`` / ``label_fields`` entries) when
      no part of it is left in the image, its visible fraction (area inside the image over its
      area) is under ``min_visibility`` or its visible area under ``min_area``. ``img_shape`` follows the image. A transform that
      cannot move keypoints is an error naming it: boxes are never left behind.

    Every ``img_fields`` entry goes through the same draw (albumentations' additional image
    targets). Randomness: albumentations 1.3 draws from ``random`` and ``numpy.random``, which
    ``build_dataloader`` seeds; versions that keep their own generators (``Compose.set_random_seed``)
    are reseeded from ``numpy.random`` before each image, so seeded runs repeat either way.
    A geometric transform does not update ``scale_factor`` / ``flip``: detections cannot be
    mapped back through it (for training pipelines, as in MMDetection).

    Raises:
        ImportError: (at build) albumentations missing or older than 1.3, naming
            ``pip install rdet-data[albu]``.
        ValueError: (at build) ``transforms`` not a list of dicts with ``type``, a ``type`` that
            albumentations does not have (with the closest names), ``bbox_params`` not a dict of
            the keys above, ``keymap`` without exactly one ``'image'`` or mapping to
            ``'keypoints'``, an unknown ``version``; (at call) a geometric transform that cannot
            move keypoints while the results hold boxes.
        TypeError: (at build) an albumentations transform rejects an argument (named).
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    def __init__(
        self,
        transforms: Sequence[Mapping[str, Any]],
        bbox_params: Mapping[str, Any] | None = None,
        keymap: Mapping[str, str] | None = None,
        update_pad_shape: bool = False,
        skip_img_without_anno: bool = False,
        version: str | None = None,
    ):
        check_bool("Albu", "update_pad_shape", update_pad_shape)
        check_bool("Albu", "skip_img_without_anno", skip_img_without_anno)
        _import_albumentations()
        if not isinstance(transforms, (list, tuple)):
            raise ValueError(f"Albu: transforms must be a list of albumentations configs, got {transforms!r}")
        if version is not None:
            rg.angles.check_version(version)
        self.transforms = copy.deepcopy(list(transforms))  # MMDetection's: the builder pops keys
        self.bbox_params = self._check_bbox_params(bbox_params)
        self.min_visibility = float(self.bbox_params.get("min_visibility", 0.0))
        self.min_area = float(self.bbox_params.get("min_area", 0.0))
        self.label_fields = list(self.bbox_params.get("label_fields", []))
        if keymap is None:
            keymap = {"img": "image", "gt_masks": "masks", "gt_bboxes": "bboxes"}
        self.keymap_to_albu = self._check_keymap(keymap)
        self.keymap_back = {v: k for k, v in self.keymap_to_albu.items()}
        self.image_key = self.keymap_back["image"]
        self.update_pad_shape = update_pad_shape
        self.skip_img_without_anno = skip_img_without_anno
        self.version = version
        # the leaves, built once to classify them (each Compose builds its own)
        self._leaves = [leaf for t in self.transforms for leaf in self._leaves_of(self.albu_builder(t))]
        self.geometric = [
            leaf for leaf in self._leaves if not isinstance(leaf, self._albu.ImageOnlyTransform)
        ]
        self._augs: dict[tuple[str, ...], Any] = {}  # extra image fields -> Compose
        if self.geometric and version is None:
            names = ", ".join(sorted({type(leaf).__name__ for leaf in self.geometric}))
            raise ValueError(
                f"Albu: {names} move(s) the boxes, which are rebuilt in an angle version: give "
                "version= (the pipeline's angle_version, e.g. version=angle_version)"
            )

    # -- build ------------------------------------------------------------------------------------

    @property
    def _albu(self) -> ModuleType:
        """The albumentations module (not kept on the object, so that it pickles for workers)."""
        return importlib.import_module("albumentations")

    def albu_builder(self, cfg: Mapping[str, Any]) -> Any:
        """An albumentations transform from ``dict(type=..., **args)`` (``transforms`` built inside)."""
        if not isinstance(cfg, Mapping) or "type" not in cfg:
            raise ValueError(f"Albu: each transform must be a dict with a 'type', got {cfg!r}")
        args = dict(cfg)
        obj_type = args.pop("type")
        if isinstance(obj_type, str):
            obj_cls = getattr(self._albu, obj_type, None)
            if not inspect.isclass(obj_cls):
                names = [n for n in dir(self._albu) if inspect.isclass(getattr(self._albu, n, None))]
                near = difflib.get_close_matches(obj_type, names, n=3)
                hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
                raise ValueError(f"Albu: albumentations has no transform {obj_type!r}{hint}")
        elif inspect.isclass(obj_type):
            obj_cls = obj_type
        else:
            raise ValueError(
                f"Albu: 'type' must be a str or a class, got {type(obj_type).__name__}: {obj_type!r}"
            )
        if "transforms" in args:
            args["transforms"] = [self.albu_builder(t) for t in args["transforms"]]
        try:
            return obj_cls(**args)
        except TypeError as e:
            raise TypeError(f"Albu: {obj_cls.__name__}: {e}") from e

    @staticmethod
    def _leaves_of(t: Any) -> list[Any]:
        """The transforms inside compositions (``OneOf``, ``Sequential``, ...), flattened."""
        children = getattr(t, "transforms", None)
        if isinstance(children, (list, tuple)):
            return [leaf for c in children for leaf in Albu._leaves_of(c)]
        return [t]

    @staticmethod
    def _check_bbox_params(bbox_params: Any) -> dict[str, Any]:
        if bbox_params is None:
            return {}
        if not isinstance(bbox_params, Mapping):
            raise ValueError(
                f"Albu: bbox_params must be a dict (MMDetection's BboxParams config), got {bbox_params!r}"
            )
        unknown = sorted(set(bbox_params) - set(_BBOX_PARAMS))
        if unknown:
            raise ValueError(
                f"Albu: bbox_params {unknown} do not apply to rotated boxes (accepted: {list(_BBOX_PARAMS)})"
            )
        if bbox_params.get("type", "BboxParams") != "BboxParams":
            raise ValueError(f"Albu: bbox_params type must be 'BboxParams', got {bbox_params['type']!r}")
        check_number("Albu", "bbox_params min_visibility", bbox_params.get("min_visibility", 0.0), 0, 1)
        check_number("Albu", "bbox_params min_area", bbox_params.get("min_area", 0.0), low=0)
        fields = bbox_params.get("label_fields", [])
        if not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields):
            raise ValueError(f"Albu: bbox_params label_fields must be a list of keys, got {fields!r}")
        return dict(bbox_params)

    @staticmethod
    def _check_keymap(keymap: Any) -> dict[str, str]:
        if not isinstance(keymap, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keymap.items()
        ):
            raise ValueError(
                f"Albu: keymap must be a dict of {{results key: albumentations key}}, got {keymap!r}"
            )
        images = [k for k, v in keymap.items() if v == "image"]
        if len(images) != 1:
            raise ValueError(f"Albu: keymap must map exactly one key to 'image', got {dict(keymap)}")
        taken = [k for k, v in keymap.items() if v == "keypoints"]
        if taken:
            raise ValueError(
                f"Albu: keymap maps {taken} to 'keypoints', which carries the rotated boxes' corners"
            )
        return dict(keymap)

    def _compose(self, extra_images: tuple[str, ...]) -> Any:
        """The albumentations ``Compose`` for these extra image fields (one per field set, cached)."""
        aug = self._augs.get(extra_images)
        if aug is None:
            kwargs: dict[str, Any] = {}
            if extra_images:
                kwargs["additional_targets"] = {
                    self._extra_name(i): "image" for i in range(len(extra_images))
                }
            if self.geometric:
                kwargs["keypoint_params"] = self._albu.KeypointParams(format="xy", remove_invisible=False)
            aug = self._albu.Compose([self.albu_builder(t) for t in self.transforms], **kwargs)
            self._augs[extra_images] = aug
        return aug

    @staticmethod
    def _extra_name(i: int) -> str:
        return f"rdet_image_{i}"

    # -- call -------------------------------------------------------------------------------------

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        img = check_image(results, "Albu", self.image_key)
        extra = tuple(
            k for k in dict.fromkeys(results.get("img_fields", [self.image_key])) if k != self.image_key
        )
        for key in extra:
            check_image(results, "Albu", key)
        aug = self._compose(extra)
        data: dict[str, Any] = {"image": img}
        for i, key in enumerate(extra):
            data[self._extra_name(i)] = results[key]
        passed = {
            k: v
            for k, v in self.keymap_to_albu.items()
            if k in results and v not in ("image", "bboxes") and k not in extra
        }
        for key, name in passed.items():
            data[name] = results[key]
        fields = _bbox_fields(results) if self.geometric else []
        boxes = {k: np.asarray(results[k], np.float32).reshape(-1, 5) for k in fields}
        if self.geometric:
            if fields:
                self._check_keypoint_support()
            corners = [
                np.asarray(rg.obb2poly(b.astype(np.float64), self.version)).reshape(-1, 2)
                for b in boxes.values()
            ]
            points = np.concatenate(corners) - _PIXEL_INDEX_OFFSET if corners else np.zeros((0, 2))
            data["keypoints"] = [tuple(p) for p in points.tolist()]
        if hasattr(aug, "set_random_seed"):  # newer albumentations: its own generators
            aug.set_random_seed(int(np.random.randint(2**31 - 1)))
        try:
            out = aug(**data)
        except NotImplementedError as e:
            raise NotImplementedError(
                f"Albu: {e} (rdet carries the rotated boxes as their corner keypoints)"
            ) from e
        results[self.image_key] = out["image"]
        for i, key in enumerate(extra):
            results[key] = out[self._extra_name(i)]
        for key, name in passed.items():
            results[key] = out[name]
        shape = out["image"].shape
        if "img_shape" in results or self.geometric:
            results["img_shape"] = shape
        if self.update_pad_shape:
            results["pad_shape"] = shape
        if self.geometric:
            self._move_boxes(results, boxes, out["keypoints"], shape)
            mark_geometric(results, "Albu")
        if self.skip_img_without_anno and "gt_bboxes" in results and not len(results["gt_bboxes"]):
            return None
        return results

    def _check_keypoint_support(self) -> None:
        """A geometric transform that declares no keypoint target would leave the boxes behind."""
        for leaf in self.geometric:
            targets = getattr(leaf, "targets", None)
            if isinstance(targets, Mapping) and "keypoints" not in targets:
                raise ValueError(
                    f"Albu: {type(leaf).__name__} cannot move keypoints, and rdet carries the rotated "
                    "boxes as their corner keypoints: the boxes would be left behind; remove it, or use "
                    "it only in pipelines without boxes"
                )

    def _move_boxes(
        self, results: dict[str, Any], boxes: dict[str, np.ndarray], keypoints: Any, shape: tuple[int, ...]
    ) -> None:
        """Rebuild each box field from its moved corners; drop boxes left outside the image."""
        points = np.asarray(keypoints, np.float64).reshape(-1, 2)
        total = sum(len(b) for b in boxes.values())
        if len(points) != 4 * total:
            raise RuntimeError(
                f"Albu: albumentations returned {len(points)} keypoints for the {total} boxes' {4 * total} "
                "corners (KeypointParams(remove_invisible=False) keeps them all)"
            )
        height, width = shape[:2]
        window = np.array([[width / 2, height / 2, width, height, 0.0]])
        start = 0
        for key, old in boxes.items():
            polys = (points[start : start + 4 * len(old)] + _PIXEL_INDEX_OFFSET).reshape(-1, 8)
            start += 4 * len(old)
            if not len(old):
                continue
            new = np.asarray(rg.min_area_rect(polys, self.version), np.float64)
            area = new[:, 2] * new[:, 3]
            visible = np.asarray(rg.rbbox_overlaps(new, window, mode="iof"))[:, 0]
            visible = np.nan_to_num(visible)
            keep = (visible > 0) & (visible >= self.min_visibility) & (visible * area >= self.min_area)
            results[key] = new[keep].astype(np.float32)
            label_keys = [BBOX2LABEL.get(key)]
            if key == "gt_bboxes":  # label_fields are albumentations-side names, as in MMDetection
                label_keys += [self.keymap_back.get(f, f) for f in self.label_fields]
            for label_key in dict.fromkeys(label_keys):
                if label_key is not None and label_key in results and label_key not in boxes:
                    results[label_key] = np.asarray(results[label_key])[keep]

    def __repr__(self) -> str:
        return f"Albu(transforms={self.transforms}, version={self.version!r})"

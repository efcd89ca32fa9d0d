"""Dataset wrappers (MMDetection 2.x): Concat, Repeat, ClassBalanced, MultiImageMix."""

from __future__ import annotations

import bisect
import copy
import math
import numbers
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import ConcatDataset as _TorchConcat
from torch.utils.data import Dataset

from rdet_data.datasets.base import DROP_REASONS, DatasetSummary
from rdet_data.registry import DATASETS
from rdet_data.transforms.compose import Compose

__all__ = ["ClassBalancedDataset", "ConcatDataset", "MultiImageMixDataset", "RepeatDataset"]


def _merge_summaries(name: str, parts: list[DatasetSummary]) -> DatasetSummary:
    per_class: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for p in parts:
        per_class.update(p["per_class"])
        dropped.update(p["dropped"])
    # a class is unseen in the whole when no part's label files name it
    first = parts[0].get("unseen_classes", {}) if parts else {}
    unseen = {c: v for c, v in first.items() if all(c in p.get("unseen_classes", {}) for p in parts)}
    keys = ("images", "images_without_objects", "images_filtered", "images_missing", "objects", "difficult",
            "ignored")  # fmt: skip
    return DatasetSummary(
        dataset=name,
        **{k: sum(p.get(k, 0) for p in parts) for k in keys},
        per_class=dict(per_class),
        dropped={r: dropped.get(r, 0) for r in DROP_REASONS},
        unseen_classes=unseen,
    )


def _check_same_classes(datasets: Sequence[Dataset]) -> None:
    """A ValueError when two of ``datasets`` have different ``CLASSES`` (parts without are skipped)."""
    parts = [(i, getattr(d, "CLASSES", None)) for i, d in enumerate(datasets)]
    parts = [(i, tuple(c)) for i, c in parts if c is not None]
    if not parts:
        return
    i0, first = parts[0]
    for i, classes in parts[1:]:
        if classes != first:
            how = "the same names in another order" if sorted(classes) == sorted(first) else "other names"
            raise ValueError(
                f"ConcatDataset: datasets[{i}] has other classes than datasets[{i0}] ({how}), so a label "
                f"would mean a different class in each part: datasets[{i0}].CLASSES = {list(first)}, "
                f"datasets[{i}].CLASSES = {list(classes)}; give every part the same classes="
            )


@DATASETS.register_module()
class ConcatDataset(_TorchConcat):
    """Several datasets as one; ``CLASSES`` from the first (all parts must have the same).

    Args:
        datasets: The datasets.
        separate_eval: ``evaluate`` scores each dataset on its own slice of the results
            (keys prefixed ``'<i>_'``); False: all together as one dataset (same type needed).

    Raises:
        ValueError: ``datasets`` is empty, or two parts have different ``CLASSES`` (other names,
            or the same in another order: label ``k`` would be another class in each part).
    """

    def __init__(self, datasets: Sequence[Dataset], separate_eval: bool = True):
        datasets = list(datasets)
        if not datasets:
            raise ValueError("ConcatDataset: datasets is empty (no dataset to concatenate)")
        _check_same_classes(datasets)
        super().__init__(datasets)
        self.CLASSES = getattr(datasets[0], "CLASSES", None)
        self.separate_eval = separate_eval
        if all(hasattr(d, "flag") for d in datasets):
            self.flag = np.concatenate([d.flag for d in datasets])

    def _locate(self, idx: int) -> tuple[int, int]:
        if idx < 0:
            if -idx > len(self):
                raise IndexError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return d, idx - (self.cumulative_sizes[d - 1] if d else 0)

    def get_ann_info(self, idx: int) -> dict[str, np.ndarray]:
        d, i = self._locate(idx)
        return self.datasets[d].get_ann_info(i)

    def get_cat_ids(self, idx: int) -> list[int]:
        d, i = self._locate(idx)
        return self.datasets[d].get_cat_ids(i)

    def evaluate(self, results: list, logger: Any = None, **kwargs: Any) -> dict[str, float]:
        """Score ``results`` (one per image of the concatenation); see ``separate_eval``."""
        if len(results) != self.cumulative_sizes[-1]:
            raise ValueError(f"{len(results)} results for {self.cumulative_sizes[-1]} images")
        if self.separate_eval:
            out: dict[str, float] = {}
            start = 0
            for i, (d, end) in enumerate(zip(self.datasets, self.cumulative_sizes)):
                for k, v in d.evaluate(results[start:end], logger=logger, **kwargs).items():
                    out[f"{i}_{k}"] = v
                start = end
            return out
        if len({type(d) for d in self.datasets}) != 1:
            raise NotImplementedError("separate_eval=False needs datasets of one type")
        first = self.datasets[0]
        saved = first.data_infos
        first.data_infos = [info for d in self.datasets for info in d.data_infos]
        try:
            return first.evaluate(results, logger=logger, **kwargs)
        finally:
            first.data_infos = saved

    def summary(self) -> DatasetSummary:
        return _merge_summaries("ConcatDataset", [d.summary() for d in self.datasets])


@DATASETS.register_module()
class RepeatDataset(Dataset):
    """``dataset`` repeated ``times`` times (fewer, longer epochs).

    Raises:
        TypeError: ``times`` is not a number (``"3"``).
        ValueError: ``times`` is not a whole number >= 1 (``0``, ``0.5``, ``-2``); an integral
            float such as ``2.0`` is accepted as ``2``.
    """

    def __init__(self, dataset: Dataset, times: int):
        if isinstance(times, bool) or not isinstance(times, numbers.Real):
            raise TypeError(
                f"RepeatDataset: times must be an integer >= 1, got {type(times).__name__} {times!r}"
            )
        if not (math.isfinite(times) and times == int(times) and times >= 1):
            raise ValueError(f"RepeatDataset: times must be an integer >= 1, got {times!r}")
        self.dataset = dataset
        self.times = int(times)
        self.CLASSES = getattr(dataset, "CLASSES", None)
        self._ori_len = len(dataset)
        if hasattr(dataset, "flag"):
            self.flag = np.tile(dataset.flag, self.times)

    def __getitem__(self, idx: int) -> Any:
        return self.dataset[idx % self._ori_len]

    def get_ann_info(self, idx: int) -> dict[str, np.ndarray]:
        return self.dataset.get_ann_info(idx % self._ori_len)

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def __len__(self) -> int:
        return self.times * self._ori_len

    def summary(self) -> DatasetSummary:
        return self.dataset.summary()


@DATASETS.register_module()
class ClassBalancedDataset(Dataset):
    """Repeat images of rare classes (LVIS repeat-factor sampling).

    For class c with f(c) the fraction of images holding it, ``r(c) = max(1, sqrt(t / f(c)))``
    with ``t = oversample_thr``; an image is repeated ``ceil(max r(c) over its classes)`` times.
    Images without objects count as class -1 unless ``filter_empty_gt`` (then r = 1).

    Raises:
        TypeError: ``oversample_thr`` is not a number.
        ValueError: ``oversample_thr`` is not in (0, 1] (0 or less repeats nothing, NaN is
            never compared, above 1 every class counts as rare).
    """

    def __init__(self, dataset: Dataset, oversample_thr: float, filter_empty_gt: bool = True):
        if isinstance(oversample_thr, bool) or not isinstance(oversample_thr, numbers.Real):
            raise TypeError(
                f"ClassBalancedDataset: oversample_thr must be a number in (0, 1], "
                f"got {type(oversample_thr).__name__} {oversample_thr!r}"
            )
        if not 0 < oversample_thr <= 1:  # NaN fails too
            raise ValueError(
                f"ClassBalancedDataset: oversample_thr must be in (0, 1], got {oversample_thr!r}"
            )
        self.dataset = dataset
        self.oversample_thr = oversample_thr
        self.filter_empty_gt = filter_empty_gt
        self.CLASSES = getattr(dataset, "CLASSES", None)
        factors = self._get_repeat_factors(dataset, oversample_thr)
        self.repeat_indices = [i for i, f in enumerate(factors) for _ in range(math.ceil(f))]
        if hasattr(dataset, "flag"):
            self.flag = np.asarray([dataset.flag[i] for i in self.repeat_indices], np.uint8)

    def _get_repeat_factors(self, dataset: Dataset, repeat_thr: float) -> list[float]:
        counts: defaultdict[int, int] = defaultdict(int)
        n = len(dataset)
        cats_of = []
        for idx in range(n):
            cats = set(dataset.get_cat_ids(idx))
            if not cats and not self.filter_empty_gt:
                cats = {-1}
            cats_of.append(cats)
            for c in cats:
                counts[c] += 1
        cat_factor = {c: max(1.0, math.sqrt(repeat_thr / (k / n))) for c, k in counts.items()}
        return [max((cat_factor[c] for c in cats), default=1.0) for cats in cats_of]

    def __getitem__(self, idx: int) -> Any:
        return self.dataset[self.repeat_indices[idx]]

    def get_ann_info(self, idx: int) -> dict[str, np.ndarray]:
        return self.dataset.get_ann_info(self.repeat_indices[idx])

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(self.repeat_indices[idx])

    def __len__(self) -> int:
        return len(self.repeat_indices)

    def summary(self) -> DatasetSummary:
        return self.dataset.summary()


@DATASETS.register_module()
class MultiImageMixDataset(Dataset):
    """Run ``pipeline`` on samples of ``dataset``, giving mixing transforms (``RMosaic``) their extra images.

    Args:
        dataset: Its own pipeline should only load (image and annotations).
        pipeline: Transform configs; one with ``get_indexes(dataset)`` receives
            ``results['mix_results']``.
        dynamic_scale: Unsupported in MMDetection 2.25+ too (raises if given).
        skip_type_keys: Transform type names to skip (e.g. turn mosaic off for the last epochs).
        max_refetch: Attempts when a transform or a mixed image gives None.
    """

    def __init__(
        self,
        dataset: Dataset,
        pipeline: Sequence[dict],
        dynamic_scale: Any = None,
        skip_type_keys: Sequence[str] | None = None,
        max_refetch: int = 15,
    ):
        if dynamic_scale is not None:
            raise RuntimeError("dynamic_scale is deprecated; use a Resize transform in the pipeline")
        self.dataset = dataset
        self.CLASSES = getattr(dataset, "CLASSES", None)
        self._types = [p["type"] if isinstance(p, dict) else type(p).__name__ for p in pipeline]
        self.pipeline = Compose(pipeline).transforms
        self._skip_type_keys = list(skip_type_keys) if skip_type_keys else None
        self.max_refetch = max_refetch
        if hasattr(dataset, "flag"):
            self.flag = dataset.flag
        self.num_samples = len(dataset)

    def __len__(self) -> int:
        return self.num_samples

    def update_skip_type_keys(self, skip_type_keys: Sequence[str]) -> None:
        self._skip_type_keys = list(skip_type_keys)

    def get_ann_info(self, idx: int) -> dict[str, np.ndarray]:
        return self.dataset.get_ann_info(idx)

    def get_cat_ids(self, idx: int) -> list[int]:
        return self.dataset.get_cat_ids(idx)

    def __getitem__(self, idx: int) -> Any:
        results = copy.deepcopy(self.dataset[idx])
        for transform, type_name in zip(self.pipeline, self._types):
            if self._skip_type_keys and type_name in self._skip_type_keys:
                continue
            if hasattr(transform, "get_indexes"):
                for _ in range(self.max_refetch):
                    indexes = transform.get_indexes(self.dataset)
                    indexes = indexes if isinstance(indexes, Sequence) else [indexes]
                    mix = [copy.deepcopy(self.dataset[i]) for i in indexes]
                    if all(m is not None for m in mix):
                        results["mix_results"] = mix
                        break
                else:
                    raise RuntimeError("the dataset gave None for the images to mix; check its pipeline")
            for _ in range(self.max_refetch):
                updated = transform(copy.deepcopy(results))
                if updated is not None:
                    results = updated
                    break
            else:
                raise RuntimeError(f"{type_name} returned None {self.max_refetch} times; check the pipeline")
            results.pop("mix_results", None)
        return results

    def summary(self) -> DatasetSummary:
        return self.dataset.summary()

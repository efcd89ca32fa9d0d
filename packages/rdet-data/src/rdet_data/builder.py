"""``build_dataset``: a dataset from an MMRotate ``data.train`` / ``val`` / ``test`` config."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset

from rdet_core import build_from_cfg
from rdet_data.registry import DATASETS
from rdet_data.wrappers import ClassBalancedDataset, ConcatDataset, MultiImageMixDataset, RepeatDataset

__all__ = ["build_dataset"]


def _concat_dataset(cfg: Mapping[str, Any], default_args: Mapping[str, Any] | None) -> ConcatDataset:
    """A list ``ann_file`` (with matching lists of prefixes) -> one dataset per file."""
    ann_files = cfg["ann_file"]
    lists = {k: cfg.get(k) for k in ("img_prefix", "seg_prefix", "proposal_file")}
    separate_eval = cfg.get("separate_eval", True)
    datasets = []
    for i, ann_file in enumerate(ann_files):
        one = dict(copy.deepcopy(cfg))
        one.pop("separate_eval", None)
        one["ann_file"] = ann_file
        for key, value in lists.items():
            if isinstance(value, (list, tuple)):
                one[key] = value[i]
        datasets.append(build_dataset(one, default_args))
    return ConcatDataset(datasets, separate_eval)


def build_dataset(
    cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]], default_args: Mapping[str, Any] | None = None
) -> Dataset:
    """Build a dataset (or wrapper) from its config, as MMDetection 2.x's ``build_dataset``.

    Handles a list of configs (concatenated), ``ConcatDataset``, ``RepeatDataset``,
    ``ClassBalancedDataset``, ``MultiImageMixDataset``, a list ``ann_file``, and any type
    registered in ``DATASETS`` (``default_args`` fill missing keys, e.g. ``test_mode=True``).
    """
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    kind = cfg.get("type")
    if kind == "ConcatDataset":
        return ConcatDataset(
            [build_dataset(c, default_args) for c in cfg["datasets"]], cfg.get("separate_eval", True)
        )
    if kind == "RepeatDataset":
        return RepeatDataset(build_dataset(cfg["dataset"], default_args), cfg["times"])
    if kind == "ClassBalancedDataset":
        return ClassBalancedDataset(
            build_dataset(cfg["dataset"], default_args),
            cfg["oversample_thr"],
            cfg.get("filter_empty_gt", True),
        )
    if kind == "MultiImageMixDataset":
        args = {k: v for k, v in dict(copy.deepcopy(cfg)).items() if k != "type"}
        args["dataset"] = build_dataset(args["dataset"], default_args)
        return MultiImageMixDataset(**args)
    if isinstance(cfg.get("ann_file"), (list, tuple)):
        return _concat_dataset(cfg, default_args)
    return build_from_cfg(dict(cfg), DATASETS, default_args)

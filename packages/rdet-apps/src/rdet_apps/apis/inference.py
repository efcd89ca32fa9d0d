"""``init_detector`` / ``inference_detector``: MMDetection 2.x's inference API on rdet's packages.

Minimal version: single-scale test pipelines (``MultiScaleFlipAug`` with one scale, no flip).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["inference_detector", "init_detector"]


def init_detector(
    config: str | os.PathLike | Any,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    cfg_options: Mapping[str, Any] | None = None,
) -> torch.nn.Module:
    """Build a detector from an MMRotate config file (or ``Config``) and load a checkpoint.

    As MMDetection: the backbone's ``init_cfg`` / ``pretrained`` is dropped (the checkpoint
    holds all weights, so nothing is downloaded or initialised), ``train_cfg`` is dropped,
    ``model.cfg`` is the config and ``model.CLASSES`` the checkpoint's classes (else the
    config's dataset classes, else None). The model is in eval mode on ``device``.

    Args:
        config: config file path or ``rdet_core.Config``.
        checkpoint: MMRotate checkpoint (``{'meta', 'state_dict'}``) or a bare state dict.
        cfg_options: dotted overrides, as ``--cfg-options`` (``{'model.backbone.depth': 18}``).
    """
    import rdet_models
    from rdet_core import Config
    from rdet_models.checkpoint import load_checkpoint

    if isinstance(config, (str, os.PathLike)):
        config = Config.fromfile(config)
    elif not isinstance(config, Config):
        raise TypeError(f"config must be a filename or a Config, got {type(config).__name__}")
    else:
        config = copy.deepcopy(config)
    if cfg_options is not None:
        config.merge_from_dict(dict(cfg_options))
    model_cfg = config.model
    if "pretrained" in model_cfg:
        model_cfg.pretrained = None
    elif model_cfg.get("backbone") is not None and "init_cfg" in model_cfg.backbone:
        model_cfg.backbone.init_cfg = None
    model_cfg.train_cfg = None
    model = rdet_models.build_detector(model_cfg)
    classes = None
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location="cpu")
        classes = ckpt.get("meta", {}).get("CLASSES")
    if classes is None:
        classes = _dataset_classes(config)
    model.CLASSES = classes
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def _dataset_classes(config: Any) -> Sequence[str] | None:
    test = config.get("data", {}).get("test", {})
    classes = test.get("classes")
    if classes is not None:
        return classes
    try:
        from rdet_data import DATASETS

        cls = DATASETS.get(test.get("type", ""))
        return getattr(cls, "CLASSES", None)
    except Exception:  # dataset registry unavailable: classes stay unknown
        return None


def _test_pipeline(cfg: Any, from_array: bool) -> Any:
    from rdet_data import Compose

    pipeline = copy.deepcopy(list(cfg.data.test.pipeline))
    if from_array:
        pipeline[0] = dict(pipeline[0], type="LoadImageFromWebcam")
    # MMDetection's replace_ImageToTensor: a test pipeline collates tensors itself
    for step in pipeline:
        if step.get("type") == "MultiScaleFlipAug":
            step["transforms"] = [
                dict(t, type="DefaultFormatBundle") if t.get("type") == "ImageToTensor" else t
                for t in step["transforms"]
            ]
    return Compose(pipeline)


def inference_detector(model: torch.nn.Module, imgs: str | os.PathLike | np.ndarray | Sequence[Any]) -> Any:
    """Detect objects in an image (path or BGR ``HxWx3`` array) or a list of them.

    Returns MMRotate's result format for each image: a list per class of (k, 6) float32
    arrays ``(cx, cy, w, h, theta, score)`` in original-image pixels; a list of those for a
    list of images.
    """
    from rdet_data import collate

    is_batch = isinstance(imgs, (list, tuple))
    items = list(imgs) if is_batch else [imgs]
    if not items:
        return []
    cfg = model.cfg
    from_array = isinstance(items[0], np.ndarray)
    pipeline = _test_pipeline(cfg, from_array)
    datas = []
    for img in items:
        if isinstance(img, np.ndarray):
            data = dict(img=img)
        else:
            path = Path(img)
            if not path.is_file():
                raise FileNotFoundError(f"image {str(img)!r} does not exist")
            data = dict(img_info=dict(filename=str(path)), img_prefix=None)
        datas.append(pipeline(data))
    batch = collate(datas, samples_per_gpu=len(datas))
    if isinstance(batch, list):
        raise NotImplementedError(
            "test-time augmentation (several scales or flips) is not supported by inference_detector yet"
        )
    device = next(model.parameters()).device
    images = batch.images.to(device)
    img_metas = [m.as_mmrotate() for m in batch.metas]
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, img=[images], img_metas=[img_metas])
    return results if is_batch else results[0]

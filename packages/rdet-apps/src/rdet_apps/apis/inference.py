"""``init_detector`` / ``inference_detector``: MMDetection 2.x's inference API on rdet's packages.

Every image goes the one way of DESIGN.md: test pipeline -> ``collate`` -> ``DetBatch`` ->
``model.predict`` -> ``Detections`` (:func:`predict_images`); :func:`inference_detector`
converts those to MMRotate's per-class lists, which its users' scripts expect.

Test-time augmentation: a test pipeline whose ``MultiScaleFlipAug`` has several scales or
flips collates into one ``DetBatch`` per augmentation; ``model.predict`` takes that list and
merges the augmentations in the original image (``rdet_models.tta``: MMRotate 0.3.4's
``aug_test``, by the model's ``test_cfg`` -- ``score_thr``, class-wise rotated NMS at
``nms.iou_thr``, ``max_per_img`` -- unless the config's ``tta`` / ``tta_model`` /
``model.test_cfg.tta`` says otherwise).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rdet_core.structures import DetBatch, Detections, detections_to_result

__all__ = ["ImageInput", "inference_detector", "init_detector", "predict_images", "resolve_device"]

ImageInput = str | os.PathLike | np.ndarray
"""An image: a file path, or a BGR ``HxWx3`` uint8 array."""


def _available_devices() -> list[str]:
    """The devices this torch and machine can run: ``cpu``, ``cuda:0`` ..., ``mps``, ``xpu``."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    for kind in ("mps", "xpu"):
        backend = getattr(torch.backends, kind, None) if kind == "mps" else getattr(torch, kind, None)
        if backend is not None and backend.is_available():
            found.append(kind)
    return found


def resolve_device(device: str | torch.device | None, what: str = "device") -> torch.device:
    """The ``torch.device`` of ``device`` (None: ``cuda`` when available, else ``cpu``), checked
    to exist on this machine, so that a command fails at once, naming ``what`` (``--device``)
    and what is available, not with torch's bare error once the model is built.

    Raises:
        ValueError: an unknown device type (``tpu``), or a device this machine lacks (``cuda`` on
            a CPU-only torch or without a GPU, ``cuda:3`` with two GPUs, ``mps``, ``xpu``).
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = _available_devices()
    here = f"available here: {', '.join(available)}"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{what} {device}: not a torch device (cpu, cuda, cuda:N, mps ...); {here}"
        ) from None
    if dev.type == "cuda":
        if torch.version.cuda is None:
            why = f"torch {torch.__version__} is a CPU-only build"
        elif not torch.cuda.is_available():
            why = f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU or no driver"
        else:
            if dev.index is not None and f"cuda:{dev.index}" not in available:
                raise ValueError(f"{what} {device}: no such CUDA device; {here}")
            return dev
        raise ValueError(f"{what} {device}: CUDA is not available ({why}); use {what} cpu")
    if dev.type != "cpu" and dev.type not in available:
        raise ValueError(f"{what} {device}: {dev.type} is not available on this machine; {here}")
    return dev


def init_detector(
    config: str | os.PathLike | Any,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    cfg_options: Mapping[str, Any] | None = None,
    strict: bool = True,
    fuse_conv_bn: bool = False,
    channels_last: bool | None = None,
    amp: str | bool | None = None,
) -> torch.nn.Module:
    """Build a detector from an MMRotate config file (or ``Config``) and load a checkpoint.

    As MMDetection: the backbone's ``init_cfg`` / ``pretrained`` is dropped (the checkpoint
    holds all weights, so nothing is downloaded or initialised), ``train_cfg`` is dropped, a
    top-level ``test_cfg`` (old configs) is moved into the model with a deprecation warning,
    ``model.cfg`` is the config and ``model.CLASSES`` the checkpoint's classes (else the
    config's dataset classes, else None). The model is in eval mode on ``device``. A checkpoint
    saved with an EMA hook holds ``ema_*`` buffers beside the weights; they are left aside and
    the weights loaded (after an epoch, MMCV's EMA hooks leave the averages there: MMCV's tools
    test those).

    Args:
        config: config file path or ``rdet_core.Config``.
        checkpoint: MMRotate checkpoint (``{'meta', 'state_dict'}``) or a bare state dict.
        cfg_options: dotted overrides, as ``--cfg-options`` (``{'model.backbone.depth': 18}``).
        strict: the checkpoint must fit the model exactly (every key, every shape), else
            ``rdet_models.CheckpointMismatchError`` lists the first missing, unexpected and
            mismatched keys. ``False`` is MMCV's behaviour: load what fits, warn about the rest
            (a checkpoint of which nothing fits is an error all the same).
        fuse_conv_bn: fold each BatchNorm into the convolution before it after loading
            (``rdet_models.fuse_conv_bn``, MMRotate's ``--fuse-conv-bn``): the same detections up
            to float rounding, fewer passes over the feature maps.
        channels_last: keep the weights in channels-last (NHWC) memory order, so that every
            convolution runs and returns NHWC (the feature maps follow the weights); None: on
            the CPU, where oneDNN's NHWC convolutions are faster (ResNet-50 at 800x800: 1.2x,
            1.45x with ``fuse_conv_bn``), not on CUDA (fp32 cuDNN gains nothing there).
        amp: mixed precision for every ``model.predict`` (``rdet_apps.amp``): ``'bf16'``,
            ``'fp16'`` or ``'auto'`` (fp16 on CUDA, bf16 elsewhere); None: the config's top-level
            ``amp`` key, off when it has none; False: off whatever the config says. The heads'
            outputs are cast back to float32, so decoding, NMS and the detections are float32.
            ``model.amp`` is the mode in use.

    Raises:
        ValueError: a ``device`` this machine lacks (:func:`resolve_device`); a checkpoint whose
            ``meta['CLASSES']`` is not a list of names or has more or fewer of them than the
            model's ``num_classes`` (without them: the config's ``data.test`` classes); a
            ``model.test_cfg`` value out of range (``check_model_config``).
        rdet_apps.engine.config_checks.ConfigKeyError: A ``train_cfg`` / ``test_cfg`` key that
            nothing reads.
        rdet_apps.amp.AmpError: A bad ``amp`` (or config key ``amp``), or a precision the
            device cannot run (fp16 where this torch's CPU autocast lacks it).
    """
    import rdet_models
    from rdet_apps.amp import config_amp, enable_inference_amp, resolve_amp
    from rdet_apps.engine.config_checks import check_model_config, model_config
    from rdet_core import Config
    from rdet_models.memory_format import convs_to_channels_last

    if isinstance(config, (str, os.PathLike)):
        config = Config.fromfile(config)
    elif not isinstance(config, Config):
        raise TypeError(f"config must be a filename or a Config, got {type(config).__name__}")
    else:
        config = copy.deepcopy(config)
    if cfg_options is not None:
        from rdet_apps.cfg_options import merge_cfg_options

        merge_cfg_options(config, dict(cfg_options))
    device = resolve_device(device)
    if amp is None:
        mode = resolve_amp(config_amp(config), device, "config key amp")
    else:
        mode = resolve_amp(amp, device, "amp")
    model_cfg = model_config(config, training=False)  # train_cfg dropped; a top-level test_cfg moved in
    check_model_config(model_cfg)  # a typo'd test_cfg key (score_th) is an error, not a default
    if "pretrained" in model_cfg:
        model_cfg["pretrained"] = None
    elif model_cfg.get("backbone") is not None and "init_cfg" in model_cfg["backbone"]:
        model_cfg["backbone"]["init_cfg"] = None
    model = rdet_models.build_detector(model_cfg)
    classes = None
    if checkpoint is not None:
        ckpt = _load_weights(model, checkpoint, strict)
        classes = ckpt.get("meta", {}).get("CLASSES")
        if classes is not None:
            classes = _checked_classes(classes, checkpoint, model)
    if classes is None:
        classes = _dataset_classes(config)
        if classes is not None:
            classes = _checked_dataset_classes(classes, model)
    model.CLASSES = classes
    model.cfg = config
    model.tta_cfg = _tta_cfg(config)
    model.to(device)
    model.eval()
    if fuse_conv_bn:
        rdet_models.fuse_conv_bn(model)
    if channels_last if channels_last is not None else device.type == "cpu":
        convs_to_channels_last(model)
    return enable_inference_amp(model, mode)


def _load_weights(model: torch.nn.Module, checkpoint: str | os.PathLike, strict: bool) -> dict[str, Any]:
    """``rdet_models.checkpoint.load_checkpoint`` of ``checkpoint`` into ``model``, the EMA hooks'
    ``ema_*`` buffers left aside (logged). Returns the checkpoint."""
    import logging

    from rdet_apps.engine.hooks.ema import strip_ema_buffers
    from rdet_models.checkpoint import extract_state_dict, load_state_dict, read_checkpoint

    name = os.fspath(checkpoint)
    ckpt = read_checkpoint(name, map_location="cpu")
    state, dropped = strip_ema_buffers(extract_state_dict(ckpt, name), model)
    if dropped:
        logging.getLogger("rdet").info(
            f"{name}: {len(dropped)} EMA buffers (ema_*) left aside; the weights as saved are loaded"
        )
    load_state_dict(model, state, strict=strict, source=name)
    return ckpt if isinstance(ckpt, dict) and "state_dict" in ckpt else {"state_dict": state}


def _head_class_count(model: torch.nn.Module) -> int | None:
    """``model.num_classes``; None for a model that does not say (a plugin's): not checked."""
    try:
        return int(model.num_classes)
    except (AttributeError, NotImplementedError, TypeError):
        return None


def _count_mismatch(names: Sequence[str], num_classes: int | None) -> str | None:
    """ "has N names ('a', 'b', ...) but ... num_classes M" when the counts differ, else None."""
    if num_classes is None or len(names) == num_classes:
        return None
    shown = ", ".join(repr(c) for c in names[:5]) + (", ..." if len(names) > 5 else "")
    return f"{len(names)} names ({shown}) but the config's model has num_classes {num_classes}"


def _checked_classes(classes: Any, checkpoint: str | os.PathLike, model: torch.nn.Module) -> tuple[str, ...]:
    """A checkpoint's ``meta['CLASSES']``, checked to be class names, one per class of the
    model's head (``model.num_classes``; a model that does not say, a plugin's, is not checked).

    Raises:
        ValueError: ``CLASSES`` is not a list / tuple of strings (a string ``'abc'`` is not
            three names), or holds more or fewer names than the head has classes.
    """
    where = f"checkpoint {os.fspath(checkpoint)!r}: meta CLASSES"
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"{where} {classes!r}: must be a list or tuple of class names (strings)")
    mismatch = _count_mismatch(classes, _head_class_count(model))
    if mismatch:
        raise ValueError(
            f"{where} has {mismatch}: the checkpoint was trained for other classes than this config "
            "(use the config it was trained with, or set the head's num_classes)"
        )
    return tuple(classes)


def _checked_dataset_classes(classes: Sequence[str], model: torch.nn.Module) -> Sequence[str]:
    """The config's test-set classes as the model's class names (no checkpoint, or one without
    ``meta['CLASSES']``), checked to be one per class of the head: label k would otherwise be
    drawn and written under the name of another class (the check ``rdet train`` makes).

    Raises:
        ValueError: More or fewer names than the head's ``num_classes``.
    """
    mismatch = _count_mismatch(
        [classes] if isinstance(classes, str) else list(classes), _head_class_count(model)
    )
    if mismatch:
        raise ValueError(
            f"the config's data.test classes have {mismatch}: set data.test.classes (or the head's "
            "num_classes) so that they agree, or load a checkpoint whose meta holds its CLASSES"
        )
    return classes


def _tta_cfg(config: Any) -> Any:
    """The config's top-level test-time augmentation settings (``tta = dict(nms=..., max_per_img=...)``
    or MMRotate 1.x's ``tta_model = dict(type='RotatedTTAModel', tta_cfg=...)``) as a checked
    ``rdet_models.tta.TTAConfig``; None when neither is given (``model.test_cfg.tta`` or the
    defaults then apply).

    Raises:
        rdet_models.tta.TTAConfigError: A bad setting, or both keys given.
    """
    from rdet_models.tta import resolve_tta_cfg

    tta, tta_model = config.get("tta"), config.get("tta_model")
    if tta is None and tta_model is None:
        return None
    return resolve_tta_cfg(tta=tta, tta_model=tta_model)


def _dataset_classes(config: Any) -> Sequence[str] | None:
    """The config's test-set class names, as its dataset reads them (``data.test.classes``: names,
    or a file of names, one a line; else the dataset type's ``CLASSES``); None when unknown.

    Raises:
        FileNotFoundError, TypeError, ValueError: ``data.test.classes`` names no file, or is
            not names (the dataset's own ``get_classes`` checks).
    """
    test = config.get("data", {}).get("test", {})
    classes = test.get("classes")
    try:
        from rdet_data import DATASETS

        cls = DATASETS.get(test.get("type", ""))
    except Exception:  # dataset registry unavailable: classes as the config gives them
        cls = None
    if cls is not None and callable(getattr(cls, "get_classes", None)):
        return cls.get_classes(classes)
    return classes if classes is not None else getattr(cls, "CLASSES", None)


#: the load steps a test pipeline may start with (an array replaces them with LoadImageFromWebcam)
_LOAD_STEPS = ("LoadImageFromFile", "LoadImageFromWebcam")


def _load_step(cfg: Any) -> Mapping[str, Any]:
    """``data.test.pipeline[0]``, checked to be an image-loading step.

    Raises:
        ValueError: The pipeline is empty, or its first step does not load the image.
    """
    pipeline = cfg.data.test.pipeline
    first = pipeline[0] if len(pipeline) else None
    kind = first.get("type") if isinstance(first, Mapping) else None
    if kind not in _LOAD_STEPS:
        raise ValueError(
            f"data.test.pipeline[0] is {kind or first!r}: the test pipeline must start with "
            f"dict(type='LoadImageFromFile') (it loads the image that the other steps transform)"
        )
    return first


def _test_pipeline(cfg: Any, from_array: bool) -> Any:
    """The config's test pipeline (``LoadImageFromWebcam`` first for an array).

    Raises:
        ValueError: The pipeline does not start with a load step (:func:`_load_step`).
    """
    from rdet_data import Compose

    _load_step(cfg)
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


def _model_num_classes(model: torch.nn.Module) -> int:
    """The number of classes of the per-class result format: the model's head, else CLASSES."""
    try:
        return int(model.num_classes)
    except (AttributeError, NotImplementedError):
        classes = getattr(model, "CLASSES", None)
        if classes is None:
            raise ValueError("the model has neither num_classes nor CLASSES: how many classes?") from None
        return len(classes)


def checked_image_array(img: np.ndarray, name: str = "img", grey: bool = False) -> np.ndarray:
    """``img`` checked to be an image as a file would load: a non-empty ``HxWx3`` (BGR) uint8
    array (``HxW`` with ``grey``), returned C-contiguous.

    Raises:
        ValueError: Another dtype (uint16, float, bool ...: convert it to uint8 yourself, the
            scaling is yours to choose), another shape (``1xHxWx3``, ``CxHxW``, RGBA), or no
            pixels, naming ``name`` with its shape and dtype.
    """
    want = "an HxW (grey) uint8 array" if grey else "a BGR HxWx3 uint8 array"
    what = f"{name} (shape {tuple(img.shape)}, dtype {img.dtype})"
    if img.dtype != np.uint8:
        raise ValueError(f"{what}: must be {want}; convert it to uint8 (0-255) first")
    if grey and img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != (2 if grey else 3) or (not grey and img.shape[2] != 3):
        hint = ""
        if not grey and (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1)):
            hint = (
                "; grey images are not supported by a test pipeline that loads colour images "
                "(color_type 'color'): convert it with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)"
            )
        raise ValueError(f"{what}: must be {want}{hint}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what}: the image is empty")
    return np.ascontiguousarray(img)


def _image_batch(
    model: torch.nn.Module, items: list[ImageInput], name: str | None = None
) -> DetBatch | list[DetBatch]:
    """The test pipeline of ``model.cfg`` on each image, collated into one ``DetBatch`` (a
    list of them, one per augmentation, for test-time augmentation). ``name``: the one image's
    name in messages; None: ``items`` is the argument ``imgs`` (``imgs[2]`` in messages).

    Raises:
        FileNotFoundError: An image path does not exist.
        TypeError: An image that is neither a path nor an array.
        ValueError: An array that is not an image (:func:`checked_image_array`), or a test
            pipeline that does not start with a load step.
    """
    from rdet_data import collate

    grey = _load_step(model.cfg).get("color_type", "color") == "grayscale"
    pipelines: dict[bool, Any] = {}  # arrays and files load differently; a list may mix them
    datas = []
    for i, img in enumerate(items):
        item = name or f"imgs[{i}]"
        from_array = isinstance(img, np.ndarray)
        if not from_array and not isinstance(img, (str, os.PathLike)):
            raise TypeError(f"{item}: an image is a file path or a numpy array, got {type(img).__name__}")
        if from_array:
            data = dict(img=checked_image_array(img, item, grey))
        else:
            path = Path(img)
            if not path.is_file():
                raise FileNotFoundError(f"image {str(img)!r} does not exist")
            data = dict(img_info=dict(filename=str(path)), img_prefix=None)
        if from_array not in pipelines:
            pipelines[from_array] = _test_pipeline(model.cfg, from_array)
        datas.append(pipelines[from_array](data))
    return collate(datas, samples_per_gpu=len(datas))


def predict_images(model: torch.nn.Module, imgs: ImageInput | Sequence[ImageInput]) -> list[Detections]:
    """Detect objects in images: one ``Detections`` (numpy) per image, original-image pixels.

    The images (paths or BGR ``HxWx3`` arrays; one image or a list) go through the config's
    test pipeline, are collated into one ``DetBatch`` and predicted with ``model.predict``.
    A test pipeline with test-time augmentation (``MultiScaleFlipAug`` with several scales or
    flips) gives per image the augmentations' detections merged in the original image.

    Raises:
        FileNotFoundError: An image path does not exist.
        TypeError: An image that is neither a path nor an array.
        ValueError: An array that is not a non-empty ``HxWx3`` uint8 image (naming ``imgs[i]``,
            its shape and dtype), or a test pipeline that does not start with a load step.
    """
    is_list = isinstance(imgs, (list, tuple))
    items = list(imgs) if is_list else [imgs]
    if not items:
        return []
    batch = _image_batch(model, items, None if is_list else "imgs")
    return [dets.numpy() for dets in model.predict(batch)]


def inference_detector(model: torch.nn.Module, imgs: ImageInput | Sequence[ImageInput]) -> Any:
    """Detect objects in an image (path or BGR ``HxWx3`` array) or a list of them.

    MMRotate's API: returns MMRotate's result format for each image, a list per class of
    (k, 6) float32 arrays ``(cx, cy, w, h, theta, score)`` in original-image pixels; a list
    of those for a list of images. ``predict_images`` gives the same detections typed.

    Raises:
        FileNotFoundError, TypeError, ValueError: As :func:`predict_images`.
    """
    is_batch = isinstance(imgs, (list, tuple))
    num_classes = _model_num_classes(model)
    results = [detections_to_result(d, num_classes) for d in predict_images(model, imgs)]
    return results if is_batch else results[0]

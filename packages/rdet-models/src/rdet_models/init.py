"""Weight initialisation from ``init_cfg`` dicts, with mmcv 1.x's semantics.

``init_cfg`` is a dict or a list of dicts: ``dict(type='Normal', layer='Conv2d', std=0.01,
override=dict(type='Normal', name='retina_cls', std=0.01, bias_prob=0.01))``. Types:
``Normal``, ``TruncNormal``, ``Xavier``, ``Kaiming``, ``Caffe2Xavier``, ``Constant``, ``Uniform``,
``Pretrained`` (a local checkpoint file; see :mod:`rdet_models.checkpoint` for
``torchvision://`` names).

A module is built with PyTorch's default initialisation; ``model.init_weights()`` applies
the ``init_cfg`` of every :class:`BaseModule`, top-down, as MMCV's ``BaseModule`` does (a
child's own ``init_weights`` runs after its parent's ``init_cfg``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from torch import nn

__all__ = [
    "BaseModule",
    "bias_init_with_prob",
    "constant_init",
    "initialize",
    "kaiming_init",
    "normal_init",
    "trunc_normal_init",
    "uniform_init",
    "xavier_init",
]


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias whose sigmoid is ``prior_prob`` (focal-loss heads start at 0.01)."""
    return float(-math.log((1 - prior_prob) / prior_prob))


def _init_bias(module: nn.Module, bias: float) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    _init_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    if getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, mean, std)
    _init_bias(module, bias)


def trunc_normal_init(
    module: nn.Module, mean: float = 0, std: float = 1, a: float = -2, b: float = 2, bias: float = 0
) -> None:
    """Normal(mean, std) redrawn outside [a, b] (absolute bounds, as mmcv and PyTorch)."""
    if getattr(module, "weight", None) is not None:
        nn.init.trunc_normal_(module.weight, mean, std, a, b)
    _init_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    if getattr(module, "weight", None) is not None:
        nn.init.uniform_(module.weight, a, b)
    _init_bias(module, bias)


def xavier_init(module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal") -> None:
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if getattr(module, "weight", None) is not None:
        (nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_)(
            module.weight, gain=gain
        )
    _init_bias(module, bias)


def kaiming_init(
    module: nn.Module,
    a: float = 0,
    mode: str = "fan_out",
    nonlinearity: str = "relu",
    bias: float = 0,
    distribution: str = "normal",
) -> None:
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if getattr(module, "weight", None) is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _init_bias(module, bias)


def _class_names(m: nn.Module) -> set[str]:
    return {c.__name__ for c in type(m).__mro__}


def _make_init_fn(cfg: dict[str, Any]) -> tuple[Any, list[str]]:
    """(function applied to one module, list of layer class names) for one init dict."""
    cfg = dict(cfg)
    kind = cfg.pop("type")
    layer = cfg.pop("layer", None)
    layers = [] if layer is None else [layer] if isinstance(layer, str) else list(layer)
    bias = cfg.pop("bias", 0)
    bias_prob = cfg.pop("bias_prob", None)
    if bias_prob is not None:
        bias = bias_init_with_prob(bias_prob)
    if kind == "Normal":
        mean, std = cfg.pop("mean", 0), cfg.pop("std", 1)
        fn = lambda m: normal_init(m, mean, std, bias)  # noqa: E731
    elif kind == "Constant":
        val = cfg.pop("val")
        fn = lambda m: constant_init(m, val, bias)  # noqa: E731
    elif kind == "Uniform":
        a, b = cfg.pop("a", 0), cfg.pop("b", 1)
        fn = lambda m: uniform_init(m, a, b, bias)  # noqa: E731
    elif kind == "Xavier":
        gain, dist = cfg.pop("gain", 1), cfg.pop("distribution", "normal")
        fn = lambda m: xavier_init(m, gain, bias, dist)  # noqa: E731
    elif kind == "TruncNormal":
        mean, std = cfg.pop("mean", 0), cfg.pop("std", 1)
        a, b = cfg.pop("a", -2), cfg.pop("b", 2)
        fn = lambda m: trunc_normal_init(m, mean, std, a, b, bias)  # noqa: E731
    elif kind == "Kaiming":
        a, mode = cfg.pop("a", 0), cfg.pop("mode", "fan_out")
        nl, dist = cfg.pop("nonlinearity", "relu"), cfg.pop("distribution", "normal")
        fn = lambda m: kaiming_init(m, a, mode, nl, bias, dist)  # noqa: E731
    elif kind == "Caffe2Xavier":  # mmcv: Caffe2's XavierFill is PyTorch's kaiming_uniform_ (a=1, fan_in)
        fixed = {"a", "mode", "nonlinearity", "distribution"} & set(cfg)
        if fixed:
            raise TypeError(
                f"init_cfg of type 'Caffe2Xavier' fixes {sorted(fixed)}; use 'Kaiming' to set them"
            )
        fn = lambda m: kaiming_init(m, 1, "fan_in", "leaky_relu", bias, "uniform")  # noqa: E731
    else:
        raise KeyError(
            f"init_cfg type {kind!r} is not supported (Normal, TruncNormal, Xavier, Kaiming, Caffe2Xavier, "
            "Constant, Uniform, Pretrained)"
        )
    if cfg:
        raise TypeError(f"init_cfg of type {kind!r} got unexpected keys {sorted(cfg)}")
    return fn, layers


def _apply(module: nn.Module, cfg: dict[str, Any], wholemodule: bool) -> None:
    if cfg["type"] == "Pretrained":
        from rdet_models.checkpoint import load_checkpoint

        load_checkpoint(
            module,
            cfg["checkpoint"],
            map_location=cfg.get("map_location", "cpu"),
            strict=False,
            prefix=cfg.get("prefix"),
        )
        return
    fn, layers = _make_init_fn(cfg)
    wanted = set(layers)

    def visit(m: nn.Module) -> None:
        if wholemodule or (wanted & _class_names(m)):
            fn(m)

    module.apply(visit)


def initialize(module: nn.Module, init_cfg: dict | list[dict]) -> None:
    """Apply ``init_cfg`` (dict or list of dicts) to ``module`` (mmcv's ``initialize``)."""
    cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg)
    for cfg in cfgs:
        cfg = copy.deepcopy(dict(cfg))
        override = cfg.pop("override", None)
        _apply(module, cfg, wholemodule=False)
        if override is None:
            continue
        cfg.pop("layer", None)
        for ov in [override] if isinstance(override, dict) else override:
            ov = dict(ov)
            name = ov.pop("name", None)
            if name is None:
                raise ValueError(f"an init_cfg override needs a 'name', got {ov}")
            if not ov:
                ov = dict(cfg)
            elif "type" not in ov:
                raise ValueError(f"an init_cfg override needs a 'type' (or only a 'name'), got {ov}")
            if not hasattr(module, name):
                raise RuntimeError(
                    f"{type(module).__name__} has no submodule {name!r} named in init_cfg override {ov}"
                )
            _apply(getattr(module, name), ov, wholemodule=True)


class BaseModule(nn.Module):
    """``nn.Module`` with mmcv's ``init_cfg``: ``init_weights()`` applies it, then recurses.

    Children are visited in order; those with an ``init_weights`` method have it called
    (as mmcv: a plain ``nn.ModuleList`` is not looked into).
    """

    def __init__(self, init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__()
        self.init_cfg = copy.deepcopy(init_cfg)
        self._is_init = False

    @property
    def is_init(self) -> bool:
        return self._is_init

    def init_weights(self) -> None:
        if self._is_init:
            return
        if self.init_cfg:
            initialize(self, self.init_cfg)
            if isinstance(self.init_cfg, dict) and self.init_cfg.get("type") == "Pretrained":
                self._is_init = True
                return
        for child in self.children():
            if hasattr(child, "init_weights"):
                child.init_weights()
        self._is_init = True


class Sequential(BaseModule, nn.Sequential):
    """``nn.Sequential`` with ``init_cfg`` (mmcv's ``Sequential``)."""

    def __init__(self, *args: nn.Module, init_cfg: dict | list[dict] | None = None) -> None:
        nn.Sequential.__init__(self, *args)
        self.init_cfg = copy.deepcopy(init_cfg)
        self._is_init = False


class ModuleList(BaseModule, nn.ModuleList):
    """``nn.ModuleList`` with ``init_cfg`` (mmcv's ``ModuleList``)."""

    def __init__(self, modules: Any = None, init_cfg: dict | list[dict] | None = None) -> None:
        nn.ModuleList.__init__(self, modules)
        self.init_cfg = copy.deepcopy(init_cfg)
        self._is_init = False

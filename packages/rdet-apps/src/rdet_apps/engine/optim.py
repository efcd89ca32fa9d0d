"""Optimizers from MMRotate's ``optimizer`` config: any ``torch.optim`` class by name, or one of
your own registered in ``rdet_apps.registry.OPTIMIZERS``, with MMCV's ``paramwise_cfg``
(per-parameter learning-rate and weight-decay multipliers), built by MMCV's
``DefaultOptimizerConstructor`` or by the ``constructor`` the config names (registered in
``rdet_apps.registry.OPTIMIZER_BUILDERS``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rbox_ops import DeformConv2d, ModulatedDeformConv2d
from rdet_apps.registry import OPTIMIZER_BUILDERS, OPTIMIZERS

__all__ = ["DefaultOptimizerConstructor", "build_optimizer", "param_groups"]

_DCN_TYPES = (DeformConv2d, ModulatedDeformConv2d)  # MMCV's check: the ops' base classes (Packs too)
_NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def param_groups(
    model: nn.Module, base_lr: float, base_wd: float, paramwise_cfg: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One parameter group per parameter, with MMCV's ``DefaultOptimizerConstructor`` rules.

    ``paramwise_cfg`` keys: ``custom_keys`` ({substring: {lr_mult, decay_mult}}; the longest
    matching key wins), ``bias_lr_mult``, ``bias_decay_mult``, ``norm_decay_mult``,
    ``dwconv_decay_mult``, ``dcn_offset_lr_mult`` (the ``conv_offset`` of a deformable conv:
    learning rate ``base_lr * dcn_offset_lr_mult``, and neither bias multiplier applies to it),
    ``bypass_duplicate``. Frozen parameters (requires_grad False) are left out.
    """
    cfg = dict(paramwise_cfg or {})
    custom = cfg.pop("custom_keys", {}) or {}
    bias_lr = cfg.pop("bias_lr_mult", 1.0)
    bias_decay = cfg.pop("bias_decay_mult", 1.0)
    norm_decay = cfg.pop("norm_decay_mult", 1.0)
    dwconv_decay = cfg.pop("dwconv_decay_mult", 1.0)
    bypass_duplicate = cfg.pop("bypass_duplicate", False)
    dcn_offset_lr = cfg.pop("dcn_offset_lr_mult", 1.0)
    if cfg:
        raise KeyError(f"unknown paramwise_cfg keys: {sorted(cfg)}")
    keys = sorted(sorted(custom), key=len, reverse=True)  # longest first, then alphabetical
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    # MMCV passes "my parent is a DCN" down one level: the DCN's own weight and bias are ordinary
    dcn_modules = {name for name, m in model.named_modules() if isinstance(m, _DCN_TYPES)}
    for module_name, module in model.named_modules():
        is_dcn_child = module_name != "" and module_name.rpartition(".")[0] in dcn_modules
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if id(param) in seen:
                if bypass_duplicate:
                    continue
                raise ValueError(
                    f"parameter {module_name}.{name} is shared; set paramwise_cfg.bypass_duplicate=True"
                )
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            lr, wd = base_lr, base_wd
            key = next((k for k in keys if k in full), None)
            if key is not None:
                lr *= custom[key].get("lr_mult", 1.0)
                wd *= custom[key].get("decay_mult", 1.0)
            else:
                is_norm = isinstance(module, _NORM_TYPES)
                is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
                if name == "bias" and not (is_norm or is_dcn_child):
                    lr *= bias_lr
                if is_dcn_child and isinstance(module, nn.Conv2d) and "conv_offset" in module_name:
                    lr = base_lr * dcn_offset_lr
                if is_norm:
                    wd *= norm_decay
                elif is_dwconv:
                    wd *= dwconv_decay
                elif name == "bias" and not is_dcn_child:
                    wd *= bias_decay
            groups.append({"params": [param], "lr": lr, "weight_decay": wd, "name": full})
    return groups


def _optimizer_class(kind: str) -> type[torch.optim.Optimizer]:
    """A registered optimizer of your own, else ``torch.optim``'s."""
    cls = OPTIMIZERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        cls = getattr(torch.optim, kind, None) if isinstance(kind, str) else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        names = sorted(
            n
            for n in dir(torch.optim)
            if isinstance(getattr(torch.optim, n), type)
            and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
            and n != "Optimizer"
        )
        own = f"; registered: {', '.join(sorted(OPTIMIZERS.keys()))}" if len(OPTIMIZERS) else ""
        raise KeyError(
            f"optimizer type {kind!r} is neither a torch.optim optimizer nor registered in "
            f"rdet_apps.registry.OPTIMIZERS; torch.optim has {', '.join(names)}{own}"
        )
    return cls


@OPTIMIZER_BUILDERS.register_module()
class DefaultOptimizerConstructor:
    """MMCV's default: the optimizer ``optimizer_cfg['type']`` over the model's trainable
    parameters, one group per parameter under ``paramwise_cfg`` (:func:`param_groups`).

    A constructor of your own takes the same two arguments and is called with the model; register
    it with ``@OPTIMIZER_BUILDERS.register_module()`` and name it in ``optimizer.constructor``.
    """

    def __init__(self, optimizer_cfg: dict[str, Any], paramwise_cfg: dict[str, Any] | None = None) -> None:
        self.optimizer_cfg = dict(optimizer_cfg)
        self.paramwise_cfg = paramwise_cfg
        self.optimizer_cls = _optimizer_class(self.optimizer_cfg.pop("type", None))
        if "lr" not in self.optimizer_cfg:
            raise KeyError(f"optimizer {self.optimizer_cls.__name__} needs an 'lr'")

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = self.optimizer_cfg
        if self.paramwise_cfg is None:
            return self.optimizer_cls([p for p in model.parameters() if p.requires_grad], **cfg)
        groups = param_groups(model, cfg["lr"], cfg.get("weight_decay", 0.0), self.paramwise_cfg)
        for g in groups:
            g.pop("name")
        return self.optimizer_cls(groups, **cfg)


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    """``dict(type='SGD', lr=0.0025, momentum=0.9, weight_decay=1e-4, paramwise_cfg=...)`` ->
    the optimizer (MMRotate's ``optimizer`` config key), as MMCV's ``build_optimizer``: the
    ``constructor`` key (default ``'DefaultOptimizerConstructor'``) names the builder, given the
    rest of the config and ``paramwise_cfg``.

    Raises:
        KeyError: ``type`` names neither a ``torch.optim`` optimizer nor a registered one (the
            message lists them); no ``lr``.
        rdet_core.UnknownTypeError: ``constructor`` names no registered constructor.
    """
    cfg = dict(cfg)
    constructor = cfg.pop("constructor", "DefaultOptimizerConstructor")
    paramwise = cfg.pop("paramwise_cfg", None)
    builder = OPTIMIZER_BUILDERS.get(constructor) if isinstance(constructor, str) else None
    if builder is None:
        raise OPTIMIZER_BUILDERS.unknown_type_error(str(constructor))
    return builder(cfg, paramwise)(model)


def fuse_sgd_step(optimizer: torch.optim.Optimizer, loss_scaled: bool) -> bool:
    """Switch plain SGD on CPU parameters to torch's fused step; returns whether it runs fused.

    The fused kernel does weight decay, momentum and the update in one pass over each parameter
    where the default makes several: a ResNet-50's step 18.3 -> 7.5 ms on 2 cores
    (``benchmarks/bench_optimizer_step.py``; the optimizer's ``add_`` calls were 9% of Oriented
    R-CNN's bf16 training step on the H200's host), the same weights up to rounding (its
    multiply-adds: 1 ulp now and then). The momentum buffers that are missing are made zeros
    first: torch's fused step takes a step as the first only when no parameter has one, and
    fails on a parameter whose first gradient comes later (a branch used late, DDP's unused
    parameters); with no dampening a zero buffer's first step is the default's (the gradient).

    Left to torch's default (``fused`` None, so ``foreach`` where torch picks it, as on CUDA):
    an optimizer other than SGD, parameters off the CPU, dampening with momentum, and a
    loss-scaled (fp16) step, where a first step skipped for overflow would leave the fused
    step's fresh momentum buffers as ``torch.empty_like`` made them (torch 2.13) and the next
    steps would add that memory to the weights. A config that sets ``fused`` or ``foreach``
    itself keeps its choice; with ``fused=True`` its missing buffers are made zeros as well,
    which takes that fault away under a loss scaler too (with dampening it cannot: an error).
    Call it again after ``load_state_dict``: a checkpoint's param groups bring the saving run's
    flag.

    Raises:
        ValueError: The config chose ``fused=True`` with dampening, and the loss is scaled.
    """
    if type(optimizer) is not torch.optim.SGD:
        return False
    groups = optimizer.param_groups
    damped = any(g["momentum"] != 0 and g["dampening"] != 0 for g in groups)
    if optimizer.defaults.get("fused") is not None or optimizer.defaults.get("foreach") is not None:
        fused = bool(optimizer.defaults.get("fused"))
        if fused and damped and loss_scaled:
            raise ValueError(
                "optimizer: fused=True with dampening under fp16's loss scaler: a first step skipped "
                "for overflow would leave torch's fused momentum buffers uninitialised; drop fused or dampening"
            )
    else:
        params = [p for g in groups for p in g["params"]]
        fused = (
            not loss_scaled
            and bool(params)
            and all(p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64) for p in params)
            and not any(g.get("differentiable") for g in groups)
            and not damped
        )
        for g in groups:
            g["fused"] = True if fused else None
    if fused and not damped:
        for g in groups:
            for p in g["params"] if g["momentum"] != 0 else ():
                state = optimizer.state[p]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return fused

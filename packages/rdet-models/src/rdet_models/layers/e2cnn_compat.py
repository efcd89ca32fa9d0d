"""e2cnn glue for ReDet (MMRotate's ``mmrotate/models/utils/enn.py``): field types and layer builders
of the rotation group C_8 acting on the plane, imported only when a ReDet part is built.

e2cnn is the optional extra ``rdet-models[redet]``: importing rdet_models never imports it, and
building ReResNet / ReFPN / ReDet without it raises an ImportError that says what to install.
A *regular* field of C_N is N channels (one per orientation), so ``planes`` channels are
``planes / N`` fields (``build_enn_divide_feature``); the resulting modules keep e2cnn's
state-dict names (``weights``, ``_basisexpansion...``, ``filter`` in eval mode, ``batch_norm_[8]``).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = [
    "N",
    "build_enn_divide_feature",
    "build_enn_feature",
    "build_enn_norm_layer",
    "build_enn_trivial_feature",
    "e2cnn_nn",
    "ennAvgPool",
    "ennConv",
    "ennInterpolate",
    "ennMaxPool",
    "ennReLU",
    "ennTrivialConv",
    "geometric_tensor",
    "quiet_e2cnn",
]

#: orientations of the rotation group (MMRotate's ``enn.N``)
N = 8

_INSTALL_HINT = "ReDet (ReResNet, ReFPN) needs e2cnn: pip install rdet-models[redet]"


@functools.cache
def _e2cnn() -> tuple[ModuleType, Any]:
    """(e2cnn.nn, the C_N gspace), imported on first use."""
    try:
        with quiet_e2cnn():
            import e2cnn.nn as enn
            from e2cnn import gspaces
    except ImportError as err:
        raise ImportError(f"{_INSTALL_HINT} ({err})") from err
    return enn, gspaces.Rot2dOnR2(N=N)


def e2cnn_nn() -> ModuleType:
    """``e2cnn.nn`` (ImportError naming ``pip install rdet-models[redet]`` when missing)."""
    return _e2cnn()[0]


@contextlib.contextmanager
def quiet_e2cnn() -> Iterator[None]:
    """Silence the one warning e2cnn 0.2.3 gives on torch 2.x: it indexes its basis masks with
    uint8 tensors (``full_mask[mask]``), which torch deprecated for bool; the result is the same."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="indexing with dtype torch.uint8 is now deprecated", category=UserWarning
        )
        yield


def build_enn_divide_feature(planes: int) -> Any:
    """A field type of ``planes / N`` regular fields (``planes`` channels)."""
    enn, gspace = _e2cnn()
    return enn.FieldType(gspace, [gspace.regular_repr] * int(planes / gspace.fibergroup.order()))


def build_enn_feature(planes: int) -> Any:
    """A field type of ``planes`` regular fields (``planes * N`` channels)."""
    enn, gspace = _e2cnn()
    return enn.FieldType(gspace, planes * [gspace.regular_repr])


def build_enn_trivial_feature(planes: int) -> Any:
    """A field type of ``planes`` trivial (rotation-invariant) fields, e.g. an RGB image."""
    enn, gspace = _e2cnn()
    return enn.FieldType(gspace, planes * [gspace.trivial_repr])


def build_enn_norm_layer(num_features: int, postfix: int | str = "") -> tuple[str, Any]:
    """(``'bn' + postfix``, an InnerBatchNorm over ``num_features`` channels)."""
    enn = e2cnn_nn()
    return "bn" + str(postfix), enn.InnerBatchNorm(build_enn_divide_feature(num_features))


def _r2conv(in_type: Any, out_type: Any, kernel_size: int, **kwargs: Any) -> Any:
    enn = e2cnn_nn()
    with quiet_e2cnn():
        return enn.R2Conv(in_type, out_type, kernel_size, sigma=None, frequencies_cutoff=_cutoff, **kwargs)


def _cutoff(r: float) -> float:
    """MMRotate's ``frequencies_cutoff=lambda r: 3 * r`` (a named function, so modules pickle)."""
    return 3 * r


def ennConv(
    inplanes: int,
    outplanes: int,
    kernel_size: int = 3,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    bias: bool = False,
    dilation: int = 1,
) -> Any:
    """An equivariant convolution from ``inplanes`` to ``outplanes`` channels (regular fields)."""
    return _r2conv(
        build_enn_divide_feature(inplanes),
        build_enn_divide_feature(outplanes),
        kernel_size,
        stride=stride,
        padding=padding,
        groups=groups,
        bias=bias,
        dilation=dilation,
    )


def ennTrivialConv(
    inplanes: int,
    outplanes: int,
    kernel_size: int = 3,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    bias: bool = False,
    dilation: int = 1,
) -> Any:
    """An equivariant convolution from ``inplanes`` trivial fields (the image) to ``outplanes`` channels."""
    return _r2conv(
        build_enn_trivial_feature(inplanes),
        build_enn_divide_feature(outplanes),
        kernel_size,
        stride=stride,
        padding=padding,
        groups=groups,
        bias=bias,
        dilation=dilation,
    )


def ennReLU(inplanes: int) -> Any:
    """ReLU on ``inplanes`` channels (not in place, as MMRotate)."""
    return e2cnn_nn().ReLU(build_enn_divide_feature(inplanes), inplace=False)


def ennAvgPool(
    inplanes: int, kernel_size: int = 1, stride: int | None = None, padding: int = 0, ceil_mode: bool = False
) -> Any:
    """Channel-wise average pooling."""
    return e2cnn_nn().PointwiseAvgPool(
        build_enn_divide_feature(inplanes), kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode
    )


def ennMaxPool(inplanes: int, kernel_size: int, stride: int = 1, padding: int = 0) -> Any:
    """Channel-wise max pooling (MMRotate's name)."""
    return e2cnn_nn().PointwiseMaxPool(
        build_enn_divide_feature(inplanes), kernel_size=kernel_size, stride=stride, padding=padding
    )


def ennInterpolate(
    inplanes: int, scale_factor: int, mode: str = "nearest", align_corners: bool = False
) -> Any:
    """Upsampling by ``scale_factor``."""
    return e2cnn_nn().R2Upsampling(
        build_enn_divide_feature(inplanes), scale_factor, mode=mode, align_corners=align_corners
    )


def geometric_tensor(tensor: Any, field_type: Any) -> Any:
    """``e2cnn.nn.GeometricTensor(tensor, field_type)``."""
    return e2cnn_nn().GeometricTensor(tensor, field_type)

"""ResNeXt (MMDetection 2.x's ``ResNeXt``): ResNet's Bottleneck with a wider, grouped 3x3 conv.

``ResNeXt(depth=101, groups=64, base_width=4)`` is MMDetection's ``resnext101_64x4d``; its module
names are ResNet's (``layer1.0.conv2.weight`` ...), so MMDetection checkpoints load unchanged.
"""

from __future__ import annotations

import math

from rdet_models.backbones.resnet import Bottleneck as _Bottleneck
from rdet_models.backbones.resnet import ResLayer, ResNet
from rdet_models.registry import MODELS

__all__ = ["Bottleneck", "ResNeXt"]


class Bottleneck(_Bottleneck):
    """ResNeXt's block: the 3x3 conv (and the norms around it) has ``floor(planes * base_width /
    base_channels) * groups`` channels in ``groups`` groups; ``groups=1`` is ResNet's block."""

    # MMDetection's ResNeXt block pops `fallback_on_stride` a second time (always False by then)
    falls_back_on_stride = False

    def __init__(
        self,
        inplanes: int,
        planes: int,
        groups: int = 1,
        base_width: int = 4,
        base_channels: int = 64,
        **kwargs: object,
    ) -> None:
        if groups < 1 or base_width < 1:
            raise ValueError(f"groups and base_width must be positive, got {groups} and {base_width}")
        self.groups, self.base_width, self.base_channels = groups, base_width, base_channels
        super().__init__(inplanes, planes, **kwargs)

    def _conv2_width_groups(self, planes: int) -> tuple[int, int]:
        if self.groups == 1:
            return planes, 1
        return math.floor(planes * (self.base_width / self.base_channels)) * self.groups, self.groups


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNeXt backbone: ResNet's arguments plus ``groups`` (cardinality) and ``base_width``
    (channels per group at ``base_channels``). Depths 50, 101, 152.

    Forward: (N, 3, H, W) -> tuple of (N, 256 * 2**i, H / 2**(i+2), W / 2**(i+2)) for the
    default widths, as ResNet.
    """

    arch_settings = {  # noqa: RUF012 - MMDetection's class attribute
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, groups: int = 1, base_width: int = 4, **kwargs: object) -> None:
        self.groups, self.base_width = groups, base_width
        super().__init__(**kwargs)

    def make_res_layer(self, **kwargs: object) -> ResLayer:
        return ResLayer(
            groups=self.groups, base_width=self.base_width, base_channels=self.base_channels, **kwargs
        )

"""mmcv's TruncNormal and Caffe2Xavier init_cfg types: the same draws as mmcv's functions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rdet_models.init import initialize


def test_trunc_normal_draws_as_mmcv() -> None:
    conv = nn.Conv2d(8, 16, 3)
    torch.manual_seed(3)
    initialize(conv, dict(type="TruncNormal", layer="Conv2d", mean=0.1, std=0.5, a=-0.3, b=0.4, bias=0.2))
    ref = torch.empty_like(conv.weight)
    torch.manual_seed(3)
    nn.init.trunc_normal_(ref, 0.1, 0.5, -0.3, 0.4)  # mmcv's trunc_normal_: the same algorithm
    torch.testing.assert_close(conv.weight.detach(), ref)
    w = conv.weight.detach()
    assert float(w.min()) >= -0.3 and float(w.max()) <= 0.4
    assert torch.all(conv.bias == 0.2)


def test_caffe2_xavier_is_kaiming_uniform_fan_in() -> None:
    linear = nn.Linear(50, 20)
    torch.manual_seed(5)
    initialize(linear, dict(type="Caffe2Xavier", layer="Linear"))
    ref = torch.empty_like(linear.weight)
    torch.manual_seed(5)
    nn.init.kaiming_uniform_(ref, a=1, mode="fan_in", nonlinearity="leaky_relu")
    torch.testing.assert_close(linear.weight.detach(), ref)
    bound = (3 / 50) ** 0.5  # gain sqrt(2 / (1 + 1)) = 1: U(-sqrt(3 / fan_in), sqrt(3 / fan_in))
    top = float(linear.weight.detach().abs().max())
    assert 0.9 * bound < top <= bound
    assert not linear.bias.detach().any()


def test_new_types_check_their_keys() -> None:
    with pytest.raises(TypeError, match="Caffe2Xavier.*fixes"):
        initialize(nn.Linear(2, 2), dict(type="Caffe2Xavier", layer="Linear", mode="fan_out"))
    with pytest.raises(TypeError, match="unexpected keys"):
        initialize(nn.Linear(2, 2), dict(type="TruncNormal", layer="Linear", stdd=0.02))
    with pytest.raises(KeyError, match="TruncNormal"):  # the list of known types names the new ones
        initialize(nn.Linear(2, 2), dict(type="Orthogonal", layer="Linear"))

"""rdet_models.fuse_conv_bn: BatchNorm folded into the conv before it, only where that conv's
output is what the BatchNorm normalises. The golden detections of fused models are checked in
rdet-apps (test_apis_inference.py::test_fused_conv_bn_keeps_the_golden_detections)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rdet_models import fuse_conv_bn
from rdet_models.backbones import ResNet
from rdet_models.fuse import fused_conv
from rdet_models.layers import ConvModule


def _random_stats(bn: nn.BatchNorm2d) -> nn.BatchNorm2d:
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    return bn.eval()


@pytest.mark.parametrize(("groups", "bias"), [(1, False), (1, True), (2, True)])
def test_fused_conv_equals_bn_after_conv(groups: int, bias: bool) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=groups, bias=bias)
    bn = _random_stats(nn.BatchNorm2d(6, eps=1e-3))
    x = torch.randn(2, 4, 9, 11)
    torch.testing.assert_close(fused_conv(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_norm_before_conv_is_not_fused() -> None:
    """mmcv's fuse_conv_bn pairs a BatchNorm with the conv registered before it, and would fold
    the norm of ``order=('norm', 'conv', 'act')`` (applied to the *input*) into the conv."""
    torch.manual_seed(0)
    pre = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type="BN"), order=("norm", "conv", "act")).eval()
    _random_stats(pre.norm)
    post = ConvModule(4, 6, 3, padding=1, norm_cfg=dict(type="BN")).eval()
    _random_stats(post.norm)
    x = torch.randn(1, 4, 8, 8)
    expected = post(pre(x))
    model = fuse_conv_bn(nn.Sequential(pre, post).eval())
    assert isinstance(pre.norm, nn.BatchNorm2d)  # kept
    assert isinstance(post.norm, nn.Identity) and post.conv.bias is not None  # folded
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_has_no_batchnorm_left_and_computes_the_same(depth: int) -> None:
    torch.manual_seed(0)
    net = ResNet(depth=depth, base_channels=16, out_indices=(0, 1, 2, 3)).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            _random_stats(m)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = net(x)
        fuse_conv_bn(net)
        got = net(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_fusing_a_model_in_training_mode_is_refused() -> None:
    with pytest.raises(RuntimeError, match=r"model.eval\(\)"):
        fuse_conv_bn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))


def test_batchnorm_without_running_stats_is_refused() -> None:
    with pytest.raises(ValueError, match="running statistics"):
        fused_conv(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))


# -- the fold on the fly: conv_norm / sequential_forward (eval-mode BatchNorm while training) --


def _grads(module: nn.Module, x: torch.Tensor, forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # type: ignore[no-untyped-def]
    x = x.detach().clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    out = forward(x)
    (out * torch.linspace(-1, 2, out.numel()).reshape(out.shape)).sum().backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    grads["input"] = x.grad.clone()
    return out.detach(), grads


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("groups", "bias"), [(1, False), (1, True), (2, True)])
def test_conv_norm_folds_an_eval_batchnorm_with_the_same_values_and_gradients(
    monkeypatch: pytest.MonkeyPatch, groups: int, bias: bool, channels_last: bool
) -> None:
    from rdet_models.fuse import conv_norm

    torch.manual_seed(0)
    pair = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=groups, bias=bias), nn.BatchNorm2d(6))
    _random_stats(pair[1])
    x = torch.randn(2, 4, 9, 11)
    if channels_last:
        pair = pair.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    expected, expected_grads = _grads(pair, x, lambda t: pair[1](pair[0](t)))
    with monkeypatch.context() as m:  # folded: no batch norm runs at all
        m.setattr(torch.nn.functional, "batch_norm", lambda *a, **k: pytest.fail("BatchNorm ran"))
        out, grads = _grads(pair, x, lambda t: conv_norm(pair[0], pair[1], t))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert (
        grads.keys()
        == expected_grads.keys()
        == {"0.weight", "1.weight", "1.bias", "input"} | ({"0.bias"} if bias else set())
    )
    for name in grads:
        torch.testing.assert_close(grads[name], expected_grads[name], rtol=1e-4, atol=1e-5, msg=name)
    assert pair[1].running_mean.abs().max() > 0 and not pair[1].training


def test_conv_norm_leaves_a_training_batchnorm_and_hooked_modules_alone() -> None:
    """Batch statistics (train mode) cannot be folded: the two modules run as they are, bit for
    bit, and the running statistics update; nor are modules with forward hooks (spectral norm
    computes the weight in one) folded."""
    from rdet_models.fuse import conv_norm

    torch.manual_seed(0)
    conv, bn, ref_bn = nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.BatchNorm2d(5)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(conv_norm(conv, bn, x), ref_bn(conv(x)))
    assert torch.equal(bn.running_mean, ref_bn.running_mean) and bn.num_batches_tracked == 1
    spectral = nn.utils.spectral_norm(nn.Conv2d(3, 5, 3, padding=1))
    bn = _random_stats(nn.BatchNorm2d(5))
    spectral.eval()
    assert torch.equal(conv_norm(spectral, bn, x), bn(spectral(x)))


def test_sequential_forward_folds_conv_then_batchnorm_only() -> None:
    from rdet_models.fuse import sequential_forward

    torch.manual_seed(0)
    seq = nn.Sequential(
        nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),  # ResNet's avg_down
        nn.Conv2d(3, 4, 1, bias=False),
        _random_stats(nn.BatchNorm2d(4)),
        nn.ReLU(),
        _random_stats(nn.BatchNorm2d(4)),  # a norm after a non-conv: run as it is
        nn.Conv2d(4, 2, 3, padding=1),
    ).eval()
    x = torch.randn(1, 3, 9, 9)
    torch.testing.assert_close(sequential_forward(seq, x), seq(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("depth", "deep_stem", "avg_down"), [(50, False, False), (18, True, True)])
def test_resnet_training_with_norm_eval_folds_and_keeps_the_gradients(
    monkeypatch: pytest.MonkeyPatch, depth: int, deep_stem: bool, avg_down: bool
) -> None:
    """MMRotate's configs train the ResNet with ``norm_eval=True`` and the stem and first stage
    frozen: every BatchNorm is then in eval mode and folds. Loss and every gradient match the
    unfolded network (``bn(conv(x))``), the frozen parameters get none, and the state dict is
    the same."""
    import rdet_models.fuse

    torch.manual_seed(0)
    net = ResNet(
        depth=depth, base_channels=8, frozen_stages=1, norm_eval=True, deep_stem=deep_stem, avg_down=avg_down
    )
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            _random_stats(m)
    net.train()
    keys = list(net.state_dict())
    x = torch.randn(2, 3, 64, 64)

    def loss(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([o.flatten() for o in net(t)])

    with monkeypatch.context() as m:  # every norm folds: no batch norm runs
        m.setattr(torch.nn.functional, "batch_norm", lambda *a, **k: pytest.fail("BatchNorm ran"))
        folded, folded_grads = _grads(net, x, loss)
    with monkeypatch.context() as m:
        m.setattr(rdet_models.fuse, "_foldable", lambda conv, norm: False)
        plain, plain_grads = _grads(net, x, loss)
    torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-4)
    assert folded_grads.keys() == plain_grads.keys()
    assert not any(n.startswith(("conv1", "bn1", "stem", "layer1")) for n in folded_grads)
    for name in folded_grads:
        torch.testing.assert_close(folded_grads[name], plain_grads[name], rtol=1e-3, atol=1e-4, msg=name)
    assert list(net.state_dict()) == keys

"""Rotated boxes as 2-D Gaussians ``(mu, Sigma)``, as the GWD / KLD / KFIoU losses use them.

``xywhr2gaussian`` is MMRotate's ``xy_wh_r_2_xy_sigma``: ``mu = (cx, cy)``,
``Sigma = R diag(w^2/4, h^2/4) R^T`` with ``R = [[cos, -sin], [sin, cos]]`` (w, h clamped to
[1e-7, 1e7] as MMRotate does). ``gt2gaussian`` / ``gaussian2bbox`` are MMRotate's polygon
forms (``L = 3``: ``Sigma = R diag(w^2, h^2) R^T / (4 L^2)``, corners at ``L`` standard
deviations). Work on numpy and torch, vectorised, differentiable (closed-form 2x2 eigen
decomposition, no SVD package needed).
"""

from __future__ import annotations

from ._backend import Array, as_float_array, float_array, namespace
from .angles import regularize

__all__ = ["gaussian2bbox", "gaussian2xywhr", "gt2gaussian", "xy_wh_r_2_xy_sigma", "xywhr2gaussian"]


def _rot_diag(xp, c, s, d1, d2):
    # R diag(d1, d2) R^T with R = [[c, -s], [s, c]]
    a = c * c * d1 + s * s * d2
    b = c * s * (d1 - d2)
    d = s * s * d1 + c * c * d2
    row0 = xp.stack([a, b], -1)
    row1 = xp.stack([b, d], -1)
    return xp.stack([row0, row1], -2)


def xywhr2gaussian(boxes: Array) -> tuple[Array, Array]:
    """Boxes ``(..., 5)`` -> ``mu (..., 2)``, ``Sigma (..., 2, 2)`` (pixels, pixels^2)."""
    b = float_array(boxes, "boxes", 5)
    xp = namespace(b)
    w = xp.clip(b[..., 2], 1e-7, 1e7)
    h = xp.clip(b[..., 3], 1e-7, 1e7)
    c, s = xp.cos(b[..., 4]), xp.sin(b[..., 4])
    return b[..., :2], _rot_diag(xp, c, s, w * w / 4, h * h / 4)


xy_wh_r_2_xy_sigma = xywhr2gaussian


def gaussian2xywhr(mu: Array, sigma: Array, version: str = "le90") -> Array:
    """Inverse of :func:`xywhr2gaussian`: ``mu (..., 2)``, ``Sigma (..., 2, 2)`` -> ``(..., 5)``.

    w = 2 sqrt(larger eigenvalue) along its eigenvector, h = 2 sqrt(smaller), then put in
    ``version``'s canonical form (a Gaussian cannot tell theta from theta + pi, nor a square's
    orientation).
    """
    mu = float_array(mu, "mu", 2)
    sg = float_array(sigma, "sigma", 2, "(..., 2, 2)")
    if sg.ndim < 2 or sg.shape[-2] < 2:
        raise ValueError(f"sigma must have shape (..., 2, 2), got {tuple(sg.shape)}")
    xp = namespace(sg)
    a, b, d = sg[..., 0, 0], sg[..., 0, 1], sg[..., 1, 1]
    mean = (a + d) / 2
    r = xp.sqrt(((a - d) / 2) ** 2 + b * b + 1e-30)
    l1 = xp.clip(mean + r, 0.0)
    l2 = xp.clip(mean - r, 0.0)
    t = 0.5 * xp.atan2(2 * b, a - d)
    out = xp.stack([mu[..., 0], mu[..., 1], 2 * xp.sqrt(l1), 2 * xp.sqrt(l2), t], -1)
    return regularize(out, version)


def gt2gaussian(target: Array) -> tuple[Array, Array]:
    """MMRotate's ``gt2gaussian``: polygons ``(..., 4, 2)`` or ``(..., 8)`` -> ``(mu, Sigma)``.

    ``mu`` is the mean of the 4 vertices; w, h are |p1p2|, |p2p3|; the rotation is that of
    p1p2; ``Sigma = R diag(w^2, h^2) R^T / 36``.
    """
    t = as_float_array(target)
    xp = namespace(t)
    if t.ndim and t.shape[-1] == 8:
        t = t.reshape(*t.shape[:-1], 4, 2)
    elif t.ndim < 2 or t.shape[-2:] != (4, 2):
        raise ValueError(f"target must have shape (..., 8) or (..., 4, 2), got {tuple(t.shape)}")
    center = (t[..., 0, :] + t[..., 1, :] + t[..., 2, :] + t[..., 3, :]) / 4
    e1 = t[..., 1, :] - t[..., 0, :]
    e2 = t[..., 2, :] - t[..., 1, :]
    w2 = (e1 * e1).sum(-1)
    h2 = (e2 * e2).sum(-1)
    wn = xp.sqrt(w2)
    c, s = e1[..., 0] / wn, e1[..., 1] / wn
    L = 3
    return center, _rot_diag(xp, c, s, w2 / (4 * L * L), h2 / (4 * L * L))


def gaussian2bbox(mu: Array, sigma: Array | None = None) -> Array:
    """MMRotate's ``gaussian2bbox``: Gaussians -> polygons ``(..., 8)`` at ``L = 3`` std devs.

    Takes ``(mu, Sigma)`` (or an object with ``.mu`` / ``.var`` as MMRotate's mixture, whose
    extra singleton dimension is squeezed). Corner order: ``(-1, 1), (1, 1), (1, -1),
    (-1, -1)`` in the principal axes (major first); unlike MMRotate no ``torch_batch_svd``.
    """
    if sigma is None:
        mu, sigma = mu.mu, mu.var
        if mu.ndim >= 2 and mu.shape[-2] == 1:
            mu, sigma = mu[..., 0, :], sigma[..., 0, :, :]
    boxes = gaussian2xywhr(mu, sigma, "le90")
    xp = namespace(boxes)
    L = 3
    x, y, w, h, t = (boxes[..., i] for i in range(5))
    c, s = xp.cos(t), xp.sin(t)
    hw, hh = L * w / 2, L * h / 2
    pts = []
    for sx, sy in ((-1, 1), (1, 1), (1, -1), (-1, -1)):
        pts += [x + sx * hw * c - sy * hh * s, y + sx * hw * s + sy * hh * c]
    return xp.stack(pts, -1)

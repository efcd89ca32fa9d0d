"""``cv2.minAreaRect`` of quadrilaterals, reproduced in vectorised numpy (no OpenCV).

MMRotate's ``poly2obb_np`` ('oc', 'le90') calls ``cv2.minAreaRect``, which runs rotating
calipers over the convex hull in float32. For near-rectangles the rectangles flush with two
adjacent edges have almost the same area, and OpenCV's float32 rounding decides which one it
returns: an exact minimum-area rectangle picks the other one about one time in ten. To give
MMRotate's answer this module repeats OpenCV's steps with the same float32 operations:
the hull in OpenCV's order (from the lowest-x point, counter-clockwise with y up, then
cyclically shifted as ``cv2.convexHull`` does), the
calipers loop of OpenCV >= 4.5.1 (ties go to the later edge) and the corner reconstruction.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32


def _hull4(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convex hull of 4 points per row, in OpenCV's order.

    Returns ``(hull (N, 4, 2) float32, n (N,))``; rows with fewer hull points are padded by
    repeating the first one.
    """
    p = pts.astype(np.float64)
    N = p.shape[0]
    # a point is on the hull unless it lies inside (or on) the triangle of the other three
    on_hull = np.ones((N, 4), dtype=bool)
    for i in range(4):
        a, b, c = (p[:, j] for j in range(4) if j != i)
        q = p[:, i]

        def cr(u, v, w):
            return (v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0])

        d1, d2, d3 = cr(a, b, q), cr(b, c, q), cr(c, a, q)
        area = cr(a, b, c)
        inside = ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
        on_hull[:, i] = ~(inside & (area != 0))
    # start: smallest x, then smallest y (OpenCV sorts points by (x, y))
    order = np.lexsort((p[:, :, 1], p[:, :, 0]), axis=-1)
    start = order[:, 0]
    s = p[np.arange(N), start]
    ang = np.arctan2(p[:, :, 1] - s[:, None, 1], p[:, :, 0] - s[:, None, 0])
    ang[np.arange(N), start] = np.inf  # first
    ang = np.where(on_hull, ang, -np.inf)  # dropped points last
    # counter-clockwise with y up: increasing angle seen from the leftmost point
    ang = np.where(np.isinf(ang) & (ang > 0), -np.inf, np.where(np.isinf(ang), np.inf, ang))
    idx = np.argsort(ang, axis=-1, kind="stable")
    n = on_hull.sum(-1)
    idx = _cyclic_shift(idx, n)
    hull = np.take_along_axis(pts.astype(f32), idx[..., None], axis=1)
    pad = np.arange(4)[None, :] >= n[:, None]
    hull = np.where(pad[..., None], hull[:, :1], hull)
    return hull, n


def _cyclic_shift(idx: np.ndarray, n: np.ndarray) -> np.ndarray:
    """OpenCV's last step: if the hull's point indices are cyclically ascending (descending),
    rotate the list to start at the smallest (largest) index."""
    out = idx.copy()
    for m in (3, 4):
        rows = np.nonzero(n == m)[0]
        if rows.size == 0:
            continue
        sub = idx[rows, :m]
        done = np.zeros(rows.size, dtype=bool)
        for ascending in (True, False):
            for r in range(1, m):
                s = np.roll(sub, -r, axis=1)
                d = np.diff(s, axis=1)
                mono = (d > 0).all(1) if ascending else (d < 0).all(1)
                # the unshifted list may already be monotone: then nothing moves
                d0 = np.diff(sub, axis=1)
                mono0 = (d0 > 0).all(1) if ascending else (d0 < 0).all(1)
                take = mono & ~done & ~mono0
                out[rows[take], :m] = s[take]
                done |= take | mono0
    return out


def cv_min_area_rect(polys: np.ndarray) -> np.ndarray:
    """``cv2.minAreaRect`` of ``(N, 8)`` quadrilaterals; degenerate ones (zero-length sides,
    the zero-area quads of split DOTA patches) compute without numpy warnings."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _min_area_rect(polys)


def _min_area_rect(polys: np.ndarray) -> np.ndarray:
    """``cv2.minAreaRect`` of ``(N, 8)`` quadrilaterals -> ``(N, 5)`` float64 boxes.

    Output ``(cx, cy, w, h, theta)`` with theta = atan2 of the first side vector (radians);
    callers regularise to their version. Rows whose hull has fewer than 3 points give the
    segment's box with h = 0 (as OpenCV does).
    """
    pts = np.asarray(polys, dtype=f32).reshape(-1, 4, 2)
    N = pts.shape[0]
    P, n = _hull4(pts)
    rows = np.arange(N)
    nn = np.maximum(n, 1)
    nxt = (np.arange(4)[None, :] + 1) % nn[:, None]
    Pn = np.take_along_axis(P, nxt[..., None], axis=1)
    vect = (Pn - P).astype(f32)  # float32 subtraction
    dxd = vect[..., 0].astype(np.float64)
    dyd = vect[..., 1].astype(np.float64)
    with np.errstate(divide="ignore"):
        inv_len = (1.0 / np.sqrt(dxd * dxd + dyd * dyd)).astype(f32)
    valid = np.arange(4)[None, :] < n[:, None]
    X, Y = P[..., 0], P[..., 1]
    big = np.where(valid, X, np.inf)
    left = np.argmin(big, -1)
    right = np.argmax(np.where(valid, X, -np.inf), -1)
    top = np.argmax(np.where(valid, Y, -np.inf), -1)
    bottom = np.argmin(np.where(valid, Y, np.inf), -1)
    # hull orientation: first non-zero cross product of consecutive edges
    orient = np.zeros(N, dtype=f32)
    last = np.take_along_axis(vect, (nn - 1)[:, None, None].repeat(2, -1), axis=1)[:, 0]
    ax, ay = last[:, 0].astype(np.float64), last[:, 1].astype(np.float64)
    found = np.zeros(N, dtype=bool)
    for i in range(4):
        bx, by = dxd[:, i], dyd[:, i]
        conv = ax * by - ay * bx
        take = (~found) & (conv != 0) & (i < n)
        orient = np.where(take, np.where(conv > 0, f32(1), f32(-1)), orient)
        found |= take
        ax, ay = np.where(i < n, bx, ax), np.where(i < n, by, ay)
    base_a = orient.astype(f32)
    base_b = np.zeros(N, dtype=f32)
    seq = np.stack([bottom, right, top, left], -1)
    minarea = np.full(N, np.finfo(f32).max, dtype=f32)
    s_left = np.zeros(N, dtype=np.int64)
    s_bottom = np.zeros(N, dtype=np.int64)
    s_a = np.zeros(N, dtype=f32)
    s_b = np.zeros(N, dtype=f32)
    s_w = np.zeros(N, dtype=f32)
    s_h = np.zeros(N, dtype=f32)
    for k in range(4):
        active = k < n
        vx = np.take_along_axis(vect[..., 0], seq, -1)
        vy = np.take_along_axis(vect[..., 1], seq, -1)
        # caliper sides brought to a common frame: v0, rot90cw(v1), -v2, rot90ccw(v3)
        rx = np.stack([vx[:, 0], vy[:, 1], -vx[:, 2], -vy[:, 3]], -1)
        ry = np.stack([vy[:, 0], -vx[:, 1], -vy[:, 2], vx[:, 3]], -1)
        main = np.zeros(N, dtype=np.int64)
        for i in range(1, 4):
            mx, my = rx[rows, main], ry[rows, main]
            # "first vector is right of the second": rot90cw(r_i) . r_main < 0
            right_of = (ry[:, i] * mx + (-rx[:, i]) * my).astype(f32) < 0
            main = np.where(right_of, i, main)
        pidx = seq[rows, main]
        lx = (vect[rows, pidx, 0] * inv_len[rows, pidx]).astype(f32)
        ly = (vect[rows, pidx, 1] * inv_len[rows, pidx]).astype(f32)
        na = np.choose(main, [lx, ly, -lx, -ly]).astype(f32)
        nb = np.choose(main, [ly, -lx, -ly, lx]).astype(f32)
        base_a = np.where(active, na, base_a)
        base_b = np.where(active, nb, base_b)
        inc = seq[rows, main] + 1
        inc = np.where(inc == n, 0, inc)
        seq = seq.copy()
        seq[rows, main] = np.where(active, inc, seq[rows, main])
        q = [P[rows, seq[:, j]] for j in range(4)]
        dx = q[1][:, 0] - q[3][:, 0]
        dy = q[1][:, 1] - q[3][:, 1]
        width = (dx * base_a + dy * base_b).astype(f32)
        dx = q[2][:, 0] - q[0][:, 0]
        dy = q[2][:, 1] - q[0][:, 1]
        height = (-dx * base_b + dy * base_a).astype(f32)
        area = (width * height).astype(f32)
        upd = active & (area <= minarea)
        minarea = np.where(upd, area, minarea)
        s_left = np.where(upd, seq[:, 3], s_left)
        s_bottom = np.where(upd, seq[:, 0], s_bottom)
        s_a = np.where(upd, base_a, s_a)
        s_b = np.where(upd, base_b, s_b)
        s_w = np.where(upd, width, s_w)
        s_h = np.where(upd, height, s_h)
    A1, B1 = s_a, s_b
    A2, B2 = -s_b, s_a
    pl, pb = P[rows, s_left], P[rows, s_bottom]
    C1 = (A1 * pl[:, 0] + pl[:, 1] * B1).astype(f32)
    C2 = (A2 * pb[:, 0] + pb[:, 1] * B2).astype(f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        idet = (f32(1) / (A1 * B2 - A2 * B1)).astype(f32)
        px = ((C1 * B2 - C2 * B1) * idet).astype(f32)
        py = ((A1 * C2 - A2 * C1) * idet).astype(f32)
    o1x, o1y = (A1 * s_w).astype(f32), (B1 * s_w).astype(f32)
    o2x, o2y = (A2 * s_h).astype(f32), (B2 * s_h).astype(f32)
    cx = (px + (o1x + o2x) * f32(0.5)).astype(f32)
    cy = (py + (o1y + o2y) * f32(0.5)).astype(f32)
    w = np.sqrt(o1x.astype(np.float64) ** 2 + o1y.astype(np.float64) ** 2).astype(f32)
    h = np.sqrt(o2x.astype(np.float64) ** 2 + o2y.astype(np.float64) ** 2).astype(f32)
    t = np.arctan2(o1y.astype(np.float64), o1x.astype(np.float64)).astype(f32)
    out = np.stack([cx, cy, w, h, t], -1).astype(np.float64)
    # hulls of fewer than 3 points: the segment (or point) with zero height
    small = n < 3
    if small.any():
        a, b = P[small, 0].astype(np.float64), P[small, 1 % 4].astype(np.float64)
        b = np.where((n[small] < 2)[:, None], a, b)
        d = b - a
        out[small] = np.stack(
            [
                (a[:, 0] + b[:, 0]) / 2,
                (a[:, 1] + b[:, 1]) / 2,
                np.hypot(d[:, 0], d[:, 1]),
                0 * d[:, 0],
                np.arctan2(d[:, 1], d[:, 0]),
            ],
            -1,
        )
    out[:, 4] = _through_degrees(out[:, 4].astype(f32))
    return out


def _through_degrees(theta: np.ndarray) -> np.ndarray:
    """float32 radians -> radians as MMRotate has them: OpenCV returns float32 degrees
    (``(float)(angle * 180 / CV_PI)``, the product in float32) and MMRotate divides by 180 and
    multiplies by pi in float64. An axis-aligned rectangle's float32 pi/2 (4.4e-8 above pi/2)
    thus becomes exactly 90 degrees and float64 pi/2, which 'oc' keeps in its (0, pi/2]."""
    degrees = ((theta * f32(180)).astype(np.float64) / np.pi).astype(f32)
    return degrees.astype(np.float64) / 180 * np.pi

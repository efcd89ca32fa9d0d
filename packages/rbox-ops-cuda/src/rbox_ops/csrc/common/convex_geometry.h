// Convex hulls of point sets, convex clipping and the minimum-area rectangle, on host and device.
//
// The algorithm of rbox_ops/_convex_torch.py step for step (read its docstring), so the compiled
// and torch backends make the same discrete choices:
// - hull_ring: i -> j (distinct points, the lowest index of equal ones) is a hull edge when every
//   other point is strictly on its left or on the segment; the ring walks the first edge of each
//   vertex from the lowest-index hull vertex (counter-clockwise in (x, y) axes, clockwise on
//   screen), padded to n entries with its start; no edge gives [0] * n.
// - clip_ring (Sutherland-Hodgman): keeps cross(c1 - c0, p - c0) >= 0; m entries in, m + 1 out,
//   padded with the first kept point, or zeros.
// - ring_area: the shoelace around the first point.
// Scalars are double, or Dual<N> (common/dual.h) where a gradient is wanted; the decisions
// read values only. Products are rounded apart on the device (no fused multiply-add), so
// cross(e, e) == 0 exactly, as on the host and in torch.
#pragma once

#include <math.h>

#include "dual.h"
#include "macros.h"

namespace rbox_ops {
namespace convex {

constexpr int kMaxPoints = 16;                 // points in one hull (9 + 4 for GIoU's enclosing hull)
constexpr int kMaxRing = kMaxPoints + 4 + 1;   // a ring after four clips (+1: the closing copy)

RBOX_HD double mul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

template <typename T>
struct Pt {
  T x, y;
};

template <typename T>
RBOX_HD T cross(const T& ax, const T& ay, const T& bx, const T& by) {
  return ax * by - ay * bx;
}
RBOX_HD double cross(double ax, double ay, double bx, double by) { return mul(ax, by) - mul(ay, bx); }

// xy: n <= kMaxPoints points (x0, y0, x1, y1, ...); ring: n indices. Returns whether there is an edge.
RBOX_HD bool hull_ring(const double* xy, int n, int* ring) {
  bool canonical[kMaxPoints];
  int next[kMaxPoints];
  int start = -1;
  for (int i = 0; i < n; i++) {
    canonical[i] = true;
    for (int j = 0; j < i; j++) {
      if (xy[2 * j] - xy[2 * i] == 0 && xy[2 * j + 1] - xy[2 * i + 1] == 0) {
        canonical[i] = false;
        break;
      }
    }
  }
  for (int i = 0; i < n; i++) {
    next[i] = 0;
    if (!canonical[i]) continue;
    for (int j = 0; j < n; j++) {
      if (j == i || !canonical[j]) continue;
      const double ex = xy[2 * j] - xy[2 * i], ey = xy[2 * j + 1] - xy[2 * i + 1];
      bool edge = true;
      for (int k = 0; k < n && edge; k++) {
        if (k == i || k == j) continue;
        const double rx = xy[2 * k] - xy[2 * i], ry = xy[2 * k + 1] - xy[2 * i + 1];
        const double c = cross(ex, ey, rx, ry);
        if (c > 0) continue;
        const double dot = mul(ex, rx) + mul(ey, ry);
        edge = c == 0 && dot >= 0 && dot <= mul(ex, ex) + mul(ey, ey);
      }
      if (edge) {
        next[i] = j;
        if (start < 0) start = i;
        break;
      }
    }
  }
  if (start < 0) {
    for (int s = 0; s < n; s++) ring[s] = 0;
    return false;
  }
  bool done = false;
  int cur = start;
  ring[0] = start;
  for (int s = 1; s < n; s++) {
    const int step = next[cur];
    done = done || step == start;
    cur = done ? start : step;
    ring[s] = cur;
  }
  return true;
}

// Signed area (positive counter-clockwise in (x, y) axes) of a ring of m entries.
template <typename T>
RBOX_HD T ring_area(const Pt<T>* ring, int m) {
  T sum(0.0);
  for (int i = 0; i < m; i++) {
    const int j = i + 1 == m ? 0 : i + 1;
    sum = sum + cross(ring[i].x - ring[0].x, ring[i].y - ring[0].y, ring[j].x - ring[0].x, ring[j].y - ring[0].y);
  }
  return T(0.5) * sum;
}

// The part of ring in[0..m) on the left of c0 -> c1 into out[0..m + 1).
template <typename T>
RBOX_HD void clip_ring(const Pt<T>* in, int m, const Pt<T>& c0, const Pt<T>& c1, Pt<T>* out) {
  const T ex = c1.x - c0.x, ey = c1.y - c0.y;
  int k = 0;
  for (int i = 0; i < m && k <= m; i++) {
    const int j = i + 1 == m ? 0 : i + 1;
    const T si = cross(ex, ey, in[i].x - c0.x, in[i].y - c0.y);
    const T sj = cross(ex, ey, in[j].x - c0.x, in[j].y - c0.y);
    const bool inside_i = value(si) >= 0, inside_j = value(sj) >= 0;
    if (inside_i) out[k++] = in[i];
    if (inside_i != inside_j && k <= m) {
      const T t = si / (si - sj);
      out[k++] = Pt<T>{in[i].x + t * (in[j].x - in[i].x), in[i].y + t * (in[j].y - in[i].y)};
    }
  }
  const Pt<T> pad = k > 0 ? out[0] : Pt<T>{T(0.0), T(0.0)};
  for (int i = k; i <= m; i++) out[i] = pad;
}

// Area of convex ring a (m entries, counter-clockwise) clipped by the 4-entry ring b; a holds
// kMaxRing entries and is overwritten.
template <typename T>
RBOX_HD T intersection_area(Pt<T>* a, int m, const Pt<T>* b) {
  Pt<T> tmp[kMaxRing];
  Pt<T>*src = a, *dst = tmp;
  for (int i = 0; i < 4; i++, m++) {
    clip_ring(src, m, b[i], b[(i + 1) % 4], dst);
    Pt<T>* swap = src;
    src = dst;
    dst = swap;
  }
  return ring_area(src, m);
}

RBOX_HD bool all_finite(const double* x, int n) {
  for (int i = 0; i < n; i++)
    if (!is_finite(x[i])) return false;
  return true;
}

// The hull ring's points of xy (n points) into ring (n entries); returns its area.
RBOX_HD double hull_points(const double* xy, int n, Pt<double>* ring) {
  int idx[kMaxPoints];
  hull_ring(xy, n, idx);
  for (int s = 0; s < n; s++) ring[s] = Pt<double>{xy[2 * idx[s]], xy[2 * idx[s] + 1]};
  return ring_area(ring, n);
}

// a / b, 0 where b <= 0 (0 / 0 is 0).
template <typename T>
RBOX_HD T safe_div(const T& a, const T& b) {
  return value(b) > 0 ? a / b : T(0.0);
}

// IoU of a 9-point hull ring (area_a) with a polygon's 4-entry hull ring (area_b); NaN areas
// (a non-finite row) give NaN.
RBOX_HD double convex_iou_pair(const Pt<double>* ring_a, double area_a, const Pt<double>* ring_b, double area_b) {
  if (area_a != area_a || area_b != area_b) return area_a + area_b;
  double inter = 0;
  if (area_a > 0 && area_b > 0) {
    Pt<double> a[kMaxRing];
    for (int s = 0; s < 9; s++) a[s] = ring_a[s];
    inter = intersection_area(a, 9, ring_b);
  }
  return safe_div(inter, area_a + area_b - inter);
}

// GIoU of a point set p (9 points) and a polygon q (4 points), and its gradient w.r.t. p:
// out[0..18) the gradient, out[18] the GIoU (mmcv's layout). NaN for a non-finite input.
RBOX_HD void convex_giou_pair(const double* p, const double* q, double* out) {
  using D = Dual<18>;
  if (!all_finite(p, 18) || !all_finite(q, 8)) {
    for (int i = 0; i < 19; i++) out[i] = NAN;
    return;
  }
  int idx[13];
  Pt<D> a[kMaxRing], b[4], c[13];
  hull_ring(p, 9, idx);
  for (int s = 0; s < 9; s++) a[s] = Pt<D>{D::variable(p[2 * idx[s]], 2 * idx[s]), D::variable(p[2 * idx[s] + 1], 2 * idx[s] + 1)};
  hull_ring(q, 4, idx);
  for (int s = 0; s < 4; s++) b[s] = Pt<D>{D(q[2 * idx[s]]), D(q[2 * idx[s] + 1])};
  const D area_a = ring_area(a, 9), area_b = ring_area(b, 4);
  const D inter = area_a.v > 0 && area_b.v > 0 ? intersection_area(a, 9, b) : D(0.0);
  const D uni = area_a + area_b - inter;
  double both[26];
  for (int i = 0; i < 18; i++) both[i] = p[i];
  for (int i = 0; i < 8; i++) both[18 + i] = q[i];
  hull_ring(both, 13, idx);
  for (int s = 0; s < 13; s++) {
    const int k = idx[s];
    c[s] = k < 9 ? Pt<D>{D::variable(p[2 * k], 2 * k), D::variable(p[2 * k + 1], 2 * k + 1)}
                 : Pt<D>{D(both[2 * k]), D(both[2 * k + 1])};
  }
  const D enclose = ring_area(c, 13);
  const D giou = safe_div(inter, uni) - safe_div(enclose - uni, enclose);
  for (int i = 0; i < 18; i++) out[i] = giou.d[i];
  out[18] = giou.v;
}

// The minimum-area rectangle around n <= kMaxPoints points (rbox_ops/min_area_polygons.py):
// out = (u max, v min), (u min, v min), (u min, v max), (u max, v max) corners; NaN if non-finite.
RBOX_HD void min_area_rect(const double* xy, int n, double* out) {
  if (!all_finite(xy, 2 * n)) {
    for (int i = 0; i < 8; i++) out[i] = NAN;
    return;
  }
  int ring[kMaxPoints];
  hull_ring(xy, n, ring);
  double best = INFINITY, bux = 1, buy = 0;
  bool found = false;
  for (int s = 0; s < n; s++) {
    const int i = ring[s], j = ring[s + 1 == n ? 0 : s + 1];
    const double ex = xy[2 * j] - xy[2 * i], ey = xy[2 * j + 1] - xy[2 * i + 1];
    // turn by a multiple of 90 degrees into x > 0, y >= 0
    double ux, uy;
    if (ex > 0 && ey >= 0) {
      ux = ex, uy = ey;
    } else if (ex <= 0 && ey > 0) {
      ux = ey, uy = -ex;
    } else if (ex < 0 && ey <= 0) {
      ux = -ex, uy = -ey;
    } else {
      ux = -ey, uy = ex;
    }
    const double length = sqrt(mul(ux, ux) + mul(uy, uy));
    if (!(length > 0)) continue;
    ux = ux / length, uy = uy / length;
    double amin = INFINITY, amax = -INFINITY, bmin = INFINITY, bmax = -INFINITY;
    for (int k = 0; k < n; k++) {
      const double a = mul(xy[2 * k], ux) + mul(xy[2 * k + 1], uy);
      const double b = mul(xy[2 * k + 1], ux) - mul(xy[2 * k], uy);
      amin = fmin(amin, a), amax = fmax(amax, a), bmin = fmin(bmin, b), bmax = fmax(bmax, b);
    }
    const double area = mul(amax - amin, bmax - bmin);
    if (!found || area < best) {
      found = true, best = area, bux = ux, buy = uy;
    }
  }
  double amin = INFINITY, amax = -INFINITY, bmin = INFINITY, bmax = -INFINITY;
  for (int k = 0; k < n; k++) {
    const double a = mul(xy[2 * k], bux) + mul(xy[2 * k + 1], buy);
    const double b = mul(xy[2 * k + 1], bux) - mul(xy[2 * k], buy);
    amin = fmin(amin, a), amax = fmax(amax, a), bmin = fmin(bmin, b), bmax = fmax(bmax, b);
  }
  const double corners[8] = {amax, bmin, amin, bmin, amin, bmax, amax, bmax};
  for (int c = 0; c < 4; c++) {
    out[2 * c] = mul(corners[2 * c], bux) - mul(corners[2 * c + 1], buy);
    out[2 * c + 1] = mul(corners[2 * c], buy) + mul(corners[2 * c + 1], bux);
  }
}

}  // namespace convex
}  // namespace rbox_ops

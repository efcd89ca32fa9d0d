// Rotated-box geometry used by both the CPU and the CUDA kernels (host/device inline).
//
// A box is (cx, cy, w, h, theta): pixels, theta in radians, clockwise on screen (y down).
// The corners and the early exits follow mmcv's box_iou_rotated_utils.hpp (itself from
// detectron2); the intersection is a Sutherland-Hodgman clip instead of mmcv's hull of crossing
// points (which fails for nearly identical boxes), so results agree with mmcv to float rounding
// except where mmcv is wrong. The same code runs on host and device.
#pragma once

#include <math.h>

#include "macros.h"

namespace rbox_ops {

template <typename T>
struct Point {
  T x, y;
};

template <typename T>
RBOX_HD Point<T> make_point(T x, T y) {
  Point<T> p;
  p.x = x;
  p.y = y;
  return p;
}
template <typename T>
RBOX_HD Point<T> operator+(const Point<T>& a, const Point<T>& b) {
  return make_point(a.x + b.x, a.y + b.y);
}
template <typename T>
RBOX_HD Point<T> operator-(const Point<T>& a, const Point<T>& b) {
  return make_point(a.x - b.x, a.y - b.y);
}
template <typename T>
RBOX_HD Point<T> operator*(const Point<T>& a, T s) {
  return make_point(a.x * s, a.y * s);
}

// a * b rounded to T on its own, never fused with a following + or - into an FMA. nvcc
// contracts a * b + c into one FMA by default (-fmad=true), and which product of a * b - c * d
// it fuses is its own choice, made per inlined copy: then cross_2d(v, v) is the rounding error
// of v.x * v.y instead of 0, cross_2d(a, b) is not exactly -cross_2d(b, a), and two copies of
// the same box get corners 1 ulp apart. The clipping of identical boxes relies on those
// identities (parallel edges skipped, crossings at t = 0 or 1 exactly, corners on the other
// box's edges counted inside): with them broken an identical pair came out 0 or 1/3 instead of
// 1 (double and float, the old geometry as well; which pairs depended on the code around it).
// __fmul_rn / __dmul_rn are never contracted; the host build (x86-64 without -mfma) contracts
// nothing, so the two compute the same roundings.
RBOX_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
RBOX_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

template <typename T>
RBOX_HD T dot_2d(const Point<T>& a, const Point<T>& b) {
  return mul_rn(a.x, b.x) + mul_rn(a.y, b.y);
}
template <typename T>
RBOX_HD T cross_2d(const Point<T>& a, const Point<T>& b) {
  return mul_rn(a.x, b.y) - mul_rn(b.x, a.y);
}

// The four corners of a box, in mmcv's order, from c = cos(theta) and s = sin(theta).
template <typename T>
RBOX_HD void rotated_vertices_cs(T cx, T cy, T w, T h, T c, T s, Point<T> (&pts)[4]) {
  const T c2 = c * static_cast<T>(0.5);
  const T s2 = s * static_cast<T>(0.5);
  // (mul_rn: no FMA, so that every copy of this code gives a box the same corners)
  pts[0].x = cx - mul_rn(s2, h) - mul_rn(c2, w);
  pts[0].y = cy + mul_rn(c2, h) - mul_rn(s2, w);
  pts[1].x = cx + mul_rn(s2, h) - mul_rn(c2, w);
  pts[1].y = cy - mul_rn(c2, h) - mul_rn(s2, w);
  pts[2].x = 2 * cx - pts[0].x;
  pts[2].y = 2 * cy - pts[0].y;
  pts[3].x = 2 * cx - pts[1].x;
  pts[3].y = 2 * cy - pts[1].y;
}

template <typename T>
RBOX_HD void rotated_vertices(T cx, T cy, T w, T h, T theta, Point<T> (&pts)[4]) {
  rotated_vertices_cs(cx, cy, w, h, static_cast<T>(cos(theta)), static_cast<T>(sin(theta)), pts);
}

// A box for the separating-axis test: centre, half sides, cos and sin of its angle (the
// same cos and sin as its corners in rotated_box_overlap, so they are computed once).
template <typename T>
struct BoxFrame {
  T x, y, hw, hh, c, s;
};

template <typename T>
RBOX_HD BoxFrame<T> box_frame(const T* b) {
  BoxFrame<T> f;
  f.x = b[0];
  f.y = b[1];
  f.hw = static_cast<T>(fabs(b[2])) * static_cast<T>(0.5);
  f.hh = static_cast<T>(fabs(b[3])) * static_cast<T>(0.5);
  f.c = static_cast<T>(cos(b[4]));
  f.s = static_cast<T>(sin(b[4]));
  return f;
}

// True only when the two rectangles are apart: their projections on one of the 4 edge normals
// (2 per rectangle) are separated by more than tol, so their intersection is empty. tol is
// 128 units in the last place of the pair's scale (|dx| + |dy| + the half sides; 1.5e-5 of it in
// float, 2.8e-14 in double), far above the rounding of this test and of the corners that the
// clipping computes, so a pair rejected here is one whose clipped area is 0 too (the clipping
// of two rectangles apart by a hair may find a rounding sliver; this returns 0 for it). NaN or
// overflow makes every comparison false: not apart.
template <typename T>
RBOX_HD bool frames_apart(const BoxFrame<T>& a, const BoxFrame<T>& b) {
  const T eps = sizeof(T) == 4 ? static_cast<T>(1.1920928955078125e-07) : static_cast<T>(2.220446049250313e-16);
  const T dx = a.x - b.x;
  const T dy = a.y - b.y;
  const T cr = static_cast<T>(fabs(a.c * b.c + a.s * b.s));  // |cos(theta_a - theta_b)|
  const T sr = static_cast<T>(fabs(a.s * b.c - a.c * b.s));  // |sin(theta_a - theta_b)|
  const T tol = (static_cast<T>(fabs(dx)) + static_cast<T>(fabs(dy)) + a.hw + a.hh + b.hw + b.hh) * (128 * eps);
  // a's axes (c, s) and (-s, c), then b's; the other box's half extent along an axis is
  // hw |cos| + hh |sin| of the angle between them
  return static_cast<T>(fabs(dx * a.c + dy * a.s)) > a.hw + b.hw * cr + b.hh * sr + tol ||
         static_cast<T>(fabs(dy * a.c - dx * a.s)) > a.hh + b.hw * sr + b.hh * cr + tol ||
         static_cast<T>(fabs(dx * b.c + dy * b.s)) > b.hw + a.hw * cr + a.hh * sr + tol ||
         static_cast<T>(fabs(dy * b.c - dx * b.s)) > b.hh + a.hw * sr + a.hh * cr + tol;
}

// The cheap exact rejections of rotated_box_overlap, in order of cost: false when the overlap
// of b1 and b2 is surely 0 (a non-finite value or an area under 1e-14 in either box, bounding
// circles apart, or a separating edge normal); else it fills the frames for the clipping.
template <typename T>
RBOX_HD bool rotated_overlap_possible(const T* b1, const T* b2, BoxFrame<T>& f1, BoxFrame<T>& f2) {
  for (int k = 0; k < 5; k++) {
    if (!is_finite(b1[k]) || !is_finite(b2[k])) return false;
  }
  if (b1[2] * b1[3] < static_cast<T>(1e-14) || b2[2] * b2[3] < static_cast<T>(1e-14)) return false;
  const T dx = b1[0] - b2[0];
  const T dy = b1[1] - b2[1];
  // circumscribed circles apart: no intersection (exact early exit, no change in results)
  const T r = (sqrt(b1[2] * b1[2] + b1[3] * b1[3]) + sqrt(b2[2] * b2[2] + b2[3] * b2[3])) / 2;
  if (dx * dx + dy * dy > r * r * static_cast<T>(1.0001)) return false;
  // about half the pairs whose circles meet are apart along an edge normal (rectangles of
  // random angles): this rejects them for a few multiplies, before the costly clipping
  f1 = box_frame(b1);
  f2 = box_frame(b2);
  return !frames_apart(f1, f2);
}

template <typename T>
RBOX_HD bool rotated_overlap_possible(const T* b1, const T* b2) {
  BoxFrame<T> f1, f2;
  return rotated_overlap_possible(b1, b2, f1, f2);
}

// Area of the intersection of two convex quadrilaterals (corners in order, either orientation):
// box 1 clipped by each of box 2's four edges in turn (Sutherland-Hodgman), then the shoelace
// formula. Clipping keeps the polygon's order, so no hull is needed, and a point on a clip line
// (signed distance 0) is kept: nearly identical boxes come out nearly whole. mmcv's way, the
// hull of the edge crossings and the corners inside the other box, sorted near-duplicate points
// by angle with an absolute threshold: 13,193 of 200,000 float32 boxes against copies 1 ulp
// apart in one parameter got an IoU under 0.99 (0 to 8.9).
template <typename T>
RBOX_HD T convex_quads_intersection_area(const Point<T> (&p1)[4], const Point<T> (&p2)[4]) {
  // box 2's orientation: the inside of each of its edges is on this side
  T orient = 0;
  for (int i = 0; i < 4; i++) orient += cross_2d(p2[i], p2[(i + 1) % 4]);
  const T side = orient < 0 ? static_cast<T>(-1) : static_cast<T>(1);
  Point<T> a[8], b[8];  // each clip adds at most one vertex: 4 -> 8
  int na = 4;
  for (int i = 0; i < 4; i++) a[i] = p1[i];
  for (int e = 0; e < 4; e++) {
    const Point<T> o = p2[e];
    const Point<T> edge = p2[(e + 1) % 4] - o;
    T d[8];  // signed distances (times the edge's length) of the vertices, inside >= 0
    bool all_in = true, none_in = true;
    for (int i = 0; i < na; i++) {
      d[i] = side * cross_2d(edge, a[i] - o);
      all_in = all_in && d[i] >= 0;
      none_in = none_in && d[i] <= 0;
    }
    if (all_in) continue;  // this edge cuts nothing off
    if (none_in) return 0;  // all outside, or on the line: no area
    // a convex polygon clipped by a line gains at most one vertex (4 -> 8 over four edges); the
    // bound on nb only keeps a polygon that rounding made non-convex inside the array
    int nb = 0;
    for (int i = 0; i < na; i++) {
      const int j = i + 1 == na ? 0 : i + 1;
      const T dp = d[i], dq = d[j];
      if (dp >= 0 && nb < 8) b[nb++] = a[i];
      if (((dp > 0 && dq < 0) || (dp < 0 && dq > 0)) && nb < 8) {
        const T t = dp / (dp - dq);
        b[nb++] = make_point(a[i].x + mul_rn(a[j].x - a[i].x, t), a[i].y + mul_rn(a[j].y - a[i].y, t));
      }
    }
    for (int i = 0; i < nb; i++) a[i] = b[i];
    na = nb;
  }
  if (na < 3) return 0;
  // a fan from the first vertex: products of the polygon's own extents, not of coordinates
  // (a 5.6 x 0.001 px box's area cancelled to 2e-3 off in float32 from absolute coordinates)
  T area = 0;
  for (int i = 1; i < na - 1; i++) area += cross_2d(a[i] - a[0], a[i + 1] - a[0]);
  return fabs(area) / 2;
}

// IoU (mode 0) or IoF = intersection / area(box1) (mode 1) of two boxes (5 values each).
// A box with a non-finite value, or an area under 1e-14, has overlap 0 with everything.
template <typename T>
RBOX_HD T rotated_box_overlap(const T* b1, const T* b2, int mode) {
  BoxFrame<T> f1, f2;
  if (!rotated_overlap_possible(b1, b2, f1, f2)) return 0;
  const T area1 = mul_rn(b1[2], b1[3]);  // (not fused into area1 + area2 - inter either)
  const T area2 = mul_rn(b2[2], b2[3]);
  // shift the centres to their midpoint for precision (as mmcv does)
  const T sx = (b1[0] + b2[0]) / 2;
  const T sy = (b1[1] + b2[1]) / 2;
  Point<T> p1[4], p2[4];
  rotated_vertices_cs(b1[0] - sx, b1[1] - sy, b1[2], b1[3], f1.c, f1.s, p1);
  rotated_vertices_cs(b2[0] - sx, b2[1] - sy, b2[2], b2[3], f2.c, f2.s, p2);
  const T inter = convex_quads_intersection_area(p1, p2);
  const T base = mode == 0 ? area1 + area2 - inter : area1;
  return inter / base;
}

// A circle around a box, for a cheap test before the exact overlap: two boxes whose circles
// do not meet have rotated_box_overlap 0, so the test may skip the polygon clipping without
// changing any result. The radius is the half diagonal padded by 0.1% (the exact early exit
// above pads r^2 by 0.01% only), so rounding never makes this test reject a pair that the
// exact one accepts. r < 0 marks a box that overlaps nothing (a non-finite value, or an
// area under 1e-14: the exact code returns 0 for those too).
template <typename T>
struct BoxCircle {
  T x, y, r;
};

template <typename T>
RBOX_HD BoxCircle<T> box_circle(const T* b) {
  BoxCircle<T> c;
  c.x = b[0];
  c.y = b[1];
  bool valid = !(b[2] * b[3] < static_cast<T>(1e-14));
  for (int k = 0; k < 5; k++) valid = valid && is_finite(b[k]);
  c.r = valid ? static_cast<T>(sqrt(b[2] * b[2] + b[3] * b[3])) * static_cast<T>(0.5005) : static_cast<T>(-1);
  return c;
}

// False only when the boxes of a and b surely do not intersect (overflow or NaN: true).
// Branch-free (& on bools): it runs on every pair of the CUDA kernel's row loop.
template <typename T>
RBOX_HD bool circles_meet(const BoxCircle<T>& a, const BoxCircle<T>& b) {
  const T dx = a.x - b.x;
  const T dy = a.y - b.y;
  const T r = a.r + b.r;
  return !(a.r < 0) & !(b.r < 0) & !(dx * dx + dy * dy > r * r);
}

// Axis-aligned IoU of (x1, y1, x2, y2) boxes with mmcv's `offset` (0 or 1).
template <typename T>
RBOX_HD T aligned_box_iou(const T* a, const T* b, int offset) {
  const T xx1 = a[0] > b[0] ? a[0] : b[0];
  const T yy1 = a[1] > b[1] ? a[1] : b[1];
  const T xx2 = a[2] < b[2] ? a[2] : b[2];
  const T yy2 = a[3] < b[3] ? a[3] : b[3];
  T w = xx2 - xx1 + offset;
  T h = yy2 - yy1 + offset;
  w = w > 0 ? w : 0;
  h = h > 0 ? h : 0;
  const T inter = w * h;
  const T area_a = (a[2] - a[0] + offset) * (a[3] - a[1] + offset);
  const T area_b = (b[2] - b[0] + offset) * (b[3] - b[1] + offset);
  const T iou = inter / (area_a + area_b - inter);
  return is_finite(iou) ? iou : static_cast<T>(0);
}

}  // namespace rbox_ops

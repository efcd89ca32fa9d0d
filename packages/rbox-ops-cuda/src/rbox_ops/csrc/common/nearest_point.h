// Nearest point of a 2-D set, on host and device (chamfer_distance; rbox_ops/chamfer_distance.py).
#pragma once

#include "macros.h"

namespace rbox_ops {

// The index of the point of pts (m points x, y) nearest to (px, py): the first on ties; -1 when
// (px, py) or every point of pts is non-finite (a non-finite point is nobody's nearest).
template <typename T>
RBOX_HD int64_t nearest_point(T px, T py, const T* pts, int64_t m, T& best) {
  int64_t arg = -1;
  best = T(0);
  if (!is_finite(px) || !is_finite(py)) return -1;
  for (int64_t j = 0; j < m; j++) {
    const T qx = pts[2 * j], qy = pts[2 * j + 1];
    if (!is_finite(qx) || !is_finite(qy)) continue;
    const T dx = px - qx, dy = py - qy;
    const T d = dx * dx + dy * dy;
    if (arg < 0 || d < best) best = d, arg = j;
  }
  return arg;
}

}  // namespace rbox_ops

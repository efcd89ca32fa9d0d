// Point in quadrilateral, on host and device: mmcv 1.7's points_in_polygons rule, exactly.
//
// A crossing-number test in float32 (mmcv's kernel computes in float whatever the input type).
// The edges are visited as (v0, v3), (v1, v0), (v2, v1), (v3, v2); an edge whose y range does
// not contain the point's y is skipped; a point equal to a vertex of the edge, or on the edge
// (the crossing x equals the point's x), stops the count there: the result is the parity of the
// crossings counted so far. So a point on the boundary is inside or outside depending on which
// edge it touches first, as in mmcv; a horizontal edge never counts; a degenerate polygon has
// no inside, except where that parity rule says so. min/max are fminf/fmaxf (CUDA's min/max on
// float), so a NaN vertex coordinate does not make the y range NaN.
#pragma once

#include <math.h>

#include "macros.h"

namespace rbox_ops {

// poly: x1, y1, ..., x4, y4.
RBOX_HD bool point_in_quad(float px, float py, const float* poly) {
  int crossings = 0;
  for (int i = 0, j = 3; i < 4; j = i, i++) {
    const float sx = poly[2 * i], sy = poly[2 * i + 1];
    const float tx = poly[2 * j], ty = poly[2 * j + 1];
    if (py < fminf(sy, ty) || py > fmaxf(sy, ty)) continue;
    if ((sx == px && sy == py) || (tx == px && ty == py)) break;
    if ((sy < py && ty >= py) || (sy >= py && ty < py)) {
      const float dx = (py - sy) * (tx - sx);  // rounded apart: no fused multiply-add anywhere
      const float x = sx + dx / (ty - sy);
      if (x == px) break;
      if (x > px) crossings++;
    }
  }
  return crossings % 2 == 1;
}

// The y range of a quadrilateral with the edge test's fminf/fmaxf: point_in_quad is false for
// py < lo or py > hi (every edge is skipped). A NaN y is ignored, as by the edge test.
RBOX_HD void quad_y_range(const float* poly, float& lo, float& hi) {
  lo = fminf(fminf(poly[1], poly[3]), fminf(poly[5], poly[7]));
  hi = fmaxf(fmaxf(poly[1], poly[3]), fmaxf(poly[5], poly[7]));
}

}  // namespace rbox_ops

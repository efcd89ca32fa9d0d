// rotated_feature_align's sampling geometry (R3Det's feature refinement), on host and device.
//
// Each pixel (n, h, w) of the output adds to the input the bilinear samples of its own channel
// plane at `points` positions (1: the box centre; 5: the centre and the four corners) of its
// box best_rbboxes[n, h, w], scaled by spatial_scale. The arithmetic is mmcv 1.7's: its
// kernels read the box row as (y, x, w, h, a), that is column 0 is the row coordinate and
// column 1 the column coordinate (MMRotate passes (cx, cy, w, h, a) rows: R3Det checkpoints
// were trained with that). A corner is centre +- (cos a, sin a) w / 2 +- (-sin a, cos a) h / 2
// in (x, y), in mmcv's order.
#pragma once

#include <math.h>

#include "bilinear.h"
#include "macros.h"

namespace rbox_ops {

// The taps of the valid sample points of one pixel, in mmcv's order (centre, then corners);
// points more than one pixel outside the map are left out (they add 0, as in mmcv).
template <typename T>
struct FeatureAlignTaps {
  Bilinear<T> b[5];
  int n;
};

// `box`: the pixel's 5 values; `points`: 1 or 5 (anything else is treated as 1).
template <typename T>
RBOX_HD FeatureAlignTaps<T> feature_align_taps(const T* box, T spatial_scale, int points, int height, int width) {
  T py[5], px[5];
  py[0] = box[0] * spatial_scale;
  px[0] = box[1] * spatial_scale;
  int count = 1;
  if (points == 5) {
    const T w2 = box[2] * spatial_scale / 2;
    const T h2 = box[3] * spatial_scale / 2;
    const T cosa = static_cast<T>(cos(box[4]));
    const T sina = static_cast<T>(sin(box[4]));
    const T wx = cosa * w2, wy = sina * w2;
    const T hx = -sina * h2, hy = cosa * h2;
    px[1] = px[0] + wx + hx;
    py[1] = py[0] + wy + hy;
    px[2] = px[0] - wx + hx;
    py[2] = py[0] - wy + hy;
    px[3] = px[0] - wx - hx;
    py[3] = py[0] - wy - hy;
    px[4] = px[0] + wx - hx;
    py[4] = py[0] + wy - hy;
    count = 5;
  }
  FeatureAlignTaps<T> t;
  t.n = 0;
  for (int i = 0; i < count; i++) {
    if (bilinear_taps(py[i], px[i], height, width, t.b[t.n])) t.n++;
  }
  return t;
}

}  // namespace rbox_ops

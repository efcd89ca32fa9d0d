// Bilinear interpolation taps of a point on a (height, width) map, on host and device: mmcv's
// bilinear_interpolate (RoIAlign, RoIAlignRotated, RotatedFeatureAlign), shared by the RoI
// pooling (roi_sampling.h) and rotated_feature_align (feature_align.h).
#pragma once

#include "macros.h"

namespace rbox_ops {

// Four feature-map offsets (y * width + x) and bilinear weights of one sample point.
template <typename T>
struct Bilinear {
  int pos[4];
  T w[4];
};

// The taps of the point (y, x), in pixels. A point more than one pixel outside the map (or
// NaN) gets zero weights at offset 0 and returns false; inside, coordinates below 0 clamp to
// 0 and those past the last row/column to it, as mmcv does.
template <typename T>
RBOX_HD bool bilinear_taps(T y, T x, int height, int width, Bilinear<T>& b) {
  if (!(y >= -1 && y <= height && x >= -1 && x <= width)) {
    for (int k = 0; k < 4; k++) {
      b.pos[k] = 0;
      b.w[k] = 0;
    }
    return false;
  }
  if (y < 0) y = 0;
  if (x < 0) x = 0;
  int y_low = static_cast<int>(y);
  int x_low = static_cast<int>(x);
  int y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<T>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<T>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const T ly = y - y_low, lx = x - x_low;
  const T hy = 1 - ly, hx = 1 - lx;
  b.pos[0] = y_low * width + x_low;
  b.pos[1] = y_low * width + x_high;
  b.pos[2] = y_high * width + x_low;
  b.pos[3] = y_high * width + x_high;
  b.w[0] = hy * hx;
  b.w[1] = hy * lx;
  b.w[2] = ly * hx;
  b.w[3] = ly * lx;
  return true;
}

// The interpolated value of a (height * width) plane at taps b: w0 v0 + w1 v1 + w2 v2 + w3 v3.
template <typename T>
RBOX_HD T bilinear_value(const T* plane, const Bilinear<T>& b) {
  return b.w[0] * plane[b.pos[0]] + b.w[1] * plane[b.pos[1]] + b.w[2] * plane[b.pos[2]] +
         b.w[3] * plane[b.pos[3]];
}

}  // namespace rbox_ops

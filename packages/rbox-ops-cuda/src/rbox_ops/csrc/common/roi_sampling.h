// RoI sampling geometry shared by roi_align and roi_align_rotated, on host and device.
//
// A RoI is divided into pooled_h x pooled_w bins; each bin averages grid_h x grid_w
// bilinear samples of the feature map. The sample (ph, pw, iy, ix) lies at
//   yy = start_h + ph * bin_h + (iy + .5) * bin_h / grid_h   (xx likewise)
//   y  = yy * cos - xx * sin + ctr_h,   x = yy * sin + xx * cos + ctr_w
// (mmcv's RoIAlignRotated); an axis-aligned RoI has cos = 1, sin = 0, ctr = 0.
//
// An op is a params struct deriving from RoiPoolParams (roi_align/roi_align.h,
// roi_align_rotated/roi_align_rotated.h): its own fields, `roi_dim` (values per RoI row)
// and `RoiGeom<T> operator()(const T* roi)`. The pooling loops and kernels
// (roi_pool_cpu.h, roi_pool_cuda.cuh) and the torch glue take it as a template argument.
#pragma once

#include <math.h>
#include <stdint.h>

#include "bilinear.h"
#include "macros.h"

namespace rbox_ops {

// The arguments that every RoI pooling op shares (an op's params struct derives from it).
struct RoiPoolParams {
  int batch;  // the input's batch size: RoIs with another batch index pool zeros
  int pooled_h, pooled_w, sampling_ratio;
  double spatial_scale;
  bool aligned;
};

// Sizes of the tensors: n_rois RoIs pooled from a (B, channels, height, width) input.
struct RoiPoolShape {
  int64_t n_rois, channels, height, width;
};

// Params from the op schema's arguments (input, rois, pooled_height, pooled_width,
// spatial_scale, sampling_ratio, aligned, extra...): `extra` fill Params' own fields.
template <typename Params, typename... Extra>
Params make_roi_pool_params(int64_t batch, int64_t pooled_h, int64_t pooled_w, double spatial_scale,
                            int64_t sampling_ratio, bool aligned, Extra... extra) {
  return Params{{static_cast<int>(batch), static_cast<int>(pooled_h), static_cast<int>(pooled_w),
                 static_cast<int>(sampling_ratio), spatial_scale, aligned},
                extra...};
}

template <typename T>
struct RoiGeom {
  int batch;  // -1: skip this RoI (bad batch index or non-finite coordinates)
  T start_h, start_w, bin_h, bin_w, cos_t, sin_t, ctr_h, ctr_w;
  int grid_h, grid_w;
};

// The adaptive grid (sampling_ratio 0) is ceil(extent / bins) samples per bin side, as mmcv,
// but at most kMaxAdaptiveGrid: a RoI of 1e5 feature pixels would otherwise ask for 1e8
// samples per bin (mmcv hangs). Real RoIs stay far below it (a 1024-pixel object at stride 4
// is 256 feature pixels: 37 per side of a 7 x 7 grid), so results equal mmcv's there.
constexpr int kMaxAdaptiveGrid = 64;

template <typename T>
RBOX_HD int adaptive_grid(int sampling_ratio, T extent, int pooled) {
  if (sampling_ratio > 0) return sampling_ratio;
  const T g = ceil(extent / static_cast<T>(pooled));
  if (!(g > 0)) return 0;  // an empty (or NaN) RoI has no samples (output 0), as in mmcv
  return g < kMaxAdaptiveGrid ? static_cast<int>(g) : kMaxAdaptiveGrid;
}

// roi = (batch_index, cx, cy, w, h, theta); mmcv's RoIAlignRotated conventions.
template <typename T>
RBOX_HD RoiGeom<T> rotated_roi_geom(const T* roi, int batch_size, T spatial_scale, int pooled_h, int pooled_w,
                                   int sampling_ratio, bool aligned, bool clockwise) {
  RoiGeom<T> g;
  g.batch = -1;
  for (int k = 0; k < 6; k++) {
    if (!is_finite(roi[k])) return g;
  }
  if (roi[0] < 0 || roi[0] >= batch_size) return g;
  g.batch = static_cast<int>(roi[0]);
  const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0);
  g.ctr_w = roi[1] * spatial_scale - offset;
  g.ctr_h = roi[2] * spatial_scale - offset;
  T roi_w = roi[3] * spatial_scale;
  T roi_h = roi[4] * spatial_scale;
  T theta = clockwise ? -roi[5] : roi[5];
  g.cos_t = static_cast<T>(cos(theta));
  g.sin_t = static_cast<T>(sin(theta));
  if (!aligned) {  // backward compatibility: malformed RoIs become at least 1 x 1
    roi_w = roi_w > 1 ? roi_w : static_cast<T>(1);
    roi_h = roi_h > 1 ? roi_h : static_cast<T>(1);
  }
  g.bin_h = roi_h / static_cast<T>(pooled_h);
  g.bin_w = roi_w / static_cast<T>(pooled_w);
  g.grid_h = adaptive_grid(sampling_ratio, roi_h, pooled_h);
  g.grid_w = adaptive_grid(sampling_ratio, roi_w, pooled_w);
  g.start_h = -roi_h / static_cast<T>(2.0);
  g.start_w = -roi_w / static_cast<T>(2.0);
  return g;
}

// roi = (batch_index, x1, y1, x2, y2); mmcv's RoIAlign conventions.
template <typename T>
RBOX_HD RoiGeom<T> aligned_roi_geom(const T* roi, int batch_size, T spatial_scale, int pooled_h, int pooled_w,
                                   int sampling_ratio, bool aligned) {
  RoiGeom<T> g;
  g.batch = -1;
  for (int k = 0; k < 5; k++) {
    if (!is_finite(roi[k])) return g;
  }
  if (roi[0] < 0 || roi[0] >= batch_size) return g;
  g.batch = static_cast<int>(roi[0]);
  const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0);
  g.start_w = roi[1] * spatial_scale - offset;
  g.start_h = roi[2] * spatial_scale - offset;
  T roi_w = roi[3] * spatial_scale - offset - g.start_w;
  T roi_h = roi[4] * spatial_scale - offset - g.start_h;
  if (!aligned) {
    roi_w = roi_w > 1 ? roi_w : static_cast<T>(1);
    roi_h = roi_h > 1 ? roi_h : static_cast<T>(1);
  }
  g.bin_h = roi_h / static_cast<T>(pooled_h);
  g.bin_w = roi_w / static_cast<T>(pooled_w);
  g.grid_h = adaptive_grid(sampling_ratio, roi_h, pooled_h);
  g.grid_w = adaptive_grid(sampling_ratio, roi_w, pooled_w);
  g.cos_t = 1;
  g.sin_t = 0;
  g.ctr_h = 0;
  g.ctr_w = 0;
  return g;
}

// The sample (ph, pw, iy, ix) of a RoI and its bilinear weights. Points more than one
// pixel outside the map get zero weights (mmcv's bilinear_interpolate).
template <typename T>
RBOX_HD Bilinear<T> roi_sample(const RoiGeom<T>& g, int ph, int pw, int iy, int ix, int height, int width) {
  const T yy = g.start_h + ph * g.bin_h + (static_cast<T>(iy) + static_cast<T>(.5)) * g.bin_h / static_cast<T>(g.grid_h);
  const T xx = g.start_w + pw * g.bin_w + (static_cast<T>(ix) + static_cast<T>(.5)) * g.bin_w / static_cast<T>(g.grid_w);
  const T y = yy * g.cos_t - xx * g.sin_t + g.ctr_h;
  const T x = yy * g.sin_t + xx * g.cos_t + g.ctr_w;
  Bilinear<T> b;
  bilinear_taps(y, x, height, width, b);
  return b;
}

}  // namespace rbox_ops

// riroi_align_rotated: ReDet's rotation-invariant RoI align (mmcv's RiRoIAlignRotated), host and device.
//
// The input's channels are C groups of O orientations (channel c * O + o). A RoI
// (batch_index, cx, cy, w, h, theta) is sampled as roi_align_rotated with aligned=False
// (common/roi_sampling.h: no half-pixel shift, w and h at least 1), and its orientation channels
// are turned by theta: output channel c * O + o interpolates the pooled input channels
// c * O + (o - k) % O and c * O + (o - k + 1) % O with weights 1 - f and f, where
// theta * O / (2 pi) = k + f (k an integer, 0 <= f < 1). As mmcv, that theta is the RoI's own,
// whatever `clockwise` (which turns only the sampling grid).
#pragma once

#include <math.h>

#include "common/roi_sampling.h"

namespace rbox_ops {

// How a RoI's orientation channels mix: output orientation o reads input orientations
// (o - shift) % O with weight w_low and (o - shift + 1) % O with weight w_high.
template <typename T>
struct OrientationMix {
  int shift;
  T w_low, w_high;
};

// theta (radians, finite) -> its OrientationMix over `num_orientations` channels. mmcv computes
// theta * O / (2 pi) in double whatever T; so do we. A theta below -2 pi (an out-of-bounds read
// in mmcv) wraps like any other.
template <typename T>
RBOX_HD OrientationMix<T> orientation_mix(T theta, int num_orientations) {
  const double two_pi = 6.283185307179586476925286766559;
  const T f = static_cast<T>(static_cast<double>(theta * static_cast<T>(num_orientations)) / two_pi);
  const T k = floor(f);
  OrientationMix<T> m;
  m.w_high = f - k;
  m.w_low = static_cast<T>(1) - m.w_high;
  const T orientations = static_cast<T>(num_orientations);
  T wrapped = k - orientations * floor(k / orientations);  // in [0, O) up to rounding
  if (!(wrapped >= 0 && wrapped < orientations)) wrapped = 0;
  m.shift = static_cast<int>(wrapped);
  return m;
}

// The input orientation that output orientation o reads with w_low (add 1, mod O, for w_high).
RBOX_HD int rotated_orientation(int o, int shift, int num_orientations) {
  return (o - shift + num_orientations) % num_orientations;
}

// The RoI pooling params of riroi_align_rotated (see roi_sampling.h); `batch` counts images,
// channels are counted per orientation group elsewhere.
struct RiRoiAlignRotatedParams : RoiPoolParams {
  int num_orientations;
  bool clockwise;
  static constexpr int roi_dim = 6;

  template <typename T>
  RBOX_HD RoiGeom<T> operator()(const T* roi) const {
    return rotated_roi_geom(roi, batch, static_cast<T>(spatial_scale), pooled_h, pooled_w, sampling_ratio, false,
                            clockwise);
  }
};

inline RiRoiAlignRotatedParams make_riroi_params(int64_t batch, int64_t pooled_h, int64_t pooled_w,
                                                 double spatial_scale, int64_t num_samples,
                                                 int64_t num_orientations, bool clockwise) {
  return RiRoiAlignRotatedParams{{static_cast<int>(batch), static_cast<int>(pooled_h), static_cast<int>(pooled_w),
                                  static_cast<int>(num_samples), spatial_scale, false},
                                 static_cast<int>(num_orientations),
                                 clockwise};
}

}  // namespace rbox_ops

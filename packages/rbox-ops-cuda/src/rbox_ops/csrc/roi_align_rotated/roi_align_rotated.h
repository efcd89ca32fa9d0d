// roi_align_rotated: bilinear average pooling of rotated RoIs (batch_index, cx, cy, w, h, theta).
// Its params for the shared RoI pooling code (common/roi_sampling.h); host and device.
#pragma once

#include "common/roi_sampling.h"

namespace rbox_ops {

struct RoiAlignRotatedParams : RoiPoolParams {
  bool clockwise;
  static constexpr int roi_dim = 6;

  template <typename T>
  RBOX_HD RoiGeom<T> operator()(const T* roi) const {
    return rotated_roi_geom(roi, batch, static_cast<T>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned,
                            clockwise);
  }
};

}  // namespace rbox_ops

// roi_align: bilinear average pooling of axis-aligned RoIs (batch_index, x1, y1, x2, y2).
// Its params for the shared RoI pooling code (common/roi_sampling.h); host and device.
#pragma once

#include "common/roi_sampling.h"

namespace rbox_ops {

struct RoiAlignParams : RoiPoolParams {
  static constexpr int roi_dim = 5;

  template <typename T>
  RBOX_HD RoiGeom<T> operator()(const T* roi) const {
    return aligned_roi_geom(roi, batch, static_cast<T>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned);
  }
};

}  // namespace rbox_ops

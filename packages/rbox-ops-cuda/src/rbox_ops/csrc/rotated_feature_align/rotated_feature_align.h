// rotated_feature_align: R3Det's feature refinement (mmcv's conventions: common/feature_align.h).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// Sizes of features (n, channels, height, width); best_rbboxes are (n, height, width, 5).
struct FeatureAlignShape {
  int64_t n, channels, height, width;
};

// out = features + the samples of each pixel's box; all contiguous.
template <typename T>
void launch_rotated_feature_align_forward(const T* features, const T* boxes, const FeatureAlignShape& s,
                                          T spatial_scale, int points, T* out, cudaStream_t stream);

// grad_features = grad_output + the bilinear scatter of grad_output; grad_features zero-filled by the caller.
template <typename T>
void launch_rotated_feature_align_backward(const T* grad_output, const T* boxes, const FeatureAlignShape& s,
                                           T spatial_scale, int points, T* grad_features, cudaStream_t stream);

}  // namespace rbox_ops

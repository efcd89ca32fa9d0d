// roi_align_rotated: bilinear average pooling of rotated RoIs (batch_index, cx, cy, w, h, theta).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

struct roi_align_rotated_params {
  int batch, channels, height, width, pooled_h, pooled_w, sampling_ratio;
  double spatial_scale;
  bool aligned;
  bool clockwise;
};

// out (n_rois, C, PH, PW) from input (B, C, H, W) and rois (n_rois, 6); all contiguous.
template <typename T>
void launch_roi_align_rotated_forward(const T* input, const T* rois, int64_t n_rois, const roi_align_rotated_params& p, T* out,
                          cudaStream_t stream);

// grad_input (B, C, H, W), zero-filled by the caller, accumulates from grad_out (n_rois, C, PH, PW).
template <typename T>
void launch_roi_align_rotated_backward(const T* grad_out, const T* rois, int64_t n_rois, const roi_align_rotated_params& p, T* grad_input,
                           cudaStream_t stream);

}  // namespace rbox_ops

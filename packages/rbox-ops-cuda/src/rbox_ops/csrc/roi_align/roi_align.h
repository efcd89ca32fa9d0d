// roi_align: bilinear average pooling of axis-aligned RoIs (batch_index, x1, y1, x2, y2).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

struct roi_align_params {
  int batch, channels, height, width, pooled_h, pooled_w, sampling_ratio;
  double spatial_scale;
  bool aligned;

};

// out (n_rois, C, PH, PW) from input (B, C, H, W) and rois (n_rois, 5); all contiguous.
template <typename T>
void launch_roi_align_forward(const T* input, const T* rois, int64_t n_rois, const roi_align_params& p, T* out,
                          cudaStream_t stream);

// grad_input (B, C, H, W), zero-filled by the caller, accumulates from grad_out (n_rois, C, PH, PW).
template <typename T>
void launch_roi_align_backward(const T* grad_out, const T* rois, int64_t n_rois, const roi_align_params& p, T* grad_input,
                           cudaStream_t stream);

}  // namespace rbox_ops

// Host entry points of the CUDA RoI pooling kernels (common/roi_pool_cuda.cuh), called by
// the torch glue (common/roi_pool_cuda.h). Plain C++ and the CUDA runtime: no torch headers.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "roi_sampling.h"

namespace rbox_ops {

// Bilinear RoI average pooling on the device for one op's Params (e.g. RoiAlignParams);
// the op's .cu file instantiates it for float and double.
template <typename T, typename Params>
struct RoiPoolCuda {
  // out (n_rois, C, PH, PW) from input (B, C, H, W) and rois (n_rois, Params::roi_dim); all contiguous.
  static void forward(const T* input, const T* rois, const RoiPoolShape& s, const Params& p, T* out,
                      cudaStream_t stream);
  // grad_input (B, C, H, W), zero-filled by the caller, accumulates from grad_out (n_rois, C, PH, PW).
  static void backward(const T* grad_out, const T* rois, const RoiPoolShape& s, const Params& p, T* grad_input,
                       cudaStream_t stream);
};

}  // namespace rbox_ops

// riroi_align_rotated: host entry points of the CUDA kernels (riroi_align_rotated_cuda.cu), called by the
// torch glue (riroi_align_rotated_cuda.cpp). Plain C++ and the CUDA runtime: no torch headers.
#pragma once

#include <cuda_runtime_api.h>

#include "riroi_align_rotated/riroi_align_rotated.h"

namespace rbox_ops {

template <typename T>
struct RiRoiAlignRotatedCuda {
  // out (n_rois, C, PH, PW) from input (B, C, H, W) and rois (n_rois, 6); all contiguous; s.channels = C.
  static void forward(const T* input, const T* rois, const RoiPoolShape& s, const RiRoiAlignRotatedParams& p,
                      T* out, cudaStream_t stream);
  // grad_input (B, C, H, W), zero-filled by the caller, accumulates from grad_out (n_rois, C, PH, PW).
  static void backward(const T* grad_out, const T* rois, const RoiPoolShape& s, const RiRoiAlignRotatedParams& p,
                       T* grad_input, cudaStream_t stream);
};

}  // namespace rbox_ops

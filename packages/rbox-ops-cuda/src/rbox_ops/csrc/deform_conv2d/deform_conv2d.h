// deform_conv2d and modulated_deform_conv2d: host entry points of the CUDA kernels
// (deform_conv2d_cuda.cu), called by the torch glue (deform_conv2d_cuda.cpp). Plain C++ and the CUDA
// runtime: no torch headers. The columns of batch item n are (C * K, L): row c * K + k, column
// l = ho * W_out + wo (K = kh * kw, L = H_out * W_out); the sampling is common/deform_sampling.h's.
// `mask` is the modulated op's (N, DG * K, H_out, W_out) mask, or nullptr (deform_conv2d: 1).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "common/deform_sampling.h"

namespace rbox_ops {

template <typename T>
struct DeformConvCuda {
  // cols (C * K, L) of batch item n from input (N, C, H, W) and offset (N, 2 * DG * K, H_out, W_out).
  static void im2col(const T* input, const T* offset, const T* mask, int64_t n, const DeformConvShape& s, T* cols,
                     cudaStream_t stream);
  // grad_input (N, C, H, W), zero-filled by the caller, accumulates item n's grad_cols (C * K, L).
  static void col2im(const T* grad_cols, const T* offset, const T* mask, int64_t n, const DeformConvShape& s,
                     T* grad_input, cudaStream_t stream);
  // grad_offset[n] (2 * DG * K, H_out, W_out) from item n's grad_cols (C * K, L) and the input; with a
  // mask, grad_mask[n] (DG * K, H_out, W_out) too (else grad_mask is nullptr).
  static void col2im_coord(const T* grad_cols, const T* input, const T* offset, const T* mask, int64_t n,
                           const DeformConvShape& s, T* grad_offset, T* grad_mask, cudaStream_t stream);
};

}  // namespace rbox_ops

// active_rotated_filter: argument checks and sizes shared by the CPU and CUDA glue (torch headers; .cpp only).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "common/torch_checks.h"

namespace rbox_ops {

struct ArfSizes {
  int64_t planes_out, planes_in, orientations, kh, kw, rotations, entries;
  int64_t n_weight() const { return planes_out * planes_in * entries; }
};

inline void arf_check_indices(const at::Tensor& indices) {
  TORCH_CHECK(indices.dim() == 4, "indices must have shape (nOrientation, kH, kW, nRotation), got ",
              indices.sizes());
  TORCH_CHECK(indices.scalar_type() == at::kInt, "indices must be int32, got ", indices.scalar_type());
}

// input (O, I, nOrientation, kH, kW), indices (nOrientation, kH, kW, nRotation)
inline ArfSizes arf_forward_sizes(const at::Tensor& input, const at::Tensor& indices) {
  RBOX_CHECK_FLOAT(input);
  TORCH_CHECK(input.dim() == 5, "input must have shape (O, I, nOrientation, kH, kW), got ", input.sizes());
  arf_check_indices(indices);
  TORCH_CHECK(input.device() == indices.device(), "indices is on ", indices.device(), " but input is on ",
              input.device());
  TORCH_CHECK(indices.size(0) == input.size(2) && indices.size(1) == input.size(3) &&
                  indices.size(2) == input.size(4),
              "indices must have shape (nOrientation, kH, kW, nRotation) matching input ", input.sizes(), ", got ",
              indices.sizes());
  const int64_t n = input.size(2), kh = input.size(3), kw = input.size(4);
  return {input.size(0), input.size(1), n, kh, kw, indices.size(3), n * kh * kw};
}

// grad_output (O * nRotation, I * nOrientation, kH, kW), indices (nOrientation, kH, kW, nRotation)
inline ArfSizes arf_backward_sizes(const at::Tensor& grad_output, const at::Tensor& indices) {
  RBOX_CHECK_FLOAT(grad_output);
  arf_check_indices(indices);
  TORCH_CHECK(grad_output.device() == indices.device(), "indices is on ", indices.device(),
              " but grad_output is on ", grad_output.device());
  const int64_t n = indices.size(0), kh = indices.size(1), kw = indices.size(2), r = indices.size(3);
  TORCH_CHECK(grad_output.dim() == 4 && r > 0 && n > 0 && grad_output.size(0) % r == 0 &&
                  grad_output.size(1) % n == 0 && grad_output.size(2) == kh && grad_output.size(3) == kw,
              "grad_output must have shape (O * nRotation, I * nOrientation, kH, kW) for indices ", indices.sizes(),
              ", got ", grad_output.sizes());
  return {grad_output.size(0) / r, grad_output.size(1) / n, n, kh, kw, r, n * kh * kw};
}

}  // namespace rbox_ops

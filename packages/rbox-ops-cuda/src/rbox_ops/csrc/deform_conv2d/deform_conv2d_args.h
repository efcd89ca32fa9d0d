// deform_conv2d and modulated_deform_conv2d: the argument checks and sizes shared by the CPU and
// CUDA glue (.cpp files only). The Python faces check the same things first; these keep direct
// torch.ops calls from reading out of bounds. `op` names the op in the messages.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>

#include "common/deform_sampling.h"
#include "common/torch_checks.h"

namespace rbox_ops {

inline DeformConvShape deform_conv2d_shape(const char* op, const at::Tensor& input, const at::Tensor& offset,
                                           const at::Tensor& weight, int64_t stride_h, int64_t stride_w,
                                           int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                                           int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_FLOAT(input);
  TORCH_CHECK(offset.scalar_type() == input.scalar_type() && weight.scalar_type() == input.scalar_type(),
              op, ": input, offset and weight must have one dtype, got ", input.scalar_type(), ", ",
              offset.scalar_type(), ", ", weight.scalar_type());
  TORCH_CHECK(input.dim() == 4, op, ": input must be (N, C, H, W), got ", input.sizes());
  TORCH_CHECK(offset.dim() == 4, op, ": offset must be (N, 2 * deform_groups * kh * kw, H_out, W_out), got ",
              offset.sizes());
  TORCH_CHECK(weight.dim() == 4, op, ": weight must be (C_out, C / groups, kh, kw), got ", weight.sizes());
  TORCH_CHECK(stride_h > 0 && stride_w > 0 && dilation_h > 0 && dilation_w > 0 && pad_h >= 0 && pad_w >= 0,
              op, ": stride and dilation must be positive and padding non-negative");
  TORCH_CHECK(groups > 0 && deform_groups > 0, op, ": groups and deform_groups must be positive");
  DeformConvShape s;
  s.batch = input.size(0);
  s.channels = input.size(1);
  s.height = input.size(2);
  s.width = input.size(3);
  s.out_channels = weight.size(0);
  s.kernel_h = static_cast<int>(weight.size(2));
  s.kernel_w = static_cast<int>(weight.size(3));
  s.stride_h = static_cast<int>(stride_h);
  s.stride_w = static_cast<int>(stride_w);
  s.pad_h = static_cast<int>(pad_h);
  s.pad_w = static_cast<int>(pad_w);
  s.dilation_h = static_cast<int>(dilation_h);
  s.dilation_w = static_cast<int>(dilation_w);
  s.groups = static_cast<int>(groups);
  s.deform_groups = static_cast<int>(deform_groups);
  TORCH_CHECK(s.channels % groups == 0 && s.out_channels % groups == 0, op, ": input channels (",
              s.channels, ") and weight's output channels (", s.out_channels, ") must be divisible by groups (",
              groups, ")");
  TORCH_CHECK(weight.size(1) * groups == s.channels, op, ": weight must have C / groups = ",
              s.channels / groups, " input channels, got ", weight.sizes());
  TORCH_CHECK(s.channels % deform_groups == 0, op, ": input channels (", s.channels,
              ") must be divisible by deform_groups (", deform_groups, ")");
  s.out_h = (s.height + 2 * pad_h - (dilation_h * (s.kernel_h - 1) + 1)) / stride_h + 1;
  s.out_w = (s.width + 2 * pad_w - (dilation_w * (s.kernel_w - 1) + 1)) / stride_w + 1;
  TORCH_CHECK(s.out_h > 0 && s.out_w > 0, op, ": input ", input.sizes(), " is too small for the kernel");
  TORCH_CHECK(offset.size(0) == s.batch && offset.size(1) == 2 * deform_groups * s.kernel_size() &&
                  offset.size(2) == s.out_h && offset.size(3) == s.out_w,
              op, ": offset must have shape (", s.batch, ", ", 2 * deform_groups * s.kernel_size(), ", ",
              s.out_h, ", ", s.out_w, "), got ", offset.sizes());
  return s;
}

// grad_output must be (N, C_out, H_out, W_out)
inline void check_grad_output(const char* op, const DeformConvShape& s, const at::Tensor& grad_output) {
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == s.batch && grad_output.size(1) == s.out_channels &&
                  grad_output.size(2) == s.out_h && grad_output.size(3) == s.out_w,
              op, ": grad_output must be (", s.batch, ", ", s.out_channels, ", ", s.out_h, ", ", s.out_w, "), got ",
              grad_output.sizes());
}

// modulated_deform_conv2d's mask (N, deform_groups * kh * kw, H_out, W_out) and optional bias (C_out,),
// on the input's device and of its dtype.
inline void check_mask_and_bias(const char* op, const DeformConvShape& s, const at::Tensor& input,
                                const at::Tensor& mask, const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(mask.scalar_type() == input.scalar_type() && mask.device() == input.device(), op,
              ": mask must have the input's dtype and device, got ", mask.scalar_type(), " on ", mask.device());
  TORCH_CHECK(mask.dim() == 4 && mask.size(0) == s.batch && mask.size(1) == s.deform_groups * s.kernel_size() &&
                  mask.size(2) == s.out_h && mask.size(3) == s.out_w,
              op, ": mask must have shape (", s.batch, ", ", s.deform_groups * s.kernel_size(), ", ", s.out_h, ", ",
              s.out_w, "), got ", mask.sizes());
  if (!bias.has_value() || !bias->defined()) return;
  TORCH_CHECK(bias->scalar_type() == input.scalar_type() && bias->device() == input.device(), op,
              ": bias must have the input's dtype and device, got ", bias->scalar_type(), " on ", bias->device());
  TORCH_CHECK(bias->dim() == 1 && bias->size(0) == s.out_channels, op, ": bias must have shape (", s.out_channels,
              "), got ", bias->sizes());
}

}  // namespace rbox_ops

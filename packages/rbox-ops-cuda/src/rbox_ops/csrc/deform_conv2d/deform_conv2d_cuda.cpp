// deform_conv2d and modulated_deform_conv2d: CUDA registration glue (compiled only for a CUDA build of
// torch). One implementation for both ops (the modulated one adds a mask and a bias). Per batch item:
// the columns (C * K, L) by a kernel (deform_conv2d_cuda.cu), then a matmul per group (that starts
// from the bias where there is one).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "common/torch_checks.h"
#include "deform_conv2d/deform_conv2d.h"
#include "deform_conv2d/deform_conv2d_args.h"

namespace rbox_ops {
namespace {

template <typename T>
const T* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Both ops' forward: `mask` and `bias` undefined for deform_conv2d.
at::Tensor forward_cuda(const DeformConvShape& s, const at::Tensor& input, const at::Tensor& offset,
                        const at::Tensor& mask, const at::Tensor& weight, const at::Tensor& bias) {
  const c10::cuda::CUDAGuard guard(input.device());
  auto out = at::empty({s.batch, s.out_channels, s.out_h, s.out_w}, input.options());
  if (out.numel() == 0) return out;
  if (s.channels == 0) return bias.defined() ? out.copy_(bias.view({1, -1, 1, 1}).expand_as(out)) : out.zero_();
  const auto x = input.contiguous();
  const auto off = offset.contiguous();
  const auto msk = mask.defined() ? mask.contiguous() : mask;
  const int64_t L = s.out_size(), cgk = s.kernel_size() * s.channels / s.groups, og = s.out_channels / s.groups;
  const auto w = weight.reshape({s.groups, og, cgk});
  const auto b = bias.defined() ? bias.reshape({s.groups, og, 1}) : bias;
  auto cols = at::empty({s.groups, cgk, L}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deform_conv2d_cuda", [&] {
    for (int64_t n = 0; n < s.batch; n++) {
      DeformConvCuda<scalar_t>::im2col(x.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), data_or_null<scalar_t>(msk),
                                       n, s, cols.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      auto out_n = out.select(0, n).view({s.groups, og, L});
      if (b.defined())
        at::baddbmm_out(out_n, b, w, cols);
      else
        at::bmm_out(out_n, w, cols);
    }
  });
  return out;
}

// Both ops' backward: the gradients of input, offset, mask (undefined without one) and weight.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cuda(const DeformConvShape& s,
                                                                         const at::Tensor& grad_output,
                                                                         const at::Tensor& input,
                                                                         const at::Tensor& offset,
                                                                         const at::Tensor& mask,
                                                                         const at::Tensor& weight) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto go = grad_output.to(input.scalar_type()).contiguous();
  const auto x = input.contiguous();
  const auto off = offset.contiguous();
  const auto msk = mask.defined() ? mask.contiguous() : mask;
  const int64_t L = s.out_size(), cgk = s.kernel_size() * s.channels / s.groups, og = s.out_channels / s.groups;
  const auto w = weight.reshape({s.groups, og, cgk});
  auto grad_input = at::zeros_like(x);
  auto grad_offset = at::zeros_like(off);
  auto grad_mask = msk.defined() ? at::zeros_like(msk) : at::Tensor();
  auto grad_w = at::zeros_like(w);
  if (go.numel() > 0 && x.numel() > 0) {
    auto cols = at::empty({s.groups, cgk, L}, x.options());
    auto grad_cols = at::empty({s.groups, cgk, L}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deform_conv2d_backward_cuda", [&] {
      const auto stream = c10::cuda::getCurrentCUDAStream();
      const scalar_t* mask_ptr = data_or_null<scalar_t>(msk);
      for (int64_t n = 0; n < s.batch; n++) {
        DeformConvCuda<scalar_t>::im2col(x.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), mask_ptr, n, s,
                                         cols.data_ptr<scalar_t>(), stream);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        const auto go_n = go.select(0, n).view({s.groups, og, L});
        grad_w.add_(at::bmm(go_n, cols.transpose(1, 2)));
        at::bmm_out(grad_cols, w.transpose(1, 2), go_n);
        DeformConvCuda<scalar_t>::col2im(grad_cols.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), mask_ptr, n, s,
                                         grad_input.data_ptr<scalar_t>(), stream);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        DeformConvCuda<scalar_t>::col2im_coord(grad_cols.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                                               off.data_ptr<scalar_t>(), mask_ptr, n, s,
                                               grad_offset.data_ptr<scalar_t>(),
                                               grad_mask.defined() ? grad_mask.data_ptr<scalar_t>() : nullptr, stream);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    });
  }
  return {grad_input, grad_offset, grad_mask, grad_w.view(weight.sizes())};
}

at::Tensor deform_conv2d_cuda(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                              int64_t dilation_w, int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(offset);
  RBOX_CHECK_CUDA(weight);
  const DeformConvShape s = deform_conv2d_shape("deform_conv2d", input, offset, weight, stride_h, stride_w, pad_h,
                                                pad_w, dilation_h, dilation_w, groups, deform_groups);
  return forward_cuda(s, input, offset, at::Tensor(), weight, at::Tensor());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
    int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
    int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CUDA(grad_output);
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(offset);
  RBOX_CHECK_CUDA(weight);
  const DeformConvShape s = deform_conv2d_shape("deform_conv2d_backward", input, offset, weight, stride_h, stride_w,
                                                pad_h, pad_w, dilation_h, dilation_w, groups, deform_groups);
  check_grad_output("deform_conv2d_backward", s, grad_output);
  auto grads = backward_cuda(s, grad_output, input, offset, at::Tensor(), weight);
  return {std::get<0>(grads), std::get<1>(grads), std::get<3>(grads)};
}

at::Tensor modulated_deform_conv2d_cuda(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                                        const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                        int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                        int64_t dilation_h, int64_t dilation_w, int64_t groups,
                                        int64_t deform_groups) {
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(offset);
  RBOX_CHECK_CUDA(weight);
  const char* op = "modulated_deform_conv2d";
  const DeformConvShape s = deform_conv2d_shape(op, input, offset, weight, stride_h, stride_w, pad_h, pad_w,
                                                dilation_h, dilation_w, groups, deform_groups);
  check_mask_and_bias(op, s, input, mask, bias);
  return forward_cuda(s, input, offset, mask, weight, bias.value_or(at::Tensor()));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> modulated_deform_conv2d_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
    const at::Tensor& weight, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
    int64_t dilation_w, int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CUDA(grad_output);
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(offset);
  RBOX_CHECK_CUDA(weight);
  const char* op = "modulated_deform_conv2d_backward";
  const DeformConvShape s = deform_conv2d_shape(op, input, offset, weight, stride_h, stride_w, pad_h, pad_w,
                                                dilation_h, dilation_w, groups, deform_groups);
  check_mask_and_bias(op, s, input, mask, std::nullopt);
  check_grad_output(op, s, grad_output);
  return backward_cuda(s, grad_output, input, offset, mask, weight);
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("deform_conv2d", &deform_conv2d_cuda);
  m.impl("deform_conv2d_backward", &deform_conv2d_backward_cuda);
  m.impl("modulated_deform_conv2d", &modulated_deform_conv2d_cuda);
  m.impl("modulated_deform_conv2d_backward", &modulated_deform_conv2d_backward_cuda);
}

}  // namespace rbox_ops

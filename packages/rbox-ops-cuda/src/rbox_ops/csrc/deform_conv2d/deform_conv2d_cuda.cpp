// deform_conv2d: CUDA registration glue (compiled only for a CUDA build of torch). Per batch item: the
// columns (C * K, L) by a kernel (deform_conv2d_cuda.cu), then a matmul per group.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "common/torch_checks.h"
#include "deform_conv2d/deform_conv2d.h"
#include "deform_conv2d/deform_conv2d_args.h"

namespace rbox_ops {
namespace {

at::Tensor deform_conv2d_cuda(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                              int64_t dilation_w, int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(offset);
  RBOX_CHECK_CUDA(weight);
  const DeformConvShape s = deform_conv2d_shape(input, offset, weight, stride_h, stride_w, pad_h, pad_w, dilation_h,
                                                dilation_w, groups, deform_groups);
  const c10::cuda::CUDAGuard guard(input.device());
  auto out = at::empty({s.batch, s.out_channels, s.out_h, s.out_w}, input.options());
  if (out.numel() == 0) return out;
  if (s.channels == 0) return out.zero_();
  const auto x = input.contiguous();
  const auto off = offset.contiguous();
  const int64_t L = s.out_size(), cgk = s.kernel_size() * s.channels / s.groups;
  const auto w = weight.reshape({s.groups, s.out_channels / s.groups, cgk});
  auto cols = at::empty({s.groups, cgk, L}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deform_conv2d_cuda", [&] {
    for (int64_t n = 0; n < s.batch; n++) {
      DeformConvCuda<scalar_t>::im2col(x.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), n, s,
                                       cols.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      auto out_n = out.select(0, n).view({s.groups, s.out_channels / s.groups, L});
      at::bmm_out(out_n, w, cols);
    }
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
    int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
    int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CUDA(grad_output);
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(offset);
  RBOX_CHECK_CUDA(weight);
  const DeformConvShape s = deform_conv2d_shape(input, offset, weight, stride_h, stride_w, pad_h, pad_w, dilation_h,
                                                dilation_w, groups, deform_groups);
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == s.batch && grad_output.size(1) == s.out_channels &&
                  grad_output.size(2) == s.out_h && grad_output.size(3) == s.out_w,
              "deform_conv2d_backward: grad_output must be (", s.batch, ", ", s.out_channels, ", ", s.out_h, ", ",
              s.out_w, "), got ", grad_output.sizes());
  const c10::cuda::CUDAGuard guard(input.device());
  const auto go = grad_output.to(input.scalar_type()).contiguous();
  const auto x = input.contiguous();
  const auto off = offset.contiguous();
  const int64_t L = s.out_size(), cgk = s.kernel_size() * s.channels / s.groups, og = s.out_channels / s.groups;
  const auto w = weight.reshape({s.groups, og, cgk});
  auto grad_input = at::zeros_like(x);
  auto grad_offset = at::zeros_like(off);
  auto grad_w = at::zeros_like(w);
  if (go.numel() > 0 && x.numel() > 0) {
    auto cols = at::empty({s.groups, cgk, L}, x.options());
    auto grad_cols = at::empty({s.groups, cgk, L}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deform_conv2d_backward_cuda", [&] {
      const auto stream = c10::cuda::getCurrentCUDAStream();
      for (int64_t n = 0; n < s.batch; n++) {
        DeformConvCuda<scalar_t>::im2col(x.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), n, s,
                                         cols.data_ptr<scalar_t>(), stream);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        const auto go_n = go.select(0, n).view({s.groups, og, L});
        grad_w.add_(at::bmm(go_n, cols.transpose(1, 2)));
        at::bmm_out(grad_cols, w.transpose(1, 2), go_n);
        DeformConvCuda<scalar_t>::col2im(grad_cols.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), n, s,
                                         grad_input.data_ptr<scalar_t>(), stream);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        DeformConvCuda<scalar_t>::col2im_coord(grad_cols.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                                               off.data_ptr<scalar_t>(), n, s, grad_offset.data_ptr<scalar_t>(),
                                               stream);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    });
  }
  return {grad_input, grad_offset, grad_w.view(weight.sizes())};
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("deform_conv2d", &deform_conv2d_cuda);
  m.impl("deform_conv2d_backward", &deform_conv2d_backward_cuda);
}

}  // namespace rbox_ops

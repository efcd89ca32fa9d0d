// roi_align_rotated: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "roi_align_rotated/roi_align_rotated.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

at::Tensor roi_align_rotated_forward_cuda(const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h, int64_t pooled_w,
                              double spatial_scale, int64_t sampling_ratio, bool aligned, bool clockwise) {
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(rois);
  RBOX_CHECK_FLOAT(input);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto x = input.contiguous();
  const auto r = rois.contiguous().to(x.scalar_type());
  const roi_align_rotated_params p{static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                       static_cast<int>(x.size(3)), static_cast<int>(pooled_h), static_cast<int>(pooled_w),
                       static_cast<int>(sampling_ratio), spatial_scale, aligned, clockwise};
  auto out = at::empty({r.size(0), x.size(1), pooled_h, pooled_w}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roi_align_rotated_forward_cuda", [&] {
    launch_roi_align_rotated_forward<scalar_t>(x.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), r.size(0), p,
                                   out.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor roi_align_rotated_backward_cuda(const at::Tensor& grad_output, const at::Tensor& rois, int64_t batch,
                               int64_t channels, int64_t height, int64_t width, int64_t pooled_h, int64_t pooled_w,
                               double spatial_scale, int64_t sampling_ratio, bool aligned, bool clockwise) {
  RBOX_CHECK_CUDA(grad_output);
  RBOX_CHECK_CUDA(rois);
  RBOX_CHECK_FLOAT(grad_output);
  const c10::cuda::CUDAGuard guard(grad_output.device());
  const auto go = grad_output.contiguous();
  const auto r = rois.contiguous().to(go.scalar_type());
  const roi_align_rotated_params p{static_cast<int>(batch), static_cast<int>(channels), static_cast<int>(height),
                       static_cast<int>(width), static_cast<int>(pooled_h), static_cast<int>(pooled_w),
                       static_cast<int>(sampling_ratio), spatial_scale, aligned, clockwise};
  auto grad_input = at::zeros({batch, channels, height, width}, go.options());
  if (go.numel() == 0 || grad_input.numel() == 0) return grad_input;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "roi_align_rotated_backward_cuda", [&] {
    launch_roi_align_rotated_backward<scalar_t>(go.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), r.size(0), p,
                                    grad_input.data_ptr<scalar_t>(), at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("roi_align_rotated", &roi_align_rotated_forward_cuda);
  m.impl("roi_align_rotated_backward", &roi_align_rotated_backward_cuda);
}

}  // namespace rbox_ops

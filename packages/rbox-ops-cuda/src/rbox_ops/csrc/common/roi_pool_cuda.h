// CUDA glue of bilinear RoI average pooling, shared by roi_align and roi_align_rotated
// (.cpp files only): the forward/backward kernels that each op registers for its `Params`,
// e.g. m.impl("roi_align", &roi_pool_forward_cuda<RoiAlignParams>). Same arguments as
// roi_pool_forward_cpu / roi_pool_backward_cpu (roi_pool_cpu.h).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "roi_pool_launch.h"
#include "torch_checks.h"

namespace rbox_ops {

template <typename Params, typename... Extra>
at::Tensor roi_pool_forward_cuda(const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h,
                                 int64_t pooled_w, double spatial_scale, int64_t sampling_ratio, bool aligned,
                                 Extra... extra) {
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(rois);
  RBOX_CHECK_FLOAT(input);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto x = input.contiguous();
  const auto r = rois.contiguous().to(x.scalar_type());
  const RoiPoolShape s{r.size(0), x.size(1), x.size(2), x.size(3)};
  const auto p = make_roi_pool_params<Params>(x.size(0), pooled_h, pooled_w, spatial_scale, sampling_ratio,
                                              aligned, extra...);
  auto out = at::empty({s.n_rois, s.channels, pooled_h, pooled_w}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roi_pool_forward_cuda", [&] {
    RoiPoolCuda<scalar_t, Params>::forward(x.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                                           out.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

template <typename Params, typename... Extra>
at::Tensor roi_pool_backward_cuda(const at::Tensor& grad_output, const at::Tensor& rois, int64_t batch,
                                  int64_t channels, int64_t height, int64_t width, int64_t pooled_h,
                                  int64_t pooled_w, double spatial_scale, int64_t sampling_ratio, bool aligned,
                                  Extra... extra) {
  RBOX_CHECK_CUDA(grad_output);
  RBOX_CHECK_CUDA(rois);
  RBOX_CHECK_FLOAT(grad_output);
  const c10::cuda::CUDAGuard guard(grad_output.device());
  const auto go = grad_output.contiguous();
  const auto r = rois.contiguous().to(go.scalar_type());
  const RoiPoolShape s{r.size(0), channels, height, width};
  const auto p = make_roi_pool_params<Params>(batch, pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned,
                                              extra...);
  auto grad_input = at::zeros({batch, channels, height, width}, go.options());
  if (go.numel() == 0 || grad_input.numel() == 0) return grad_input;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "roi_pool_backward_cuda", [&] {
    RoiPoolCuda<scalar_t, Params>::backward(go.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                                            grad_input.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

}  // namespace rbox_ops

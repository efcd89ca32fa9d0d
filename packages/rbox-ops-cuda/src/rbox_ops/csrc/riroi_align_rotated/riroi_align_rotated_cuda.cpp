// riroi_align_rotated: CUDA registration glue (riroi_align_rotated_cuda.h); compiled only for a CUDA
// build of torch. Same arguments and checks as the CPU kernels.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "riroi_align_rotated/riroi_align_rotated_cuda.h"

namespace rbox_ops {
namespace {

void check_orientations(int64_t channels, int64_t num_orientations) {
  TORCH_CHECK(num_orientations > 0, "num_orientations must be > 0, got ", num_orientations);
  TORCH_CHECK(channels % num_orientations == 0, "input's channels (", channels,
              ") must be a multiple of num_orientations (", num_orientations, ")");
}

at::Tensor riroi_align_rotated_cuda(const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h,
                                    int64_t pooled_w, double spatial_scale, int64_t num_samples,
                                    int64_t num_orientations, bool clockwise) {
  RBOX_CHECK_CUDA(input);
  RBOX_CHECK_CUDA(rois);
  RBOX_CHECK_FLOAT(input);
  check_orientations(input.size(1), num_orientations);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto x = input.contiguous();
  const auto r = rois.contiguous().to(x.scalar_type());
  const RoiPoolShape s{r.size(0), x.size(1), x.size(2), x.size(3)};
  const auto p =
      make_riroi_params(x.size(0), pooled_h, pooled_w, spatial_scale, num_samples, num_orientations, clockwise);
  auto out = at::empty({s.n_rois, s.channels, pooled_h, pooled_w}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "riroi_align_rotated_cuda", [&] {
    RiRoiAlignRotatedCuda<scalar_t>::forward(x.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                                             out.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor riroi_align_rotated_backward_cuda(const at::Tensor& grad_output, const at::Tensor& rois, int64_t batch,
                                             int64_t channels, int64_t height, int64_t width, int64_t pooled_h,
                                             int64_t pooled_w, double spatial_scale, int64_t num_samples,
                                             int64_t num_orientations, bool clockwise) {
  RBOX_CHECK_CUDA(grad_output);
  RBOX_CHECK_CUDA(rois);
  RBOX_CHECK_FLOAT(grad_output);
  check_orientations(channels, num_orientations);
  const c10::cuda::CUDAGuard guard(grad_output.device());
  const auto go = grad_output.contiguous();
  const auto r = rois.contiguous().to(go.scalar_type());
  const RoiPoolShape s{r.size(0), channels, height, width};
  const auto p =
      make_riroi_params(batch, pooled_h, pooled_w, spatial_scale, num_samples, num_orientations, clockwise);
  auto grad_input = at::zeros({batch, channels, height, width}, go.options());
  if (go.numel() == 0 || grad_input.numel() == 0) return grad_input;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "riroi_align_rotated_backward_cuda", [&] {
    RiRoiAlignRotatedCuda<scalar_t>::backward(go.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                                              grad_input.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("riroi_align_rotated", &riroi_align_rotated_cuda);
  m.impl("riroi_align_rotated_backward", &riroi_align_rotated_backward_cuda);
}

}  // namespace rbox_ops

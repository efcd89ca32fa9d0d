// rotated_feature_align: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "rotated_feature_align/rotated_feature_align.h"

namespace rbox_ops {
namespace {

FeatureAlignShape check_args(const at::Tensor& x, const at::Tensor& boxes, int64_t points, const char* x_name) {
  RBOX_CHECK_CUDA(x);
  RBOX_CHECK_CUDA(boxes);
  RBOX_CHECK_FLOAT(x);
  TORCH_CHECK(points == 1 || points == 5, "points must be 1 or 5, got ", points);
  TORCH_CHECK(x.dim() == 4, x_name, " must have 4 dimensions (N, C, H, W), got ", x.sizes());
  TORCH_CHECK(boxes.dim() == 4 && boxes.size(0) == x.size(0) && boxes.size(1) == x.size(2) &&
                  boxes.size(2) == x.size(3) && boxes.size(3) == 5,
              "best_rbboxes must have shape (N, H, W, 5) = (", x.size(0), ", ", x.size(2), ", ", x.size(3),
              ", 5), got ", boxes.sizes());
  return FeatureAlignShape{x.size(0), x.size(1), x.size(2), x.size(3)};
}

at::Tensor rotated_feature_align_cuda(const at::Tensor& features, const at::Tensor& best_rbboxes,
                                      double spatial_scale, int64_t points) {
  const FeatureAlignShape s = check_args(features, best_rbboxes, points, "features");
  const c10::cuda::CUDAGuard guard(features.device());
  const auto x = features.contiguous();
  const auto b = best_rbboxes.contiguous().to(x.scalar_type());
  auto out = at::empty_like(x);
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rotated_feature_align_cuda", [&] {
    launch_rotated_feature_align_forward<scalar_t>(x.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), s,
                                                   static_cast<scalar_t>(spatial_scale), static_cast<int>(points),
                                                   out.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor rotated_feature_align_backward_cuda(const at::Tensor& grad_output, const at::Tensor& best_rbboxes,
                                               double spatial_scale, int64_t points) {
  const FeatureAlignShape s = check_args(grad_output, best_rbboxes, points, "grad_output");
  const c10::cuda::CUDAGuard guard(grad_output.device());
  const auto go = grad_output.contiguous();
  const auto b = best_rbboxes.contiguous().to(go.scalar_type());
  auto grad = at::zeros_like(go);
  if (grad.numel() == 0) return grad;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "rotated_feature_align_backward_cuda", [&] {
    launch_rotated_feature_align_backward<scalar_t>(go.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), s,
                                                    static_cast<scalar_t>(spatial_scale), static_cast<int>(points),
                                                    grad.data_ptr<scalar_t>(), c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("rotated_feature_align", &rotated_feature_align_cuda);
  m.impl("rotated_feature_align_backward", &rotated_feature_align_backward_cuda);
}

}  // namespace rbox_ops

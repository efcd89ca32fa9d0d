// chamfer_distance: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "chamfer_distance/chamfer_distance.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

void check_points(const at::Tensor& xyz1, const at::Tensor& xyz2) {
  RBOX_CHECK_CUDA(xyz1);
  RBOX_CHECK_CUDA(xyz2);
  RBOX_CHECK_FLOAT(xyz1);
  TORCH_CHECK(xyz1.dim() == 3 && xyz1.size(2) == 2, "xyz1 must have shape (B, N, 2), got ", xyz1.sizes());
  TORCH_CHECK(xyz2.dim() == 3 && xyz2.size(2) == 2 && xyz2.size(0) == xyz1.size(0),
              "xyz2 must have shape (B, M, 2) with B = ", xyz1.size(0), ", got ", xyz2.sizes());
  TORCH_CHECK(xyz2.scalar_type() == xyz1.scalar_type(), "xyz2 must have the dtype of xyz1");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> chamfer_distance_cuda(const at::Tensor& xyz1,
                                                                                 const at::Tensor& xyz2) {
  check_points(xyz1, xyz2);
  const c10::cuda::CUDAGuard guard(xyz1.device());
  const auto a = xyz1.contiguous(), c = xyz2.contiguous();
  const int64_t b = a.size(0), n = a.size(1), m = c.size(1);
  auto dist1 = at::empty({b, n}, a.options()), dist2 = at::empty({b, m}, a.options());
  auto idx1 = at::empty({b, n}, a.options().dtype(at::kInt)), idx2 = at::empty({b, m}, a.options().dtype(at::kInt));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "chamfer_distance_cuda", [&] {
    launch_chamfer_nearest(a.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), dist1.data_ptr<scalar_t>(),
                           idx1.data_ptr<int32_t>(), b, n, m, stream);
    launch_chamfer_nearest(c.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), dist2.data_ptr<scalar_t>(),
                           idx2.data_ptr<int32_t>(), b, m, n, stream);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {dist1, dist2, idx1, idx2};
}

std::tuple<at::Tensor, at::Tensor> chamfer_distance_backward_cuda(const at::Tensor& xyz1, const at::Tensor& xyz2,
                                                                  const at::Tensor& idx1, const at::Tensor& idx2,
                                                                  const at::Tensor& grad_dist1,
                                                                  const at::Tensor& grad_dist2) {
  check_points(xyz1, xyz2);
  const c10::cuda::CUDAGuard guard(xyz1.device());
  const auto a = xyz1.contiguous(), c = xyz2.contiguous();
  const int64_t b = a.size(0), n = a.size(1), m = c.size(1);
  TORCH_CHECK(idx1.sizes() == at::IntArrayRef({b, n}) && idx2.sizes() == at::IntArrayRef({b, m}),
              "idx1/idx2 must have shapes (B, N)/(B, M)");
  const auto i1 = idx1.contiguous().to(at::kInt), i2 = idx2.contiguous().to(at::kInt);
  const auto g1 = grad_dist1.contiguous().to(a.scalar_type()), g2 = grad_dist2.contiguous().to(a.scalar_type());
  auto grad1 = at::zeros_like(a), grad2 = at::zeros_like(c);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "chamfer_distance_backward_cuda", [&] {
    launch_chamfer_backward(a.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), i1.data_ptr<int32_t>(),
                            g1.data_ptr<scalar_t>(), grad1.data_ptr<scalar_t>(), grad2.data_ptr<scalar_t>(), b, n, m,
                            stream);
    launch_chamfer_backward(c.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), i2.data_ptr<int32_t>(),
                            g2.data_ptr<scalar_t>(), grad2.data_ptr<scalar_t>(), grad1.data_ptr<scalar_t>(), b, m, n,
                            stream);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad1, grad2};
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("chamfer_distance", &chamfer_distance_cuda);
  m.impl("chamfer_distance_backward", &chamfer_distance_backward_cuda);
}

}  // namespace rbox_ops

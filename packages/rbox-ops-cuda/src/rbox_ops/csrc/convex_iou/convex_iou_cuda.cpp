// convex_iou / convex_giou: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "convex_iou/convex_iou.h"

namespace rbox_ops {
namespace {

void check_inputs(const at::Tensor& pointsets, const at::Tensor& polygons) {
  RBOX_CHECK_CUDA(pointsets);
  RBOX_CHECK_CUDA(polygons);
  RBOX_CHECK_FLOAT(pointsets);
  RBOX_CHECK_FLOAT(polygons);
  TORCH_CHECK(pointsets.dim() == 2 && pointsets.size(1) == 18, "pointsets must have shape (N, 18), got ",
              pointsets.sizes());
  TORCH_CHECK(polygons.dim() == 2 && polygons.size(1) == 8, "polygons must have shape (K, 8), got ",
              polygons.sizes());
}

at::Tensor convex_iou_cuda(const at::Tensor& pointsets, const at::Tensor& polygons) {
  check_inputs(pointsets, polygons);
  const c10::cuda::CUDAGuard guard(pointsets.device());
  const auto p = pointsets.contiguous().to(at::kDouble);
  const auto q = polygons.contiguous().to(at::kDouble);
  const int64_t n = p.size(0), k = q.size(0);
  auto out = at::empty({n, k}, p.options());
  if (out.numel() == 0) return out.to(pointsets.scalar_type());
  auto ring_a = at::empty({n, 18}, p.options()), area_a = at::empty({n}, p.options());
  auto ring_b = at::empty({k, 8}, p.options()), area_b = at::empty({k}, p.options());
  launch_convex_iou(p.data_ptr<double>(), q.data_ptr<double>(), ring_a.data_ptr<double>(), area_a.data_ptr<double>(),
                    ring_b.data_ptr<double>(), area_b.data_ptr<double>(), out.data_ptr<double>(), n, k,
                    c10::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out.to(pointsets.scalar_type());
}

at::Tensor convex_giou_cuda(const at::Tensor& pointsets, const at::Tensor& polygons) {
  check_inputs(pointsets, polygons);
  TORCH_CHECK(polygons.size(0) == pointsets.size(0), "polygons must have as many rows as pointsets (",
              pointsets.size(0), "), got ", polygons.size(0));
  const c10::cuda::CUDAGuard guard(pointsets.device());
  const auto p = pointsets.contiguous().to(at::kDouble);
  const auto q = polygons.contiguous().to(at::kDouble);
  const int64_t n = p.size(0);
  auto out = at::empty({n, 19}, p.options());
  if (n == 0) return out.to(pointsets.scalar_type());
  launch_convex_giou(p.data_ptr<double>(), q.data_ptr<double>(), out.data_ptr<double>(), n,
                     c10::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out.to(pointsets.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("convex_iou", &convex_iou_cuda);
  m.impl("convex_giou", &convex_giou_cuda);
}

}  // namespace rbox_ops

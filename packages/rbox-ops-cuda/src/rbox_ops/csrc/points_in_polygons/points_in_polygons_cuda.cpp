// points_in_polygons: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "points_in_polygons/points_in_polygons.h"

namespace rbox_ops {
namespace {

at::Tensor points_in_polygons_cuda(const at::Tensor& points, const at::Tensor& polygons) {
  RBOX_CHECK_CUDA(points);
  RBOX_CHECK_CUDA(polygons);
  RBOX_CHECK_FLOAT(points);
  RBOX_CHECK_FLOAT(polygons);
  TORCH_CHECK(points.dim() == 2 && points.size(1) == 2, "points must have shape (N, 2), got ", points.sizes());
  TORCH_CHECK(polygons.dim() == 2 && polygons.size(1) == 8, "polygons must have shape (M, 8), got ",
              polygons.sizes());
  const c10::cuda::CUDAGuard guard(points.device());
  const auto p = points.contiguous().to(at::kFloat);
  const auto q = polygons.contiguous().to(at::kFloat);
  const int64_t n = p.size(0), m = q.size(0);
  auto out = at::empty({n, m}, p.options());
  if (out.numel() == 0) return out;
  launch_points_in_polygons(p.data_ptr<float>(), q.data_ptr<float>(), out.data_ptr<float>(), n, m,
                            c10::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) { m.impl("points_in_polygons", &points_in_polygons_cuda); }

}  // namespace rbox_ops

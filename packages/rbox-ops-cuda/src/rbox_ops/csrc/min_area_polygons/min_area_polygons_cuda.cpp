// min_area_polygons: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "min_area_polygons/min_area_polygons.h"

namespace rbox_ops {
namespace {

at::Tensor min_area_polygons_cuda(const at::Tensor& pointsets) {
  RBOX_CHECK_CUDA(pointsets);
  RBOX_CHECK_FLOAT(pointsets);
  TORCH_CHECK(pointsets.dim() == 2 && pointsets.size(1) % 2 == 0 && pointsets.size(1) >= 2 &&
                  pointsets.size(1) <= 32,
              "pointsets must have shape (N, 2k) with 1 <= k <= 16, got ", pointsets.sizes());
  const c10::cuda::CUDAGuard guard(pointsets.device());
  const auto p = pointsets.contiguous().to(at::kDouble);
  const int64_t n = p.size(0);
  auto out = at::empty({n, 8}, p.options());
  if (n == 0) return out.to(pointsets.scalar_type());
  launch_min_area_polygons(p.data_ptr<double>(), out.data_ptr<double>(), n, static_cast<int>(p.size(1) / 2),
                           c10::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out.to(pointsets.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) { m.impl("min_area_polygons", &min_area_polygons_cuda); }

}  // namespace rbox_ops

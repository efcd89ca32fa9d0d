// min_area_polygons: CPU kernel (the schema is in csrc/schemas.cpp); float64 arithmetic.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "common/convex_geometry.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

at::Tensor min_area_polygons_cpu(const at::Tensor& pointsets) {
  RBOX_CHECK_CPU(pointsets);
  RBOX_CHECK_FLOAT(pointsets);
  TORCH_CHECK(pointsets.dim() == 2 && pointsets.size(1) % 2 == 0 && pointsets.size(1) >= 2 &&
                  pointsets.size(1) <= 2 * convex::kMaxPoints,
              "pointsets must have shape (N, 2k) with 1 <= k <= ", convex::kMaxPoints, ", got ", pointsets.sizes());
  const auto p = pointsets.contiguous().to(at::kDouble);
  const int64_t n = p.size(0);
  const int k = static_cast<int>(p.size(1) / 2);
  auto out = at::empty({n, 8}, p.options());
  const double* pp = p.data_ptr<double>();
  double* o = out.data_ptr<double>();
  at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) convex::min_area_rect(pp + 2 * k * i, k, o + 8 * i);
  });
  return out.to(pointsets.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) { m.impl("min_area_polygons", &min_area_polygons_cpu); }

}  // namespace rbox_ops

// convex_iou / convex_giou: CPU kernels (the schemas are in csrc/schemas.cpp); float64 arithmetic.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "common/convex_geometry.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

void check_inputs(const at::Tensor& pointsets, const at::Tensor& polygons) {
  RBOX_CHECK_CPU(pointsets);
  RBOX_CHECK_CPU(polygons);
  RBOX_CHECK_FLOAT(pointsets);
  RBOX_CHECK_FLOAT(polygons);
  TORCH_CHECK(pointsets.dim() == 2 && pointsets.size(1) == 18, "pointsets must have shape (N, 18), got ",
              pointsets.sizes());
  TORCH_CHECK(polygons.dim() == 2 && polygons.size(1) == 8, "polygons must have shape (K, 8), got ",
              polygons.sizes());
}

// The hull rings (n entries each) and areas of rows of n points; NaN area for a non-finite row.
void hull_rows(const double* xy, int64_t rows, int n, std::vector<convex::Pt<double>>& ring,
               std::vector<double>& area) {
  ring.resize(static_cast<size_t>(rows * n));
  area.resize(static_cast<size_t>(rows));
  at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const double* row = xy + 2 * n * i;
      area[i] = convex::all_finite(row, 2 * n) ? convex::hull_points(row, n, ring.data() + n * i) : NAN;
    }
  });
}

at::Tensor convex_iou_cpu(const at::Tensor& pointsets, const at::Tensor& polygons) {
  check_inputs(pointsets, polygons);
  const auto p = pointsets.contiguous().to(at::kDouble);
  const auto q = polygons.contiguous().to(at::kDouble);
  const int64_t n = p.size(0), k = q.size(0);
  auto out = at::empty({n, k}, p.options());
  if (out.numel() == 0) return out.to(pointsets.scalar_type());
  std::vector<convex::Pt<double>> ring_a, ring_b;
  std::vector<double> area_a, area_b;
  hull_rows(p.data_ptr<double>(), n, 9, ring_a, area_a);
  hull_rows(q.data_ptr<double>(), k, 4, ring_b, area_b);
  double* o = out.data_ptr<double>();
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      for (int64_t j = 0; j < k; j++) {
        o[i * k + j] = convex::convex_iou_pair(ring_a.data() + 9 * i, area_a[i], ring_b.data() + 4 * j, area_b[j]);
      }
    }
  });
  return out.to(pointsets.scalar_type());
}

at::Tensor convex_giou_cpu(const at::Tensor& pointsets, const at::Tensor& polygons) {
  check_inputs(pointsets, polygons);
  TORCH_CHECK(polygons.size(0) == pointsets.size(0), "polygons must have as many rows as pointsets (",
              pointsets.size(0), "), got ", polygons.size(0));
  const auto p = pointsets.contiguous().to(at::kDouble);
  const auto q = polygons.contiguous().to(at::kDouble);
  const int64_t n = p.size(0);
  auto out = at::empty({n, 19}, p.options());
  if (n == 0) return out.to(pointsets.scalar_type());
  const double* pp = p.data_ptr<double>();
  const double* pq = q.data_ptr<double>();
  double* o = out.data_ptr<double>();
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) convex::convex_giou_pair(pp + 18 * i, pq + 8 * i, o + 19 * i);
  });
  return out.to(pointsets.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("convex_iou", &convex_iou_cpu);
  m.impl("convex_giou", &convex_giou_cpu);
}

}  // namespace rbox_ops

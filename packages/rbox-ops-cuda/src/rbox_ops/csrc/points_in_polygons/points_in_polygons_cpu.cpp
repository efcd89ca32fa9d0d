// points_in_polygons: CPU kernel (the schema is in csrc/schemas.cpp); float32 arithmetic, as mmcv.
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "common/point_in_polygon.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

at::Tensor points_in_polygons_cpu(const at::Tensor& points, const at::Tensor& polygons) {
  RBOX_CHECK_CPU(points);
  RBOX_CHECK_CPU(polygons);
  RBOX_CHECK_FLOAT(points);
  RBOX_CHECK_FLOAT(polygons);
  TORCH_CHECK(points.dim() == 2 && points.size(1) == 2, "points must have shape (N, 2), got ", points.sizes());
  TORCH_CHECK(polygons.dim() == 2 && polygons.size(1) == 8, "polygons must have shape (M, 8), got ",
              polygons.sizes());
  const auto p = points.contiguous().to(at::kFloat);
  const auto q = polygons.contiguous().to(at::kFloat);
  const int64_t n = p.size(0), m = q.size(0);
  auto out = at::empty({n, m}, p.options());
  if (out.numel() == 0) return out;
  const float* pp = p.data_ptr<float>();
  const float* pq = q.data_ptr<float>();
  float* o = out.data_ptr<float>();
  // each polygon's y range (fminf/fmaxf, as the edge test): a point outside it skips every edge, so
  // it is outside, and most pairs are decided without the edge loop
  std::vector<float> y_range(static_cast<size_t>(2 * m));
  for (int64_t j = 0; j < m; j++) quad_y_range(pq + 8 * j, y_range[2 * j], y_range[2 * j + 1]);
  at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const float px = pp[2 * i], py = pp[2 * i + 1];
      float* row = o + i * m;
      for (int64_t j = 0; j < m; j++) {
        const bool outside = py < y_range[2 * j] || py > y_range[2 * j + 1];
        row[j] = !outside && point_in_quad(px, py, pq + 8 * j) ? 1.f : 0.f;
      }
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) { m.impl("points_in_polygons", &points_in_polygons_cpu); }

}  // namespace rbox_ops

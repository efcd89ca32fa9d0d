// points_in_polygons: CUDA kernel and launcher (plain CUDA, no torch headers).
#include "common/point_in_polygon.h"
#include "points_in_polygons/points_in_polygons.h"

namespace rbox_ops {
namespace {

__global__ void points_in_polygons_kernel(const float* points, const float* polygons, float* out, int64_t n,
                                          int64_t m) {
  const int64_t total = n * m;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t i = k / m, j = k % m;
    out[k] = point_in_quad(points[2 * i], points[2 * i + 1], polygons + 8 * j) ? 1.f : 0.f;
  }
}

}  // namespace

void launch_points_in_polygons(const float* points, const float* polygons, float* out, int64_t n, int64_t m,
                               cudaStream_t stream) {
  const int64_t total = n * m;
  if (total == 0) return;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads;
  const int grid = static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
  points_in_polygons_kernel<<<grid, threads, 0, stream>>>(points, polygons, out, n, m);
}

}  // namespace rbox_ops

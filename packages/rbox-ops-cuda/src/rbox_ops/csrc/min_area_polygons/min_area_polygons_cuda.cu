// min_area_polygons: CUDA kernel and launcher (plain CUDA, no torch headers).
#include "common/convex_geometry.h"
#include "min_area_polygons/min_area_polygons.h"

namespace rbox_ops {
namespace {

__global__ void min_area_polygons_kernel(const double* pointsets, double* out, int64_t n, int k) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    convex::min_area_rect(pointsets + 2 * k * i, k, out + 8 * i);
  }
}

}  // namespace

void launch_min_area_polygons(const double* pointsets, double* out, int64_t n, int k, cudaStream_t stream) {
  if (n == 0) return;
  const int threads = 128;
  const int64_t blocks = (n + threads - 1) / threads;
  const int grid = static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
  min_area_polygons_kernel<<<grid, threads, 0, stream>>>(pointsets, out, n, k);
}

}  // namespace rbox_ops

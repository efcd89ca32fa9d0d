// convex_iou / convex_giou: CUDA kernels and launchers (plain CUDA, no torch headers).
#include "common/convex_geometry.h"
#include "convex_iou/convex_iou.h"

namespace rbox_ops {
namespace {

using convex::Pt;

int grid_for(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

// Each row's hull ring (n entries) and area; NaN area for a non-finite row.
__global__ void hull_rows_kernel(const double* xy, int64_t rows, int n, double* ring, double* area) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rows;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const double* row = xy + 2 * n * i;
    Pt<double> pts[convex::kMaxPoints];
    if (convex::all_finite(row, 2 * n)) {
      area[i] = convex::hull_points(row, n, pts);
    } else {
      area[i] = NAN;
      for (int s = 0; s < n; s++) pts[s] = Pt<double>{0.0, 0.0};
    }
    for (int s = 0; s < n; s++) ring[2 * n * i + 2 * s] = pts[s].x, ring[2 * n * i + 2 * s + 1] = pts[s].y;
  }
}

__global__ void convex_iou_kernel(const double* ring_a, const double* area_a, const double* ring_b,
                                  const double* area_b, double* out, int64_t n, int64_t k) {
  const int64_t total = n * k;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t i = t / k, j = t % k;
    Pt<double> a[9], b[4];
    for (int s = 0; s < 9; s++) a[s] = Pt<double>{ring_a[18 * i + 2 * s], ring_a[18 * i + 2 * s + 1]};
    for (int s = 0; s < 4; s++) b[s] = Pt<double>{ring_b[8 * j + 2 * s], ring_b[8 * j + 2 * s + 1]};
    out[t] = convex::convex_iou_pair(a, area_a[i], b, area_b[j]);
  }
}

__global__ void convex_giou_kernel(const double* pointsets, const double* polygons, double* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    convex::convex_giou_pair(pointsets + 18 * i, polygons + 8 * i, out + 19 * i);
  }
}

}  // namespace

void launch_convex_iou(const double* pointsets, const double* polygons, double* ring_a, double* area_a,
                       double* ring_b, double* area_b, double* out, int64_t n, int64_t k, cudaStream_t stream) {
  if (n == 0 || k == 0) return;
  const int threads = 256;
  hull_rows_kernel<<<grid_for(n, threads), threads, 0, stream>>>(pointsets, n, 9, ring_a, area_a);
  hull_rows_kernel<<<grid_for(k, threads), threads, 0, stream>>>(polygons, k, 4, ring_b, area_b);
  convex_iou_kernel<<<grid_for(n * k, threads), threads, 0, stream>>>(ring_a, area_a, ring_b, area_b, out, n, k);
}

void launch_convex_giou(const double* pointsets, const double* polygons, double* out, int64_t n,
                        cudaStream_t stream) {
  if (n == 0) return;
  const int threads = 64;  // Dual<18> arithmetic: large frames, few threads per block
  convex_giou_kernel<<<grid_for(n, threads), threads, 0, stream>>>(pointsets, polygons, out, n);
}

}  // namespace rbox_ops

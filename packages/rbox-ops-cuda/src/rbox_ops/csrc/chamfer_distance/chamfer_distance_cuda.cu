// chamfer_distance: CUDA kernels and launchers (plain CUDA, no torch headers).
#include <math_constants.h>

#include "chamfer_distance/chamfer_distance.h"
#include "common/nearest_point.h"

namespace rbox_ops {
namespace {

int grid_for(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

template <typename scalar_t>
__global__ void nearest_kernel(const scalar_t* a, const scalar_t* c, scalar_t* dist, int32_t* idx, int64_t b,
                               int64_t n, int64_t m) {
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < b * n;
       t += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    scalar_t best;
    const int64_t arg = nearest_point(a[2 * t], a[2 * t + 1], c + 2 * m * (t / n), m, best);
    idx[t] = static_cast<int32_t>(arg);
    const bool finite = is_finite(a[2 * t]) && is_finite(a[2 * t + 1]);
    dist[t] = arg >= 0 ? best : static_cast<scalar_t>(finite ? CUDART_INF : CUDART_NAN);
  }
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* a, const scalar_t* c, const int32_t* idx, const scalar_t* g,
                                scalar_t* grad_a, scalar_t* grad_c, int64_t b, int64_t n, int64_t m) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < b * n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int32_t j = idx[i];
    if (j < 0) continue;
    const int64_t q = (i / n) * m + j;
    const scalar_t gx = 2 * g[i] * (a[2 * i] - c[2 * q]), gy = 2 * g[i] * (a[2 * i + 1] - c[2 * q + 1]);
    atomicAdd(grad_a + 2 * i, gx);
    atomicAdd(grad_a + 2 * i + 1, gy);
    atomicAdd(grad_c + 2 * q, -gx);
    atomicAdd(grad_c + 2 * q + 1, -gy);
  }
}

}  // namespace

template <typename scalar_t>
void launch_chamfer_nearest(const scalar_t* a, const scalar_t* c, scalar_t* dist, int32_t* idx, int64_t b,
                            int64_t n, int64_t m, cudaStream_t stream) {
  if (b * n == 0) return;
  nearest_kernel<<<grid_for(b * n, 256), 256, 0, stream>>>(a, c, dist, idx, b, n, m);
}

template <typename scalar_t>
void launch_chamfer_backward(const scalar_t* a, const scalar_t* c, const int32_t* idx, const scalar_t* grad,
                             scalar_t* grad_a, scalar_t* grad_c, int64_t b, int64_t n, int64_t m,
                             cudaStream_t stream) {
  if (b * n == 0) return;
  backward_kernel<<<grid_for(b * n, 256), 256, 0, stream>>>(a, c, idx, grad, grad_a, grad_c, b, n, m);
}

template void launch_chamfer_nearest<float>(const float*, const float*, float*, int32_t*, int64_t, int64_t, int64_t,
                                            cudaStream_t);
template void launch_chamfer_nearest<double>(const double*, const double*, double*, int32_t*, int64_t, int64_t,
                                             int64_t, cudaStream_t);
template void launch_chamfer_backward<float>(const float*, const float*, const int32_t*, const float*, float*, float*,
                                             int64_t, int64_t, int64_t, cudaStream_t);
template void launch_chamfer_backward<double>(const double*, const double*, const int32_t*, const double*, double*,
                                              double*, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace rbox_ops

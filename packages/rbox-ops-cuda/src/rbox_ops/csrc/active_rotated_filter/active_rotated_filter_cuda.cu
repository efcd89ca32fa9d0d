// active_rotated_filter: CUDA kernels and launchers (plain CUDA, no torch headers). One thread per weight
// element: the forward scatters it to its R places (indices are a permutation per rotation, so no two
// threads write the same place), the backward gathers its R gradients (no atomics).
#include "active_rotated_filter/active_rotated_filter.h"
#include "active_rotated_filter/active_rotated_filter_cuda.h"

namespace rbox_ops {
namespace {

template <typename T>
__global__ void arf_forward_kernel(const T* weight, const int32_t* indices, T* output, int64_t n_weight,
                                   int64_t planes_in, int64_t entries, int64_t rotations) {
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; n < n_weight;
       n += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    arf_forward_one(weight, indices, output, n, planes_in, entries, rotations);
  }
}

template <typename T>
__global__ void arf_backward_kernel(const T* grad_output, const int32_t* indices, T* grad_weight,
                                    int64_t n_weight, int64_t planes_in, int64_t entries, int64_t rotations) {
  for (int64_t n = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; n < n_weight;
       n += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    grad_weight[n] = arf_backward_one(grad_output, indices, n, planes_in, entries, rotations);
  }
}

int grid_for(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

}  // namespace

template <typename T>
void launch_active_rotated_filter_forward(const T* weight, const int32_t* indices, T* output, int64_t n_weight,
                                          int64_t planes_in, int64_t entries, int64_t rotations,
                                          cudaStream_t stream) {
  if (n_weight == 0) return;
  const int threads = 256;
  arf_forward_kernel<T><<<grid_for(n_weight, threads), threads, 0, stream>>>(weight, indices, output, n_weight,
                                                                             planes_in, entries, rotations);
}

template <typename T>
void launch_active_rotated_filter_backward(const T* grad_output, const int32_t* indices, T* grad_weight,
                                           int64_t n_weight, int64_t planes_in, int64_t entries, int64_t rotations,
                                           cudaStream_t stream) {
  if (n_weight == 0) return;
  const int threads = 256;
  arf_backward_kernel<T><<<grid_for(n_weight, threads), threads, 0, stream>>>(grad_output, indices, grad_weight,
                                                                              n_weight, planes_in, entries,
                                                                              rotations);
}

template void launch_active_rotated_filter_forward<float>(const float*, const int32_t*, float*, int64_t, int64_t,
                                                          int64_t, int64_t, cudaStream_t);
template void launch_active_rotated_filter_forward<double>(const double*, const int32_t*, double*, int64_t,
                                                           int64_t, int64_t, int64_t, cudaStream_t);
template void launch_active_rotated_filter_backward<float>(const float*, const int32_t*, float*, int64_t, int64_t,
                                                           int64_t, int64_t, cudaStream_t);
template void launch_active_rotated_filter_backward<double>(const double*, const int32_t*, double*, int64_t,
                                                            int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace rbox_ops

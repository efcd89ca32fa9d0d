// box_iou_rotated: CUDA kernel and launcher (plain CUDA, no torch headers).
#include "box_iou_rotated/box_iou_rotated.h"
#include "common/rotated_geometry.h"

namespace rbox_ops {
namespace {

template <typename T>
__global__ void box_iou_rotated_kernel(const T* b1, const T* b2, T* out, int64_t n, int64_t m, int mode,
                                       bool aligned) {
  const int64_t total = aligned ? n : n * m;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t i = aligned ? k : k / m;
    const int64_t j = aligned ? k : k % m;
    out[k] = rotated_box_overlap(b1 + i * 5, b2 + j * 5, mode);
  }
}

}  // namespace

template <typename T>
void launch_box_iou_rotated(const T* b1, const T* b2, T* out, int64_t n, int64_t m, int mode, bool aligned,
                            cudaStream_t stream) {
  const int64_t total = aligned ? n : n * m;
  if (total == 0) return;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads;
  const int grid = static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
  box_iou_rotated_kernel<T><<<grid, threads, 0, stream>>>(b1, b2, out, n, m, mode, aligned);
}

template void launch_box_iou_rotated<float>(const float*, const float*, float*, int64_t, int64_t, int, bool,
                                            cudaStream_t);
template void launch_box_iou_rotated<double>(const double*, const double*, double*, int64_t, int64_t, int, bool,
                                             cudaStream_t);

}  // namespace rbox_ops

// box_iou_rotated: CUDA kernels and launcher (plain CUDA, no torch headers).
#include <cstdint>

#include "box_iou_rotated/box_iou_rotated.h"
#include "common/rotated_geometry.h"

namespace rbox_ops {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kTileCols = 256;  // threads per block: thread t owns column t of the tile
constexpr int kTileRows = 16;

// Pairwise overlaps, a kTileRows x kTileCols tile per iteration, in two phases so that the
// output is written at the memory's pace and the costly exact overlap runs on all lanes:
// 1. every pair is written (coalesced), 0 where the bounding circles do not meet (the exact
//    overlap is 0 there too, common/rotated_geometry.h) and, meanwhile, for the pairs whose
//    circles meet, which are listed in shared memory (one atomicAdd per warp);
// 2. the block shares the listed pairs out, one per thread, and writes their exact overlap
//    over the placeholder (ordered after it by the barrier).
template <typename T>
__global__ void __launch_bounds__(kTileCols, 4)
    box_iou_rotated_pairwise_kernel(const T* __restrict__ b1, const T* __restrict__ b2, T* __restrict__ out,
                                    int64_t n, int64_t m, int mode) {
  __shared__ T row_boxes[kTileRows * 5];
  __shared__ BoxCircle<T> row_circles[kTileRows];
  __shared__ T col_boxes[kTileCols * 5];
  __shared__ uint16_t pairs[kTileRows * kTileCols];
  __shared__ int count;
  const int tid = threadIdx.x, lane = tid & 31;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kTileCols;
  const int64_t j = j0 + tid;
  const bool col_ok = j < m;
  BoxCircle<T> cc;
  cc.x = cc.y = 0;
  cc.r = -1;
  if (col_ok) {
    for (int d = 0; d < 5; d++) col_boxes[tid * 5 + d] = b2[j * 5 + d];
    cc = box_circle(col_boxes + tid * 5);
  }
  // the row tiles of this block: bounds depend on the block only, so all reach every barrier
  for (int64_t i0 = static_cast<int64_t>(blockIdx.y) * kTileRows; i0 < n;
       i0 += static_cast<int64_t>(gridDim.y) * kTileRows) {
    const int rows = static_cast<int>(min(n - i0, static_cast<int64_t>(kTileRows)));
    if (tid < rows * 5) row_boxes[tid] = b1[i0 * 5 + tid];
    if (tid == 0) count = 0;
    __syncthreads();
    if (tid < rows) row_circles[tid] = box_circle(row_boxes + tid * 5);
    __syncthreads();
    for (int r = 0; r < rows; r++) {
      const bool cand = col_ok && circles_meet(row_circles[r], cc);
      const unsigned ballot = __ballot_sync(kFullWarp, cand);
      int base = 0;
      if (lane == 0 && ballot != 0) base = atomicAdd(&count, __popc(ballot));
      base = __shfl_sync(kFullWarp, base, 0);
      if (cand) pairs[base + __popc(ballot & ((1u << lane) - 1u))] = static_cast<uint16_t>(r * kTileCols + tid);
      if (col_ok) out[(i0 + r) * m + j] = 0;
    }
    __syncthreads();
    const int total = count;
    for (int k = tid; k < total; k += kTileCols) {
      const int r = pairs[k] / kTileCols, c = pairs[k] % kTileCols;
      out[(i0 + r) * m + j0 + c] = rotated_box_overlap(row_boxes + r * 5, col_boxes + c * 5, mode);
    }
    __syncthreads();  // the next row tile overwrites the shared arrays
  }
}

template <typename T>
__global__ void box_iou_rotated_aligned_kernel(const T* b1, const T* b2, T* out, int64_t n, int mode) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[k] = rotated_box_overlap(b1 + k * 5, b2 + k * 5, mode);
  }
}

}  // namespace

template <typename T>
void launch_box_iou_rotated(const T* b1, const T* b2, T* out, int64_t n, int64_t m, int mode, bool aligned,
                            cudaStream_t stream) {
  if (aligned) {
    if (n == 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    const int grid = static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
    box_iou_rotated_aligned_kernel<T><<<grid, threads, 0, stream>>>(b1, b2, out, n, mode);
    return;
  }
  if (n == 0 || m == 0) return;
  const int64_t col_tiles = (m + kTileCols - 1) / kTileCols;
  const int64_t row_tiles = (n + kTileRows - 1) / kTileRows;
  // about 16k blocks in all, each looping over a few row tiles (its column boxes stay loaded)
  int64_t grid_y = (int64_t{1} << 14) / col_tiles;
  grid_y = grid_y < 1 ? 1 : grid_y;
  grid_y = grid_y < row_tiles ? grid_y : row_tiles;
  grid_y = grid_y < 65535 ? grid_y : 65535;
  const dim3 grid(static_cast<unsigned int>(col_tiles), static_cast<unsigned int>(grid_y));
  box_iou_rotated_pairwise_kernel<T><<<grid, kTileCols, 0, stream>>>(b1, b2, out, n, m, mode);
}

template void launch_box_iou_rotated<float>(const float*, const float*, float*, int64_t, int64_t, int, bool,
                                            cudaStream_t);
template void launch_box_iou_rotated<double>(const double*, const double*, double*, int64_t, int64_t, int, bool,
                                             cudaStream_t);

}  // namespace rbox_ops

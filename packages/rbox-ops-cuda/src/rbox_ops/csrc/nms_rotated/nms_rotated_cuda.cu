// nms_rotated: CUDA suppression-mask kernel and launcher (plain CUDA, no torch headers).
#include "common/nms_mask.cuh"
#include "common/rotated_geometry.h"
#include "nms_rotated/nms_rotated.h"

namespace rbox_ops {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;

// One 64 x 64 tile (rows of row block rb, columns of column block cb >= rb) per iteration;
// 64 threads, thread t owns row t. Two phases, so that the costly exact IoU runs on all lanes:
// 1. each thread tests its row against the 64 columns with the cheap bounding-circle test
//    (and the labels), giving a 64-bit word of candidates;
// 2. the candidate pairs of the tile are listed in shared memory and the block shares them
//    out, one pair per thread, for the exact IoU; hits set bits with a shared atomicOr.
// Without the prefilter (iou_threshold <= 0) every pair of equal labels is a candidate.
template <typename T>
__global__ void __launch_bounds__(kNmsBlock)
    nms_rotated_mask_kernel(int64_t n, const T* __restrict__ boxes, const int64_t* __restrict__ labels, T thr,
                            bool prefilter, uint64_t* __restrict__ mask) {
  __shared__ T row_boxes[kNmsBlock * 5];
  __shared__ T col_boxes[kNmsBlock * 5];
  __shared__ BoxCircle<T> col_circles[kNmsBlock];
  __shared__ int64_t col_labels[kNmsBlock];
  __shared__ unsigned long long hits[kNmsBlock];
  __shared__ uint16_t pairs[kNmsBlock * kNmsBlock];
  __shared__ int warp_sums[kNmsBlock / 32];
  const int tid = threadIdx.x;
  const int lane = tid & 31, warp = tid >> 5;
  const int64_t col_blocks = (n + kNmsBlock - 1) / kNmsBlock;
  const int64_t cb = blockIdx.x;
  // rb <= cb: the loop bounds depend on the block only, so every barrier below is reached by all
  for (int64_t rb = blockIdx.y; rb <= cb; rb += gridDim.y) {
    const int row_size = static_cast<int>(min(n - rb * kNmsBlock, static_cast<int64_t>(kNmsBlock)));
    const int col_size = static_cast<int>(min(n - cb * kNmsBlock, static_cast<int64_t>(kNmsBlock)));
    if (tid < col_size) {
      const int64_t j = cb * kNmsBlock + tid;
      for (int d = 0; d < 5; d++) col_boxes[tid * 5 + d] = boxes[j * 5 + d];
      col_circles[tid] = box_circle(col_boxes + tid * 5);
      col_labels[tid] = labels != nullptr ? labels[j] : 0;
    }
    int64_t row_label = 0;
    if (tid < row_size) {
      const int64_t i = rb * kNmsBlock + tid;
      for (int d = 0; d < 5; d++) row_boxes[tid * 5 + d] = boxes[i * 5 + d];
      row_label = labels != nullptr ? labels[i] : 0;
    }
    hits[tid] = 0;
    __syncthreads();
    // phase 1: candidates of this thread's row (later columns only)
    uint64_t cand = 0;
    if (tid < row_size) {
      const BoxCircle<T> rc = box_circle(row_boxes + tid * 5);
      const int start = rb == cb ? tid + 1 : 0;
      for (int c = start; c < col_size; c++) {
        if (col_labels[c] == row_label && (!prefilter || circles_meet(rc, col_circles[c]))) cand |= 1ULL << c;
      }
    }
    // exclusive scan of the candidate counts over the block (two warps)
    const int count = __popcll(cand);
    int incl = count;
    for (int d = 1; d < 32; d <<= 1) {
      const int v = __shfl_up_sync(kFullWarp, incl, d);
      if (lane >= d) incl += v;
    }
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    int offset = incl - count;
    for (int w = 0; w < warp; w++) offset += warp_sums[w];
    int total = 0;
    for (int w = 0; w < kNmsBlock / 32; w++) total += warp_sums[w];
    for (uint64_t bits = cand; bits != 0; bits &= bits - 1) {
      pairs[offset++] = static_cast<uint16_t>(tid * kNmsBlock + (__ffsll(static_cast<long long>(bits)) - 1));
    }
    __syncthreads();
    // phase 2: the exact IoU of the listed pairs, shared out over the block
    for (int k = tid; k < total; k += kNmsBlock) {
      const int r = pairs[k] / kNmsBlock, c = pairs[k] % kNmsBlock;
      if (rotated_box_overlap(row_boxes + r * 5, col_boxes + c * 5, 0) >= thr) atomicOr(&hits[r], 1ULL << c);
    }
    __syncthreads();
    if (tid < row_size) mask[(rb * kNmsBlock + tid) * col_blocks + cb] = hits[tid];
    __syncthreads();  // the next tile overwrites the shared arrays
  }
}

}  // namespace

template <typename T>
void launch_nms_rotated(int64_t n, const T* sorted_boxes, const int64_t* sorted_labels, T iou_threshold,
                        uint64_t* mask, bool* keep, uint64_t* removed_scratch, cudaStream_t stream) {
  if (n == 0) return;
  const int64_t col_blocks = (n + kNmsBlock - 1) / kNmsBlock;
  // x: the column block (up to 2^31 - 1); y: row blocks, strided past 65535
  const dim3 grid(static_cast<unsigned int>(col_blocks),
                  static_cast<unsigned int>(col_blocks < 65535 ? col_blocks : 65535));
  nms_rotated_mask_kernel<T><<<grid, kNmsBlock, 0, stream>>>(n, sorted_boxes, sorted_labels, iou_threshold,
                                                             iou_threshold > 0, mask);
  launch_nms_gather_keep(n, mask, keep, removed_scratch, stream);
}

template void launch_nms_rotated<float>(int64_t, const float*, const int64_t*, float, uint64_t*, bool*, uint64_t*,
                                        cudaStream_t);
template void launch_nms_rotated<double>(int64_t, const double*, const int64_t*, double, uint64_t*, bool*,
                                         uint64_t*, cudaStream_t);

}  // namespace rbox_ops

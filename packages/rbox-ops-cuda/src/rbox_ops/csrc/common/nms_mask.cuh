// CUDA suppression bit masks for NMS over score-sorted boxes (device only; .cu files).
// Row i, word b holds bit k set when box i suppresses box b * 64 + k (> i).
#pragma once

#include <cstdint>

namespace rbox_ops {

constexpr int kNmsBlock = 64;

// `Overlap` is a device functor: bool operator()(const T* a, const T* b) says whether a removes b.
template <typename T, int D, typename Overlap>
__global__ void nms_mask_kernel(int64_t n, const T* boxes, const int64_t* labels, uint64_t* mask, Overlap overlap) {
  const int64_t row_start = blockIdx.y, col_start = blockIdx.x;
  if (row_start > col_start) return;
  const int row_size = static_cast<int>(min(n - row_start * kNmsBlock, static_cast<int64_t>(kNmsBlock)));
  const int col_size = static_cast<int>(min(n - col_start * kNmsBlock, static_cast<int64_t>(kNmsBlock)));
  __shared__ T block_boxes[kNmsBlock * D];
  __shared__ int64_t block_labels[kNmsBlock];
  if (threadIdx.x < col_size) {
    for (int d = 0; d < D; d++)
      block_boxes[threadIdx.x * D + d] = boxes[(kNmsBlock * col_start + threadIdx.x) * D + d];
    block_labels[threadIdx.x] = labels ? labels[kNmsBlock * col_start + threadIdx.x] : 0;
  }
  __syncthreads();
  if (threadIdx.x < row_size) {
    const int64_t cur = kNmsBlock * row_start + threadIdx.x;
    const T* cur_box = boxes + cur * D;
    const int64_t cur_label = labels ? labels[cur] : 0;
    uint64_t t = 0;
    const int start = row_start == col_start ? threadIdx.x + 1 : 0;
    for (int i = start; i < col_size; i++) {
      if (block_labels[i] == cur_label && overlap(cur_box, block_boxes + i * D)) t |= 1ULL << i;
    }
    const int64_t col_blocks = (n + kNmsBlock - 1) / kNmsBlock;
    mask[cur * col_blocks + col_start] = t;
  }
}

template <typename T, int D, typename Overlap>
void launch_nms_mask(int64_t n, const T* boxes, const int64_t* labels, uint64_t* mask, Overlap overlap,
                     cudaStream_t stream) {
  if (n == 0) return;
  const unsigned int col_blocks = static_cast<unsigned int>((n + kNmsBlock - 1) / kNmsBlock);
  const dim3 blocks(col_blocks, col_blocks);
  nms_mask_kernel<T, D, Overlap><<<blocks, kNmsBlock, 0, stream>>>(n, boxes, labels, mask, overlap);
}

}  // namespace rbox_ops

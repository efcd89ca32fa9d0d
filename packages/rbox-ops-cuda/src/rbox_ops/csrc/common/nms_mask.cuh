// CUDA suppression bit masks for NMS over score-sorted boxes, and the greedy walk over them on
// the device (device only; .cu files). Row i, word b holds bit k set when box i suppresses box
// b * 64 + k (> i); only the words b >= i / 64 are written and read.
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

// The greedy walk over the bit masks, on the device (one block; after torchvision's
// gather_keep_from_mask): chunk c (rows 64c ..) is resolved by one thread from the chunk's
// diagonal words, then the whole block ORs the masks of its kept rows into `removed`.
// keep[i] = whether sorted box i is kept. `removed` lives in shared memory, or in
// removed_global (col_blocks words) when that is not null.
constexpr int kNmsKeepThreads = 512;
constexpr int64_t kNmsKeepSharedBytes = 40 * 1024;

template <int kThreads>
__global__ void __launch_bounds__(kThreads)
    nms_gather_keep_kernel(int64_t n, const uint64_t* __restrict__ mask, bool* __restrict__ keep,
                           uint64_t* removed_global) {
  extern __shared__ uint64_t removed_shared[];
  __shared__ uint64_t diag[kNmsBlock];
  __shared__ int kept_rows[kNmsBlock];
  __shared__ int kept_count;
  __shared__ uint64_t kept_word;
  uint64_t* removed = removed_global != nullptr ? removed_global : removed_shared;
  const int tid = threadIdx.x;
  const int64_t col_blocks = (n + kNmsBlock - 1) / kNmsBlock;
  for (int64_t b = tid; b < col_blocks; b += kThreads) removed[b] = 0;
  // the diagonal words of the next chunk are loaded one chunk ahead (registers of threads < 64)
  uint64_t next_diag = tid < min(n, static_cast<int64_t>(kNmsBlock)) ? mask[tid * col_blocks] : 0;
  __syncthreads();
  for (int64_t c = 0; c < col_blocks; c++) {
    const int rows = static_cast<int>(min(n - c * kNmsBlock, static_cast<int64_t>(kNmsBlock)));
    const uint64_t* chunk = mask + c * kNmsBlock * col_blocks;  // row c * 64 + r at chunk + r * col_blocks
    if (tid < kNmsBlock) diag[tid] = next_diag;
    if (c + 1 < col_blocks && tid < min(n - (c + 1) * kNmsBlock, static_cast<int64_t>(kNmsBlock))) {
      next_diag = chunk[(kNmsBlock + tid) * col_blocks + c + 1];
    }
    __syncthreads();
    if (tid == 0) {
      // removed[c] is final: earlier chunks wrote it before the last barrier. Visit the rows
      // still alive, smallest first: each is kept and removes the later rows of its word.
      uint64_t alive = ~removed[c] & (rows == kNmsBlock ? ~0ULL : (1ULL << rows) - 1);
      uint64_t kw = 0;
      int count = 0;
      while (alive != 0) {
        const int r = __ffsll(static_cast<long long>(alive)) - 1;
        kept_rows[count++] = r;
        kw |= 1ULL << r;
        alive &= ~diag[r];
        alive &= alive - 1;  // r itself (the lowest bit: diag[r] only holds later rows)
      }
      kept_count = count;
      kept_word = kw;
    }
    __syncthreads();
    const int count = kept_count;
    if (tid < rows) keep[c * kNmsBlock + tid] = (kept_word >> tid) & 1;
    // each later word b is owned by one thread: OR the kept rows' words, 8 loads in flight
    for (int64_t b = c + 1 + tid; count > 0 && b < col_blocks; b += kThreads) {
      uint64_t acc = 0;
      for (int k = 0; k < count; k += 8) {
        uint64_t v[8];
#pragma unroll
        for (int u = 0; u < 8; u++) v[u] = k + u < count ? chunk[kept_rows[k + u] * col_blocks + b] : 0;
#pragma unroll
        for (int u = 0; u < 8; u++) acc |= v[u];
      }
      removed[b] |= acc;
    }
    __syncthreads();
  }
}

// keep (n bools) from the masks of launch_nms_mask (or any kernel with the same layout);
// removed_scratch: col_blocks words of device memory, used when shared memory is too small.
inline void launch_nms_gather_keep(int64_t n, const uint64_t* mask, bool* keep, uint64_t* removed_scratch,
                                   cudaStream_t stream) {
  if (n == 0) return;
  const int64_t col_blocks = (n + kNmsBlock - 1) / kNmsBlock;
  const int64_t bytes = col_blocks * static_cast<int64_t>(sizeof(uint64_t));
  const bool in_shared = bytes <= kNmsKeepSharedBytes;
  nms_gather_keep_kernel<kNmsKeepThreads><<<1, kNmsKeepThreads, in_shared ? bytes : 0, stream>>>(
      n, mask, keep, in_shared ? nullptr : removed_scratch);
}

}  // namespace rbox_ops

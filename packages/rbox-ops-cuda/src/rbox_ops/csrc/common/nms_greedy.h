// Greedy non-maximum suppression over boxes already sorted by score (host only: used by
// the CPU kernels and by the CUDA glue, which resolves the device's bit masks on the host).
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

namespace rbox_ops {

// `suppresses(i, j)` says whether kept box i (sorted position) removes box j > i.
// Returns the kept sorted positions. Long inner sweeps run in parallel (each j is written
// by one thread only).
template <typename Suppress>
std::vector<int64_t> greedy_nms(int64_t n, Suppress suppresses) {
  std::vector<uint8_t> removed(n, 0);
  std::vector<int64_t> keep;
  uint8_t* rm = removed.data();
  for (int64_t i = 0; i < n; i++) {
    if (rm[i]) continue;
    keep.push_back(i);
    auto sweep = [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; j++) {
        if (!rm[j] && suppresses(i, j)) rm[j] = 1;
      }
    };
    if (n - i > 32768) {
      at::parallel_for(i + 1, n, 8192, sweep);
    } else {
      sweep(i + 1, n);
    }
  }
  return keep;
}

// Resolve the CUDA kernels' suppression bit masks (n x col_blocks 64-bit words, row i holds
// the boxes j > i that box i suppresses) into kept sorted positions.
inline std::vector<int64_t> resolve_nms_mask(const uint64_t* mask, int64_t n) {
  const int64_t col_blocks = (n + 63) / 64;
  std::vector<uint64_t> removed(col_blocks, 0);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; i++) {
    const int64_t block = i / 64, bit = i % 64;
    if (removed[block] & (1ULL << bit)) continue;
    keep.push_back(i);
    const uint64_t* row = mask + i * col_blocks;
    for (int64_t b = block; b < col_blocks; b++) removed[b] |= row[b];
  }
  return keep;
}

}  // namespace rbox_ops

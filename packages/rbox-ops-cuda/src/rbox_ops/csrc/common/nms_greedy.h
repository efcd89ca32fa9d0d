// Greedy non-maximum suppression over boxes already sorted by score (host only: the CPU
// kernels; the CUDA kernels walk their bit masks on the device, common/nms_mask.cuh).
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

namespace rbox_ops {

// The greedy walk: `sweep(i, begin, end, removed)` marks (removed[j] = 1) the boxes j in
// [begin, end) that kept box i (sorted position) removes. Returns the kept sorted positions.
// Long sweeps run in parallel chunks (each j is written by one thread only).
template <typename Sweep>
std::vector<int64_t> greedy_nms_sweeps(int64_t n, Sweep sweep) {
  std::vector<uint8_t> removed(n, 0);
  std::vector<int64_t> keep;
  uint8_t* rm = removed.data();
  for (int64_t i = 0; i < n; i++) {
    if (rm[i]) continue;
    keep.push_back(i);
    auto chunk = [&](int64_t begin, int64_t end) { sweep(i, begin, end, rm); };
    if (n - i > 32768) {
      at::parallel_for(i + 1, n, 8192, chunk);
    } else {
      chunk(i + 1, n);
    }
  }
  return keep;
}

// `suppresses(i, j)` says whether kept box i removes box j > i (boxes already removed are
// not asked again).
template <typename Suppress>
std::vector<int64_t> greedy_nms(int64_t n, Suppress suppresses) {
  return greedy_nms_sweeps(n, [&](int64_t i, int64_t begin, int64_t end, uint8_t* rm) {
    for (int64_t j = begin; j < end; j++) {
      if (!rm[j] && suppresses(i, j)) rm[j] = 1;
    }
  });
}

}  // namespace rbox_ops

// Greedy non-maximum suppression over boxes already sorted by score (host only: the CPU
// kernels; the CUDA kernels walk their bit masks on the device, common/nms_mask.cuh).
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

}  // namespace rbox_ops

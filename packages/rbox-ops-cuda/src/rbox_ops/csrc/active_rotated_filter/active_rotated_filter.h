// active_rotated_filter: the rotated copies of oriented conv filters (ORN / S2A-Net's ORConv2d).
// The per-element index arithmetic, host and device, so that the CPU tests vouch for the CUDA kernels.
//
// weight (O, I, E) with E = nOrientation * kH * kW entries per filter; indices (E, R), 1-based: under
// rotation k, entry l of a filter moves to entry indices[l * R + k] - 1. output (O, R, I, E), that is
// (O * R, I * nOrientation, kH, kW). An index outside [1, E] is skipped (the Python face rejects it with a
// clear error first; the kernels only make sure it never touches memory out of bounds).
#pragma once

#include <cstdint>

#include "common/macros.h"

namespace rbox_ops {

// Where weight element n = (i, j, l) of (O, I, E) lands under rotation k: an offset into output, or -1.
RBOX_HD int64_t arf_target(const int32_t* indices, int64_t n, int64_t k, int64_t planes_in, int64_t entries,
                           int64_t rotations) {
  const int64_t l = n % entries;
  const int64_t j = (n / entries) % planes_in;
  const int64_t i = n / (entries * planes_in);
  const int64_t to = static_cast<int64_t>(indices[l * rotations + k]) - 1;
  if (to < 0 || to >= entries) return -1;
  return ((i * rotations + k) * planes_in + j) * entries + to;
}

// Forward for weight element n: copy it to its place in each of the R rotated filters.
template <typename T>
RBOX_HD void arf_forward_one(const T* weight, const int32_t* indices, T* output, int64_t n, int64_t planes_in,
                             int64_t entries, int64_t rotations) {
  const T value = weight[n];
  for (int64_t k = 0; k < rotations; k++) {
    const int64_t t = arf_target(indices, n, k, planes_in, entries, rotations);
    if (t >= 0) output[t] = value;
  }
}

// Backward for weight element n: the sum of the gradients of its R copies.
template <typename T>
RBOX_HD T arf_backward_one(const T* grad_output, const int32_t* indices, int64_t n, int64_t planes_in,
                           int64_t entries, int64_t rotations) {
  T sum = 0;
  for (int64_t k = 0; k < rotations; k++) {
    const int64_t t = arf_target(indices, n, k, planes_in, entries, rotations);
    if (t >= 0) sum += grad_output[t];
  }
  return sum;
}

}  // namespace rbox_ops

// active_rotated_filter: the CUDA launchers (plain CUDA types; included by the .cu and the CUDA glue only).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// weight (O, I, E) -> output (O, R, I, E), which must be zero-filled; n_weight = O * I * E.
template <typename T>
void launch_active_rotated_filter_forward(const T* weight, const int32_t* indices, T* output, int64_t n_weight,
                                          int64_t planes_in, int64_t entries, int64_t rotations,
                                          cudaStream_t stream);

// grad_output (O, R, I, E) -> grad_weight (O, I, E); n_weight = O * I * E.
template <typename T>
void launch_active_rotated_filter_backward(const T* grad_output, const int32_t* indices, T* grad_weight,
                                           int64_t n_weight, int64_t planes_in, int64_t entries, int64_t rotations,
                                           cudaStream_t stream);

}  // namespace rbox_ops

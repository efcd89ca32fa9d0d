// chamfer_distance: nearest-neighbour squared distances between 2-D point sets (common/nearest_point.h).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// For each of the b * n points of a (b, n, 2): dist (b, n) and idx (b, n) int32 of its nearest
// point of c (b, m, 2); contiguous, scalar_t float or double.
template <typename scalar_t>
void launch_chamfer_nearest(const scalar_t* a, const scalar_t* c, scalar_t* dist, int32_t* idx, int64_t b,
                            int64_t n, int64_t m, cudaStream_t stream);

// grad_a (b, n, 2) += 2 g (a - c[idx]); grad_c (b, m, 2) -= the same (atomics); idx -1 is skipped.
template <typename scalar_t>
void launch_chamfer_backward(const scalar_t* a, const scalar_t* c, const int32_t* idx, const scalar_t* grad,
                             scalar_t* grad_a, scalar_t* grad_c, int64_t b, int64_t n, int64_t m,
                             cudaStream_t stream);

}  // namespace rbox_ops

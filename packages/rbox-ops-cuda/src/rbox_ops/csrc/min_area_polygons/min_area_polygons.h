// min_area_polygons: the minimum-area rectangle around each point set (common/convex_geometry.h).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// out[8 * i ..]: the rectangle around pointsets[i] (k points, 2k float64); all contiguous float64.
void launch_min_area_polygons(const double* pointsets, double* out, int64_t n, int k, cudaStream_t stream);

}  // namespace rbox_ops

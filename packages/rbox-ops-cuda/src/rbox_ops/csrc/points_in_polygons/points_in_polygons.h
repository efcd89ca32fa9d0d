// points_in_polygons: which points lie in which quadrilaterals (mmcv's rule: common/point_in_polygon.h).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// out[i * m + j] = 1 if point i (x, y) is in polygon j (x1, y1, ..., x4, y4), else 0; all contiguous float32.
void launch_points_in_polygons(const float* points, const float* polygons, float* out, int64_t n, int64_t m,
                               cudaStream_t stream);

}  // namespace rbox_ops

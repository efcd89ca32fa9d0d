// convex_iou / convex_giou: IoU and GIoU of point sets' convex hulls with polygons
// (common/convex_geometry.h). All arrays contiguous float64.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// out[i * k + j]: IoU of the hull of pointsets[i] (18) with polygons[j] (8). ring_a (n * 18),
// area_a (n), ring_b (k * 8), area_b (k) are scratch.
void launch_convex_iou(const double* pointsets, const double* polygons, double* ring_a, double* area_a,
                       double* ring_b, double* area_b, double* out, int64_t n, int64_t k, cudaStream_t stream);

// out[i * 19 + 0..18]: the gradient of the GIoU w.r.t. pointsets[i], then the GIoU.
void launch_convex_giou(const double* pointsets, const double* polygons, double* out, int64_t n,
                        cudaStream_t stream);

}  // namespace rbox_ops

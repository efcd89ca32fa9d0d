// nms: greedy NMS of axis-aligned boxes (x1, y1, x2, y2), mmcv's `offset` convention.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// Suppression bit masks of score-sorted boxes (n x 4): a box removes a later one when their
// IoU > iou_threshold (strictly, as mmcv's nms).
template <typename T>
void launch_nms_mask_aligned(int64_t n, const T* sorted_boxes, T iou_threshold, int offset, uint64_t* mask,
                             cudaStream_t stream);

}  // namespace rbox_ops

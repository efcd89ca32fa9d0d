// nms_rotated: greedy NMS of rotated boxes (cx, cy, w, h, theta), optionally per label.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// Suppression bit masks of score-sorted boxes (n x 5); labels (n) or nullptr. A box removes
// a later one when their IoU >= iou_threshold (and the labels match).
template <typename T>
void launch_nms_rotated_mask(int64_t n, const T* sorted_boxes, const int64_t* sorted_labels, T iou_threshold,
                             uint64_t* mask, cudaStream_t stream);

}  // namespace rbox_ops

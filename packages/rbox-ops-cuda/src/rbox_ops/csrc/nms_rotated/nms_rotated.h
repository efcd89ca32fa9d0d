// nms_rotated: greedy NMS of rotated boxes (cx, cy, w, h, theta), optionally per label.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// Greedy NMS of score-sorted boxes (n x 5), all on the device: keep[i] (n bools) says whether
// sorted box i is kept. labels (n) or nullptr. A box removes a later one when their IoU >=
// iou_threshold (and the labels match). mask: n * ceil(n / 64) words of scratch (the
// suppression bit masks); removed_scratch: ceil(n / 64) words.
template <typename T>
void launch_nms_rotated(int64_t n, const T* sorted_boxes, const int64_t* sorted_labels, T iou_threshold,
                        uint64_t* mask, bool* keep, uint64_t* removed_scratch, cudaStream_t stream);

}  // namespace rbox_ops

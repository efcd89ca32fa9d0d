// nms: greedy NMS of axis-aligned boxes (x1, y1, x2, y2), mmcv's `offset` convention.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// Greedy NMS of score-sorted boxes (n x 4), all on the device: keep[i] (n bools) says whether
// sorted box i is kept. A box removes a later one when their IoU > iou_threshold (strictly, as
// mmcv's nms). mask: n * ceil(n / 64) words of scratch; removed_scratch: ceil(n / 64) words.
template <typename T>
void launch_nms_aligned(int64_t n, const T* sorted_boxes, T iou_threshold, int offset, uint64_t* mask, bool* keep,
                        uint64_t* removed_scratch, cudaStream_t stream);

}  // namespace rbox_ops

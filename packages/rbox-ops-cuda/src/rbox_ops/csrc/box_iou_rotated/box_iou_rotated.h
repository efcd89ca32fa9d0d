// box_iou_rotated: IoU / IoF of rotated boxes (cx, cy, w, h, theta), pairwise or aligned.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace rbox_ops {

// out[i * m + j] (pairwise) or out[i] (aligned, n == m) = overlap(b1[i], b2[j]); mode 0 IoU, 1 IoF.
template <typename T>
void launch_box_iou_rotated(const T* b1, const T* b2, T* out, int64_t n, int64_t m, int mode, bool aligned,
                            cudaStream_t stream);

}  // namespace rbox_ops

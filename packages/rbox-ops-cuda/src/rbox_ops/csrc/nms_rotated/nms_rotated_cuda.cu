// nms_rotated: CUDA suppression-mask kernel and launcher (plain CUDA, no torch headers).
#include "common/nms_mask.cuh"
#include "common/rotated_geometry.h"
#include "nms_rotated/nms_rotated.h"

namespace rbox_ops {
namespace {

template <typename T>
struct RotatedOverlap {
  T thr;
  __device__ bool operator()(const T* a, const T* b) const { return rotated_box_overlap(a, b, 0) >= thr; }
};

}  // namespace

template <typename T>
void launch_nms_rotated_mask(int64_t n, const T* sorted_boxes, const int64_t* sorted_labels, T iou_threshold,
                             uint64_t* mask, cudaStream_t stream) {
  launch_nms_mask<T, 5>(n, sorted_boxes, sorted_labels, mask, RotatedOverlap<T>{iou_threshold}, stream);
}

template void launch_nms_rotated_mask<float>(int64_t, const float*, const int64_t*, float, uint64_t*,
                                             cudaStream_t);
template void launch_nms_rotated_mask<double>(int64_t, const double*, const int64_t*, double, uint64_t*,
                                              cudaStream_t);

}  // namespace rbox_ops

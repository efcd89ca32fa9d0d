// nms: CUDA suppression-mask kernel and launcher (plain CUDA, no torch headers).
#include "common/nms_mask.cuh"
#include "common/rotated_geometry.h"
#include "nms/nms.h"

namespace rbox_ops {
namespace {

template <typename T>
struct AlignedOverlap {
  T thr;
  int offset;
  __device__ bool operator()(const T* a, const T* b) const { return aligned_box_iou(a, b, offset) > thr; }
};

}  // namespace

template <typename T>
void launch_nms_aligned(int64_t n, const T* sorted_boxes, T iou_threshold, int offset, uint64_t* mask, bool* keep,
                        uint64_t* removed_scratch, cudaStream_t stream) {
  launch_nms_mask<T, 4>(n, sorted_boxes, nullptr, mask, AlignedOverlap<T>{iou_threshold, offset}, stream);
  launch_nms_gather_keep(n, mask, keep, removed_scratch, stream);
}

template void launch_nms_aligned<float>(int64_t, const float*, float, int, uint64_t*, bool*, uint64_t*,
                                        cudaStream_t);
template void launch_nms_aligned<double>(int64_t, const double*, double, int, uint64_t*, bool*, uint64_t*,
                                         cudaStream_t);

}  // namespace rbox_ops

// nms_rotated: CPU kernel (the schema is in csrc/schemas.cpp).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/sort.h>
#include <torch/library.h>

#include <vector>

#include "common/nms_greedy.h"
#include "common/rotated_geometry.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

template <typename T>
std::vector<int64_t> nms_rotated_sorted(const T* boxes, const int64_t* labels, int64_t n, T thr) {
  // the bounding circles of the boxes: a cheap test before the exact IoU, shared with the CUDA
  // kernel (skipped for thr <= 0, where even disjoint boxes suppress each other, as in mmcv)
  std::vector<BoxCircle<T>> circles(n);
  for (int64_t i = 0; i < n; i++) circles[i] = box_circle(boxes + i * 5);
  const bool prefilter = thr > 0;
  const BoxCircle<T>* c = circles.data();
  return greedy_nms(n, [&](int64_t i, int64_t j) {
    if (labels && labels[i] != labels[j]) return false;
    if (prefilter && !circles_meet(c[i], c[j])) return false;
    return rotated_box_overlap(boxes + i * 5, boxes + j * 5, 0) >= thr;
  });
}

at::Tensor nms_rotated_cpu(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold,
                           const std::optional<at::Tensor>& labels) {
  RBOX_CHECK_CPU(dets);
  RBOX_CHECK_CPU(scores);
  RBOX_CHECK_FLOAT(dets);
  const int64_t n = dets.size(0);
  if (n == 0) return at::empty({0}, dets.options().dtype(at::kLong));
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto sorted = dets.index_select(0, order).contiguous();
  at::Tensor sorted_labels;
  if (labels.has_value()) sorted_labels = labels->to(at::kLong).index_select(0, order).contiguous();
  std::vector<int64_t> keep;
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "nms_rotated_cpu", [&] {
    keep = nms_rotated_sorted<scalar_t>(sorted.data_ptr<scalar_t>(),
                                        labels.has_value() ? sorted_labels.data_ptr<int64_t>() : nullptr, n,
                                        static_cast<scalar_t>(iou_threshold));
  });
  const auto pos = at::from_blob(keep.data(), {static_cast<int64_t>(keep.size())}, at::kLong);
  return order.index_select(0, pos);
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) { m.impl("nms_rotated", &nms_rotated_cpu); }

}  // namespace rbox_ops

// nms_rotated: CPU kernel (the schema is in csrc/schemas.cpp).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/sort.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "common/nms_greedy.h"
#include "common/rotated_geometry.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

template <typename T>
std::vector<int64_t> nms_rotated_sorted(const T* boxes, const int64_t* labels, int64_t n, T thr) {
  // axis-aligned bounds of each box: a cheap test before the exact IoU (skipped for thr <= 0,
  // where even disjoint boxes suppress each other, as in mmcv)
  std::vector<T> bounds(n * 4);
  for (int64_t i = 0; i < n; i++) {
    Point<T> p[4];
    const T* b = boxes + i * 5;
    rotated_vertices(b[0], b[1], b[2], b[3], b[4], p);
    T* o = bounds.data() + i * 4;
    o[0] = std::min({p[0].x, p[1].x, p[2].x, p[3].x}) - 1;
    o[1] = std::min({p[0].y, p[1].y, p[2].y, p[3].y}) - 1;
    o[2] = std::max({p[0].x, p[1].x, p[2].x, p[3].x}) + 1;
    o[3] = std::max({p[0].y, p[1].y, p[2].y, p[3].y}) + 1;
  }
  const bool prefilter = thr > 0;
  const T* bd = bounds.data();
  return greedy_nms(n, [&](int64_t i, int64_t j) {
    if (labels && labels[i] != labels[j]) return false;
    const T* a = bd + i * 4;
    const T* c = bd + j * 4;
    if (prefilter && !(a[0] <= c[2] && c[0] <= a[2] && a[1] <= c[3] && c[1] <= a[3])) return false;
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

// nms: CPU kernel (the schema is in csrc/schemas.cpp).
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

at::Tensor nms_cpu(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, int64_t offset) {
  RBOX_CHECK_CPU(boxes);
  RBOX_CHECK_CPU(scores);
  RBOX_CHECK_FLOAT(boxes);
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto sorted = boxes.index_select(0, order).contiguous();
  std::vector<int64_t> keep;
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "nms_cpu", [&] {
    const scalar_t* b = sorted.data_ptr<scalar_t>();
    const auto thr = static_cast<scalar_t>(iou_threshold);
    const int off = static_cast<int>(offset);
    keep = greedy_nms(n, [&](int64_t i, int64_t j) { return aligned_box_iou(b + i * 4, b + j * 4, off) > thr; });
  });
  const auto pos = at::from_blob(keep.data(), {static_cast<int64_t>(keep.size())}, at::kLong);
  return order.index_select(0, pos);
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) { m.impl("nms", &nms_cpu); }

}  // namespace rbox_ops

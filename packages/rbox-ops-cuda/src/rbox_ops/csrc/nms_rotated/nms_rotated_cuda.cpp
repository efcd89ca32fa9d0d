// nms_rotated: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/masked_select.h>
#include <ATen/ops/sort.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "nms_rotated/nms_rotated.h"

namespace rbox_ops {
namespace {

at::Tensor nms_rotated_cuda(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold,
                            const std::optional<at::Tensor>& labels) {
  RBOX_CHECK_CUDA(dets);
  RBOX_CHECK_CUDA(scores);
  RBOX_CHECK_FLOAT(dets);
  const c10::cuda::CUDAGuard guard(dets.device());
  const int64_t n = dets.size(0);
  if (n == 0) return at::empty({0}, dets.options().dtype(at::kLong));
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto sorted = dets.index_select(0, order).contiguous();
  at::Tensor sorted_labels;
  if (labels.has_value()) sorted_labels = labels->to(at::kLong).index_select(0, order).contiguous();
  // the greedy walk runs on the device: the suppression masks never leave it
  const int64_t col_blocks = (n + 63) / 64;
  auto mask = at::empty({n * col_blocks}, dets.options().dtype(at::kLong));
  auto removed = at::empty({col_blocks}, dets.options().dtype(at::kLong));
  auto keep = at::empty({n}, dets.options().dtype(at::kBool));
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "nms_rotated_cuda", [&] {
    launch_nms_rotated<scalar_t>(n, sorted.data_ptr<scalar_t>(),
                                 labels.has_value() ? sorted_labels.data_ptr<int64_t>() : nullptr,
                                 static_cast<scalar_t>(iou_threshold),
                                 reinterpret_cast<uint64_t*>(mask.data_ptr<int64_t>()), keep.data_ptr<bool>(),
                                 reinterpret_cast<uint64_t*>(removed.data_ptr<int64_t>()),
                                 c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return order.masked_select(keep);  // kept indices, by descending score
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) { m.impl("nms_rotated", &nms_rotated_cuda); }

}  // namespace rbox_ops

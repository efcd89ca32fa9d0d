// nms: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/masked_select.h>
#include <ATen/ops/sort.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "common/torch_checks.h"
#include "nms/nms.h"

namespace rbox_ops {
namespace {

at::Tensor nms_cuda(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, int64_t offset) {
  RBOX_CHECK_CUDA(boxes);
  RBOX_CHECK_CUDA(scores);
  RBOX_CHECK_FLOAT(boxes);
  const c10::cuda::CUDAGuard guard(boxes.device());
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto sorted = boxes.index_select(0, order).contiguous();
  // the greedy walk runs on the device: the suppression masks never leave it
  const int64_t col_blocks = (n + 63) / 64;
  auto mask = at::empty({n * col_blocks}, boxes.options().dtype(at::kLong));
  auto removed = at::empty({col_blocks}, boxes.options().dtype(at::kLong));
  auto keep = at::empty({n}, boxes.options().dtype(at::kBool));
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "nms_cuda", [&] {
    launch_nms_aligned<scalar_t>(n, sorted.data_ptr<scalar_t>(), static_cast<scalar_t>(iou_threshold),
                                 static_cast<int>(offset), reinterpret_cast<uint64_t*>(mask.data_ptr<int64_t>()),
                                 keep.data_ptr<bool>(), reinterpret_cast<uint64_t*>(removed.data_ptr<int64_t>()),
                                 c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return order.masked_select(keep);  // kept indices, by descending score
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) { m.impl("nms", &nms_cuda); }

}  // namespace rbox_ops

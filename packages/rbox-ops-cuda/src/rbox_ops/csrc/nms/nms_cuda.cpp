// nms: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/sort.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <vector>

#include "common/nms_greedy.h"
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
  const int64_t col_blocks = (n + 63) / 64;
  auto mask = at::empty({n * col_blocks}, boxes.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "nms_cuda", [&] {
    launch_nms_mask_aligned<scalar_t>(n, sorted.data_ptr<scalar_t>(), static_cast<scalar_t>(iou_threshold),
                                      static_cast<int>(offset), reinterpret_cast<uint64_t*>(mask.data_ptr<int64_t>()),
                                      c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const auto mask_cpu = mask.cpu();
  auto keep = resolve_nms_mask(reinterpret_cast<const uint64_t*>(mask_cpu.data_ptr<int64_t>()), n);
  const auto pos = at::from_blob(keep.data(), {static_cast<int64_t>(keep.size())}, at::kLong).to(boxes.device());
  return order.index_select(0, pos);
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) { m.impl("nms", &nms_cuda); }

}  // namespace rbox_ops

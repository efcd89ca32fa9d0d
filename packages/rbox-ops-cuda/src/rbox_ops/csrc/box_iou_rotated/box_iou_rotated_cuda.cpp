// box_iou_rotated: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "box_iou_rotated/box_iou_rotated.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

at::Tensor box_iou_rotated_cuda(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, bool aligned) {
  RBOX_CHECK_CUDA(boxes1);
  RBOX_CHECK_CUDA(boxes2);
  RBOX_CHECK_FLOAT(boxes1);
  const c10::cuda::CUDAGuard guard(boxes1.device());
  const auto b1 = boxes1.contiguous();
  const auto b2 = boxes2.contiguous().to(b1.scalar_type());
  const int64_t n = b1.size(0), m = b2.size(0);
  auto out = aligned ? at::empty({n}, b1.options()) : at::empty({n, m}, b1.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(b1.scalar_type(), "box_iou_rotated_cuda", [&] {
    launch_box_iou_rotated<scalar_t>(b1.data_ptr<scalar_t>(), b2.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n,
                                     m, static_cast<int>(mode), aligned, c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) { m.impl("box_iou_rotated", &box_iou_rotated_cuda); }

}  // namespace rbox_ops

// box_iou_rotated: CPU kernel (the schema is in csrc/schemas.cpp).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "common/rotated_geometry.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

at::Tensor box_iou_rotated_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2, int64_t mode, bool aligned) {
  RBOX_CHECK_CPU(boxes1);
  RBOX_CHECK_CPU(boxes2);
  RBOX_CHECK_FLOAT(boxes1);
  const auto b1 = boxes1.contiguous();
  const auto b2 = boxes2.contiguous().to(b1.scalar_type());
  const int64_t n = b1.size(0), m = b2.size(0);
  auto out = aligned ? at::empty({n}, b1.options()) : at::empty({n, m}, b1.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(b1.scalar_type(), "box_iou_rotated_cpu", [&] {
    const scalar_t* p1 = b1.data_ptr<scalar_t>();
    const scalar_t* p2 = b2.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    const int md = static_cast<int>(mode);
    if (aligned) {
      at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; i++) o[i] = rotated_box_overlap(p1 + i * 5, p2 + i * 5, md);
      });
    } else {
      // the bounding-circle test (shared with the CUDA kernel) skips far pairs: they are 0
      std::vector<BoxCircle<scalar_t>> circles(m);
      for (int64_t j = 0; j < m; j++) circles[j] = box_circle(p2 + j * 5);
      at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; i++) {
          const BoxCircle<scalar_t> ci = box_circle(p1 + i * 5);
          for (int64_t j = 0; j < m; j++)
            o[i * m + j] = circles_meet(ci, circles[j]) ? rotated_box_overlap(p1 + i * 5, p2 + j * 5, md) : 0;
        }
      });
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) { m.impl("box_iou_rotated", &box_iou_rotated_cpu); }

}  // namespace rbox_ops

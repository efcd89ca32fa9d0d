// roi_align_rotated: operator schemas and CPU kernels.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "common/roi_pool_cpu.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

at::Tensor roi_align_rotated_forward_cpu(const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h, int64_t pooled_w,
                             double spatial_scale, int64_t sampling_ratio, bool aligned, bool clockwise) {
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(rois);
  RBOX_CHECK_FLOAT(input);
  const auto x = input.permute({0, 2, 3, 1}).contiguous();  // channels-last
  const auto r = rois.contiguous().to(x.scalar_type());
  const int64_t batch = x.size(0);
  const RoiPoolShape s{r.size(0), 6, x.size(3), x.size(1), x.size(2), pooled_h, pooled_w};
  auto out = at::empty({s.n_rois, s.channels, pooled_h, pooled_w}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roi_align_rotated_forward_cpu", [&] {
    auto geom = [&](const scalar_t* roi) {
      return rotated_roi_geom(roi, static_cast<int>(batch), static_cast<scalar_t>(spatial_scale), static_cast<int>(pooled_h), static_cast<int>(pooled_w), static_cast<int>(sampling_ratio), aligned, clockwise);
    };
    roi_pool_forward_cpu<scalar_t>(x.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, geom, out.data_ptr<scalar_t>());
  });
  return out;
}

at::Tensor roi_align_rotated_backward_cpu(const at::Tensor& grad_output, const at::Tensor& rois, int64_t batch, int64_t channels,
                              int64_t height, int64_t width, int64_t pooled_h, int64_t pooled_w, double spatial_scale,
                              int64_t sampling_ratio, bool aligned, bool clockwise) {
  RBOX_CHECK_CPU(grad_output);
  RBOX_CHECK_CPU(rois);
  RBOX_CHECK_FLOAT(grad_output);
  const auto go = grad_output.permute({0, 2, 3, 1}).contiguous();  // channels-last
  const auto r = rois.contiguous().to(go.scalar_type());
  const RoiPoolShape s{r.size(0), 6, channels, height, width, pooled_h, pooled_w};
  auto grad_input = at::zeros({batch, height, width, channels}, go.options());
  if (go.numel() == 0 || grad_input.numel() == 0) return grad_input.permute({0, 3, 1, 2}).contiguous();
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "roi_align_rotated_backward_cpu", [&] {
    auto geom = [&](const scalar_t* roi) {
      return rotated_roi_geom(roi, static_cast<int>(batch), static_cast<scalar_t>(spatial_scale), static_cast<int>(pooled_h), static_cast<int>(pooled_w), static_cast<int>(sampling_ratio), aligned, clockwise);
    };
    roi_pool_backward_cpu<scalar_t>(go.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, geom,
                                    grad_input.data_ptr<scalar_t>());
  });
  return grad_input.permute({0, 3, 1, 2}).contiguous();
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rbox_ops, m) {
  m.def(
      "roi_align_rotated(Tensor input, Tensor rois, int pooled_height, int pooled_width, float spatial_scale, "
      "int sampling_ratio, bool aligned, bool clockwise) -> Tensor");
  m.def(
      "roi_align_rotated_backward(Tensor grad_output, Tensor rois, int batch_size, int channels, int height, int width, "
      "int pooled_height, int pooled_width, float spatial_scale, int sampling_ratio, bool aligned, bool clockwise) "
      "-> Tensor");
}

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("roi_align_rotated", &roi_align_rotated_forward_cpu);
  m.impl("roi_align_rotated_backward", &roi_align_rotated_backward_cpu);
}

}  // namespace rbox_ops

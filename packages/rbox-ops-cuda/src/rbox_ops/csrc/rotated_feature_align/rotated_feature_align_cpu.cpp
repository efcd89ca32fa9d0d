// rotated_feature_align: CPU kernels (the schema is in csrc/schemas.cpp). The taps of every
// pixel are computed once, then each (n, c) plane is a thread's own: forward and backward
// write no value from two threads, and the backward adds in mmcv's order.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <cstdint>
#include <vector>

#include "common/feature_align.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

void check_args(const at::Tensor& x, const at::Tensor& boxes, int64_t points, const char* x_name) {
  RBOX_CHECK_CPU(x);
  RBOX_CHECK_CPU(boxes);
  RBOX_CHECK_FLOAT(x);
  TORCH_CHECK(points == 1 || points == 5, "points must be 1 or 5, got ", points);
  TORCH_CHECK(x.dim() == 4, x_name, " must have 4 dimensions (N, C, H, W), got ", x.sizes());
  TORCH_CHECK(boxes.dim() == 4 && boxes.size(0) == x.size(0) && boxes.size(1) == x.size(2) &&
                  boxes.size(2) == x.size(3) && boxes.size(3) == 5,
              "best_rbboxes must have shape (N, H, W, 5) = (", x.size(0), ", ", x.size(2), ", ", x.size(3),
              ", 5), got ", boxes.sizes());
}

// taps[(n * H + h) * W + w] of every pixel.
template <typename T>
std::vector<FeatureAlignTaps<T>> all_taps(const T* boxes, int64_t pixels, T scale, int points, int height,
                                          int width) {
  std::vector<FeatureAlignTaps<T>> taps(static_cast<size_t>(pixels));
  at::parallel_for(0, pixels, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) taps[i] = feature_align_taps(boxes + i * 5, scale, points, height, width);
  });
  return taps;
}

at::Tensor rotated_feature_align_cpu(const at::Tensor& features, const at::Tensor& best_rbboxes,
                                     double spatial_scale, int64_t points) {
  check_args(features, best_rbboxes, points, "features");
  const auto x = features.contiguous();
  const auto b = best_rbboxes.contiguous().to(x.scalar_type());
  auto out = at::empty_like(x);
  if (out.numel() == 0) return out;
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), plane = H * W;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rotated_feature_align_cpu", [&] {
    const auto taps = all_taps(b.data_ptr<scalar_t>(), N * plane, static_cast<scalar_t>(spatial_scale),
                               static_cast<int>(points), static_cast<int>(H), static_cast<int>(W));
    const scalar_t* in = x.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; nc++) {
        const scalar_t* src = in + nc * plane;
        const FeatureAlignTaps<scalar_t>* t = taps.data() + (nc / C) * plane;
        scalar_t* dst = o + nc * plane;
        for (int64_t i = 0; i < plane; i++) {
          scalar_t v = src[i];
          for (int k = 0; k < t[i].n; k++) v += bilinear_value(src, t[i].b[k]);
          dst[i] = v;
        }
      }
    });
  });
  return out;
}

at::Tensor rotated_feature_align_backward_cpu(const at::Tensor& grad_output, const at::Tensor& best_rbboxes,
                                              double spatial_scale, int64_t points) {
  check_args(grad_output, best_rbboxes, points, "grad_output");
  const auto go = grad_output.contiguous();
  const auto b = best_rbboxes.contiguous().to(go.scalar_type());
  auto grad = at::empty_like(go);
  if (grad.numel() == 0) return grad;
  const int64_t N = go.size(0), C = go.size(1), H = go.size(2), W = go.size(3), plane = H * W;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "rotated_feature_align_backward_cpu", [&] {
    const auto taps = all_taps(b.data_ptr<scalar_t>(), N * plane, static_cast<scalar_t>(spatial_scale),
                               static_cast<int>(points), static_cast<int>(H), static_cast<int>(W));
    const scalar_t* g_out = go.data_ptr<scalar_t>();
    scalar_t* g_in = grad.data_ptr<scalar_t>();
    at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; nc++) {
        const scalar_t* src = g_out + nc * plane;
        const FeatureAlignTaps<scalar_t>* t = taps.data() + (nc / C) * plane;
        scalar_t* dst = g_in + nc * plane;
        for (int64_t i = 0; i < plane; i++) dst[i] = 0;
        for (int64_t i = 0; i < plane; i++) {
          const scalar_t g = src[i];
          dst[i] += g;
          for (int k = 0; k < t[i].n; k++)
            for (int q = 0; q < 4; q++) dst[t[i].b[k].pos[q]] += g * t[i].b[k].w[q];
        }
      }
    });
  });
  return grad;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("rotated_feature_align", &rotated_feature_align_cpu);
  m.impl("rotated_feature_align_backward", &rotated_feature_align_backward_cpu);
}

}  // namespace rbox_ops

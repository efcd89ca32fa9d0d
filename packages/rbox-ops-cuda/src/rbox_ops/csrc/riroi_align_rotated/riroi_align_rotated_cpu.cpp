// riroi_align_rotated: CPU kernels (the schema is in csrc/schemas.cpp). Each RoI's bins are pooled
// channels-last as roi_align_rotated's (common/roi_pool_cpu.h), then its orientation channels are mixed
// (riroi_align_rotated.h). The backward unmixes the gradient, then scatters it; threads split the
// orientation groups, so no two write the same value.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/roi_pool_cpu.h"
#include "common/torch_checks.h"
#include "common/transpose_cpu.h"
#include "riroi_align_rotated/riroi_align_rotated.h"

namespace rbox_ops {
namespace {

void check_orientations(int64_t channels, int64_t num_orientations) {
  TORCH_CHECK(num_orientations > 0, "num_orientations must be > 0, got ", num_orientations);
  TORCH_CHECK(channels % num_orientations == 0, "input's channels (", channels,
              ") must be a multiple of num_orientations (", num_orientations, ")");
}

// input_nhwc (B, H, W, C); out (n_rois, C, PH, PW).
template <typename T>
void forward_loops(const T* input_nhwc, const T* rois, const RoiPoolShape& s, const RiRoiAlignRotatedParams& p,
                   T* out) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w, plane = s.height * s.width, C = s.channels;
  const int O = p.num_orientations;
  at::parallel_for(0, s.n_rois, 1, [&](int64_t begin, int64_t end) {
    std::vector<Bilinear<T>> samples;
    std::vector<T> acc(C);
    for (int64_t n = begin; n < end; n++) {
      const T* roi = rois + n * RiRoiAlignRotatedParams::roi_dim;
      const RoiGeom<T> g = p(roi);
      T* o = out + n * C * bins;
      if (g.batch < 0) {
        std::fill(o, o + C * bins, static_cast<T>(0));
        continue;
      }
      const OrientationMix<T> mix = orientation_mix(roi[5], O);
      const T count = fill_samples(g, p, s, samples);
      const int64_t grid = g.grid_h * g.grid_w;
      const T* in = input_nhwc + g.batch * plane * C;
      const Bilinear<T>* smp = samples.data();
      for (int64_t bin = 0; bin < bins; bin++) {
        std::fill(acc.begin(), acc.end(), static_cast<T>(0));
        T* a = acc.data();
        for (int64_t k = 0; k < grid; k++, smp++)
          for (int q = 0; q < 4; q++) {
            const T w = smp->w[q];
            if (w == 0) continue;
            const T* src = in + smp->pos[q] * C;
            for (int64_t c = 0; c < C; c++) a[c] += w * src[c];
          }
        for (int64_t group = 0; group < C; group += O)
          for (int r = 0; r < O; r++) {
            const int low = rotated_orientation(r, mix.shift, O), high = (low + 1) % O;
            const T v = (mix.w_low * a[group + low] + mix.w_high * a[group + high]) / count;
            o[(group + r) * bins + bin] = v;
          }
      }
    }
  });
}

// grad_out_nhwc (n_rois, PH, PW, C); grad_input_nhwc (B, H, W, C) zero-filled.
template <typename T>
void backward_loops(const T* grad_out_nhwc, const T* rois, const RoiPoolShape& s, const RiRoiAlignRotatedParams& p,
                    T* grad_input_nhwc) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w, plane = s.height * s.width, C = s.channels;
  const int O = p.num_orientations;
  at::parallel_for(0, C / O, 4, [&](int64_t g0, int64_t g1) {
    std::vector<Bilinear<T>> samples;
    std::vector<T> unmixed(C);
    const int64_t c0 = g0 * O, c1 = g1 * O;
    for (int64_t n = 0; n < s.n_rois; n++) {
      const T* roi = rois + n * RiRoiAlignRotatedParams::roi_dim;
      const RoiGeom<T> g = p(roi);
      if (g.batch < 0) continue;
      const OrientationMix<T> mix = orientation_mix(roi[5], O);
      const T count = fill_samples(g, p, s, samples);
      const int64_t grid = g.grid_h * g.grid_w;
      T* gi = grad_input_nhwc + g.batch * plane * C;
      const Bilinear<T>* smp = samples.data();
      for (int64_t bin = 0; bin < bins; bin++) {
        const T* go = grad_out_nhwc + (n * bins + bin) * C;
        // the gradient of the pooled input orientation j: output orientations that read it
        for (int64_t group = c0; group < c1; group += O)
          for (int j = 0; j < O; j++) {
            const int by_low = (j + mix.shift) % O, by_high = (j + mix.shift + O - 1) % O;
            unmixed[group + j] = (mix.w_low * go[group + by_low] + mix.w_high * go[group + by_high]) / count;
          }
        for (int64_t k = 0; k < grid; k++, smp++)
          for (int q = 0; q < 4; q++) {
            const T w = smp->w[q];
            if (w == 0) continue;
            T* dst = gi + smp->pos[q] * C;
            for (int64_t c = c0; c < c1; c++) dst[c] += w * unmixed[c];
          }
      }
    }
  });
}

at::Tensor riroi_align_rotated_cpu(const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h,
                                   int64_t pooled_w, double spatial_scale, int64_t num_samples,
                                   int64_t num_orientations, bool clockwise) {
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(rois);
  RBOX_CHECK_FLOAT(input);
  check_orientations(input.size(1), num_orientations);
  const auto x = nchw_to_nhwc(input);
  const auto r = rois.contiguous().to(x.scalar_type());
  const RoiPoolShape s{r.size(0), x.size(3), x.size(1), x.size(2)};
  const auto p =
      make_riroi_params(x.size(0), pooled_h, pooled_w, spatial_scale, num_samples, num_orientations, clockwise);
  auto out = at::empty({s.n_rois, s.channels, pooled_h, pooled_w}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "riroi_align_rotated_cpu", [&] {
    forward_loops<scalar_t>(x.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p, out.data_ptr<scalar_t>());
  });
  return out;
}

at::Tensor riroi_align_rotated_backward_cpu(const at::Tensor& grad_output, const at::Tensor& rois, int64_t batch,
                                            int64_t channels, int64_t height, int64_t width, int64_t pooled_h,
                                            int64_t pooled_w, double spatial_scale, int64_t num_samples,
                                            int64_t num_orientations, bool clockwise) {
  RBOX_CHECK_CPU(grad_output);
  RBOX_CHECK_CPU(rois);
  RBOX_CHECK_FLOAT(grad_output);
  check_orientations(channels, num_orientations);
  const auto go = nchw_to_nhwc(grad_output);
  const auto r = rois.contiguous().to(go.scalar_type());
  const RoiPoolShape s{r.size(0), channels, height, width};
  const auto p =
      make_riroi_params(batch, pooled_h, pooled_w, spatial_scale, num_samples, num_orientations, clockwise);
  if (go.numel() == 0 || batch * channels * height * width == 0)  // no RoIs: no gradient, no transpose
    return at::zeros({batch, channels, height, width}, go.options());
  auto grad_input = at::zeros({batch, height, width, channels}, go.options());
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "riroi_align_rotated_backward_cpu", [&] {
    backward_loops<scalar_t>(go.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                             grad_input.data_ptr<scalar_t>());
  });
  return nhwc_to_nchw(grad_input);
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("riroi_align_rotated", &riroi_align_rotated_cpu);
  m.impl("riroi_align_rotated_backward", &riroi_align_rotated_backward_cpu);
}

}  // namespace rbox_ops

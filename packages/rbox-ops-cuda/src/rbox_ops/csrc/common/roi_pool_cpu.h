// CPU bilinear RoI average pooling, shared by roi_align and roi_align_rotated: the loops,
// and the forward/backward kernels that each op registers for its `Params` (see
// roi_sampling.h), e.g. m.impl("roi_align", &roi_pool_forward_cpu<RoiAlignParams>).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "roi_sampling.h"
#include "torch_checks.h"
#include "transpose_cpu.h"

namespace rbox_ops {

// The samples of one RoI in (ph, pw, iy, ix) order; returns the divisor of each bin.
template <typename T>
T fill_samples(const RoiGeom<T>& g, const RoiPoolParams& p, const RoiPoolShape& s,
               std::vector<Bilinear<T>>& samples) {
  const int grid = g.grid_h * g.grid_w;
  samples.resize(static_cast<size_t>(static_cast<int64_t>(p.pooled_h) * p.pooled_w * grid));
  size_t k = 0;
  for (int ph = 0; ph < p.pooled_h; ph++)
    for (int pw = 0; pw < p.pooled_w; pw++)
      for (int iy = 0; iy < g.grid_h; iy++)
        for (int ix = 0; ix < g.grid_w; ix++)
          samples[k++] = roi_sample(g, ph, pw, iy, ix, static_cast<int>(s.height), static_cast<int>(s.width));
  return static_cast<T>(std::max(grid, 1));
}

// input_nhwc (B, H, W, C) channels-last, so the four taps of a sample read contiguous
// channel vectors; out (n_rois, C, PH, PW).
template <typename T, typename Params>
void roi_pool_forward_loops(const T* input_nhwc, const T* rois, const RoiPoolShape& s, const Params& p, T* out) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w, plane = s.height * s.width, C = s.channels;
  at::parallel_for(0, s.n_rois, 1, [&](int64_t begin, int64_t end) {
    std::vector<Bilinear<T>> samples;
    std::vector<T> acc(C);
    for (int64_t n = begin; n < end; n++) {
      const RoiGeom<T> g = p(rois + n * Params::roi_dim);
      T* o = out + n * C * bins;
      if (g.batch < 0) {
        std::fill(o, o + C * bins, static_cast<T>(0));
        continue;
      }
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
        for (int64_t c = 0; c < C; c++) o[c * bins + bin] = a[c] / count;
      }
    }
  });
}

// grad_out_nhwc (n_rois, PH, PW, C); grad_input_nhwc (B, H, W, C) zero-filled. Threads split
// the channels, so no two write the same value.
template <typename T, typename Params>
void roi_pool_backward_loops(const T* grad_out_nhwc, const T* rois, const RoiPoolShape& s, const Params& p,
                             T* grad_input_nhwc) {
  const int64_t bins = static_cast<int64_t>(p.pooled_h) * p.pooled_w, plane = s.height * s.width, C = s.channels;
  at::parallel_for(0, C, 16, [&](int64_t c0, int64_t c1) {
    std::vector<Bilinear<T>> samples;
    for (int64_t n = 0; n < s.n_rois; n++) {
      const RoiGeom<T> g = p(rois + n * Params::roi_dim);
      if (g.batch < 0) continue;
      const T count = fill_samples(g, p, s, samples);
      const int64_t grid = g.grid_h * g.grid_w;
      T* gi = grad_input_nhwc + g.batch * plane * C;
      const Bilinear<T>* smp = samples.data();
      for (int64_t bin = 0; bin < bins; bin++) {
        const T* go = grad_out_nhwc + (n * bins + bin) * C;
        for (int64_t k = 0; k < grid; k++, smp++)
          for (int q = 0; q < 4; q++) {
            const T w = smp->w[q] / count;
            if (w == 0) continue;
            T* dst = gi + smp->pos[q] * C;
            for (int64_t c = c0; c < c1; c++) dst[c] += w * go[c];
          }
      }
    }
  });
}

// The CPU kernel of `<op>(input, rois, pooled_height, pooled_width, spatial_scale,
// sampling_ratio, aligned, extra...)`; `extra` are Params' own fields (roi_align_rotated:
// clockwise), so roi_align_rotated registers roi_pool_forward_cpu<RoiAlignRotatedParams, bool>.
template <typename Params, typename... Extra>
at::Tensor roi_pool_forward_cpu(const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h,
                                int64_t pooled_w, double spatial_scale, int64_t sampling_ratio, bool aligned,
                                Extra... extra) {
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(rois);
  RBOX_CHECK_FLOAT(input);
  const auto x = nchw_to_nhwc(input);
  const auto r = rois.contiguous().to(x.scalar_type());
  const RoiPoolShape s{r.size(0), x.size(3), x.size(1), x.size(2)};
  const auto p = make_roi_pool_params<Params>(x.size(0), pooled_h, pooled_w, spatial_scale, sampling_ratio,
                                              aligned, extra...);
  auto out = at::empty({s.n_rois, s.channels, pooled_h, pooled_w}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roi_pool_forward_cpu", [&] {
    roi_pool_forward_loops<scalar_t>(x.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                                     out.data_ptr<scalar_t>());
  });
  return out;
}

// The CPU kernel of `<op>_backward(grad_output, rois, batch_size, channels, height, width,
// pooled_height, pooled_width, spatial_scale, sampling_ratio, aligned, extra...)`.
template <typename Params, typename... Extra>
at::Tensor roi_pool_backward_cpu(const at::Tensor& grad_output, const at::Tensor& rois, int64_t batch,
                                 int64_t channels, int64_t height, int64_t width, int64_t pooled_h,
                                 int64_t pooled_w, double spatial_scale, int64_t sampling_ratio, bool aligned,
                                 Extra... extra) {
  RBOX_CHECK_CPU(grad_output);
  RBOX_CHECK_CPU(rois);
  RBOX_CHECK_FLOAT(grad_output);
  const auto go = nchw_to_nhwc(grad_output);
  const auto r = rois.contiguous().to(go.scalar_type());
  const RoiPoolShape s{r.size(0), channels, height, width};
  const auto p = make_roi_pool_params<Params>(batch, pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned,
                                              extra...);
  if (go.numel() == 0 || batch * channels * height * width == 0)  // no RoIs: no gradient, no transpose
    return at::zeros({batch, channels, height, width}, go.options());
  auto grad_input = at::zeros({batch, height, width, channels}, go.options());
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "roi_pool_backward_cpu", [&] {
    roi_pool_backward_loops<scalar_t>(go.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), s, p,
                                      grad_input.data_ptr<scalar_t>());
  });
  return nhwc_to_nchw(grad_input);
}

}  // namespace rbox_ops

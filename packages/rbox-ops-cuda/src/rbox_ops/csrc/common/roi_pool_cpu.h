// CPU forward/backward of bilinear RoI average pooling (roi_align, roi_align_rotated).
// `geom_of(const T* roi)` maps a RoI row to its RoiGeom (see roi_sampling.h).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "roi_sampling.h"

namespace rbox_ops {

struct RoiPoolShape {
  int64_t n_rois, roi_dim, channels, height, width, pooled_h, pooled_w;
};

// The samples of one RoI in (ph, pw, iy, ix) order; returns the divisor of each bin.
template <typename T>
T fill_samples(const RoiGeom<T>& g, const RoiPoolShape& s, std::vector<Bilinear<T>>& samples) {
  const int grid = g.grid_h * g.grid_w;
  samples.resize(static_cast<size_t>(s.pooled_h * s.pooled_w * grid));
  size_t k = 0;
  for (int ph = 0; ph < s.pooled_h; ph++)
    for (int pw = 0; pw < s.pooled_w; pw++)
      for (int iy = 0; iy < g.grid_h; iy++)
        for (int ix = 0; ix < g.grid_w; ix++)
          samples[k++] = roi_sample(g, ph, pw, iy, ix, static_cast<int>(s.height), static_cast<int>(s.width));
  return static_cast<T>(std::max(grid, 1));
}

// input_nhwc (B, H, W, C) channels-last, so the four taps of a sample read contiguous
// channel vectors; out (n_rois, C, PH, PW).
template <typename T, typename GeomFn>
void roi_pool_forward_cpu(const T* input_nhwc, const T* rois, const RoiPoolShape& s, GeomFn geom_of, T* out) {
  const int64_t bins = s.pooled_h * s.pooled_w, plane = s.height * s.width, C = s.channels;
  at::parallel_for(0, s.n_rois, 1, [&](int64_t begin, int64_t end) {
    std::vector<Bilinear<T>> samples;
    std::vector<T> acc(C);
    for (int64_t n = begin; n < end; n++) {
      const RoiGeom<T> g = geom_of(rois + n * s.roi_dim);
      T* o = out + n * C * bins;
      if (g.batch < 0) {
        std::fill(o, o + C * bins, static_cast<T>(0));
        continue;
      }
      const T count = fill_samples(g, s, samples);
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
template <typename T, typename GeomFn>
void roi_pool_backward_cpu(const T* grad_out_nhwc, const T* rois, const RoiPoolShape& s, GeomFn geom_of,
                           T* grad_input_nhwc) {
  const int64_t bins = s.pooled_h * s.pooled_w, plane = s.height * s.width, C = s.channels;
  at::parallel_for(0, C, 16, [&](int64_t c0, int64_t c1) {
    std::vector<Bilinear<T>> samples;
    for (int64_t n = 0; n < s.n_rois; n++) {
      const RoiGeom<T> g = geom_of(rois + n * s.roi_dim);
      if (g.batch < 0) continue;
      const T count = fill_samples(g, s, samples);
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

}  // namespace rbox_ops

// Deformable convolution sampling, shared by the CPU and CUDA kernels (host and device).
//
// Output pixel (ho, wo) and kernel point (i, j) of deform group dg sample the input at
//   h = ho * stride_h - pad_h + i * dilation_h + offset[n, 2 * (dg * K + i * kw + j), ho, wo]
//   w = wo * stride_w - pad_w + j * dilation_w + offset[n, 2 * (dg * K + i * kw + j) + 1, ho, wo]
// (mmcv's layout: (dy, dx) pairs per kernel point, K = kh * kw), bilinearly, with zeros outside
// the map: a point with h <= -1, h >= height, w <= -1 or w >= width samples 0, and of the four
// taps of a point inside only those on the map count (mmcv's deformable_im2col_bilinear). Not
// bilinear.h's taps (mmcv's bilinear_interpolate, which clamps to the border); and the offset
// gradient needs each tap's derivative along h and w, which DeformTaps carries.
//
// Modulated deformable convolution (DCNv2, mmcv's modulated_deform_conv2d) multiplies each sample
// by a mask value, mask[n, dg * K + i * kw + j, ho, wo] (mmcv's dmcn_im2col layout): the same taps,
// with DeformTaps::mask. The weights stay unmasked, as the mask's gradient needs the plain sample.
// Plain deform_conv2d passes no mask (nullptr): mask 1.
#pragma once

#include <math.h>
#include <stdint.h>

#include "macros.h"

namespace rbox_ops {

// The arguments and sizes of one deform_conv2d call.
struct DeformConvShape {
  int64_t batch, channels, height, width;  // input (N, C, H, W)
  int64_t out_channels, out_h, out_w;      // output (N, C_out, H_out, W_out)
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int groups, deform_groups;

  RBOX_HD int64_t kernel_size() const { return static_cast<int64_t>(kernel_h) * kernel_w; }
  RBOX_HD int64_t out_size() const { return out_h * out_w; }
  // offset channel of the dy of kernel point k in deform group dg (dx is the next one)
  RBOX_HD int64_t offset_channel(int64_t dg, int64_t k) const { return 2 * (dg * kernel_size() + k); }
  // index of the mask value of kernel point k, deform group dg, output pixel l of batch item n in
  // the (N, DG * K, H_out, W_out) mask
  RBOX_HD int64_t mask_index(int64_t n, int64_t dg, int64_t k, int64_t l) const {
    return ((n * deform_groups + dg) * kernel_size() + k) * out_size() + l;
  }
};

// The four taps of a sampling point: positions (y * width + x) on the map, the bilinear weights,
// and their derivatives along h and w. A tap off the map has position 0 and zero weights. The
// sample is mask * sum_q w[q] * x[pos[q]] (mask 1 without one).
template <typename T>
struct DeformTaps {
  int64_t pos[4];
  T w[4], dh[4], dw[4];
  T mask;
};

template <typename T>
RBOX_HD DeformTaps<T> deform_taps(T h, T w, int64_t height, int64_t width) {
  DeformTaps<T> t;
  t.mask = 1;
  for (int q = 0; q < 4; q++) {
    t.pos[q] = 0;
    t.w[q] = t.dh[q] = t.dw[q] = 0;
  }
  // false for NaN too: a non-finite offset samples 0
  if (!(h > -1 && w > -1 && h < static_cast<T>(height) && w < static_cast<T>(width))) return t;
  const int64_t y0 = static_cast<int64_t>(floor(h)), x0 = static_cast<int64_t>(floor(w));
  const int64_t y1 = y0 + 1, x1 = x0 + 1;
  const T lh = h - static_cast<T>(y0), lw = w - static_cast<T>(x0);
  const T hh = 1 - lh, hw = 1 - lw;
  const int64_t ys[4] = {y0, y0, y1, y1}, xs[4] = {x0, x1, x0, x1};
  const T wt[4] = {hh * hw, hh * lw, lh * hw, lh * lw};
  const T dh[4] = {-hw, -lw, hw, lw};
  const T dw[4] = {-hh, hh, -lh, lh};
  for (int q = 0; q < 4; q++) {
    if (ys[q] < 0 || ys[q] >= height || xs[q] < 0 || xs[q] >= width) continue;
    t.pos[q] = ys[q] * width + xs[q];
    t.w[q] = wt[q];
    t.dh[q] = dh[q];
    t.dw[q] = dw[q];
  }
  return t;
}

// The taps of kernel point k of output pixel l = ho * W_out + wo, deform group dg, batch item n;
// `offset` is the (N, 2 * DG * K, H_out, W_out) tensor's data, `mask` the (N, DG * K, H_out, W_out)
// one's or nullptr (no mask: 1).
template <typename T>
RBOX_HD DeformTaps<T> deform_point_taps(const DeformConvShape& s, const T* offset, const T* mask, int64_t n,
                                        int64_t dg, int64_t k, int64_t l) {
  const int64_t L = s.out_size();
  const int64_t ho = l / s.out_w, wo = l % s.out_w;
  const int64_t i = k / s.kernel_w, j = k % s.kernel_w;
  const int64_t oc = s.offset_channel(dg, k);
  const T* off = offset + (n * 2 * s.deform_groups * s.kernel_size() + oc) * L + l;
  const T h = static_cast<T>(ho * s.stride_h - s.pad_h + i * s.dilation_h) + off[0];
  const T w = static_cast<T>(wo * s.stride_w - s.pad_w + j * s.dilation_w) + off[L];
  DeformTaps<T> t = deform_taps(h, w, s.height, s.width);
  if (mask != nullptr) t.mask = mask[s.mask_index(n, dg, k, l)];
  return t;
}

}  // namespace rbox_ops

// deform_conv2d and modulated_deform_conv2d: CPU kernels (the schemas are in csrc/schemas.cpp). One
// implementation for both: the modulated op's mask scales each sample (DeformTaps::mask; none: 1)
// and its bias starts the matmul's sum. Per batch item: the taps of every (output pixel, kernel
// point, deform group) once (common/deform_sampling.h), then columns from the channels-last input,
// so that each tap reads a contiguous channel vector, and a matmul per group. The columns are
// (L, G, K, C / G): row l of group g is the (K, C / G) patch of output pixel l, matching the weight
// permuted to (C_out, kh, kw, C / G).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "common/deform_sampling.h"
#include "common/torch_checks.h"
#include "common/transpose_cpu.h"
#include "deform_conv2d/deform_conv2d_args.h"

namespace rbox_ops {
namespace {

// Channels [c0, c1) are in group g and deform group dg.
struct ChannelRun {
  int64_t g, dg, c0, c1;
};

std::vector<ChannelRun> channel_runs(const DeformConvShape& s) {
  const int64_t cg = s.channels / s.groups, cd = s.channels / s.deform_groups;
  std::vector<ChannelRun> runs;
  for (int64_t g = 0; g < s.groups; g++)
    for (int64_t dg = 0; dg < s.deform_groups; dg++) {
      const int64_t c0 = std::max(g * cg, dg * cd), c1 = std::min((g + 1) * cg, (dg + 1) * cd);
      if (c0 < c1) runs.push_back({g, dg, c0, c1});
    }
  return runs;
}

// taps[(l * K + k) * DG + dg] of batch item n; mask may be nullptr
template <typename T>
void fill_taps(const DeformConvShape& s, const T* offset, const T* mask, int64_t n,
               std::vector<DeformTaps<T>>& taps) {
  const int64_t K = s.kernel_size(), DG = s.deform_groups;
  taps.resize(static_cast<size_t>(s.out_size() * K * DG));
  at::parallel_for(0, s.out_size(), 64, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; l++)
      for (int64_t k = 0; k < K; k++)
        for (int64_t dg = 0; dg < DG; dg++)
          taps[(l * K + k) * DG + dg] = deform_point_taps(s, offset, mask, n, dg, k, l);
  });
}

// Where channel c (of group g) of kernel point k, output pixel l, lands in a columns buffer:
// g * stride_g + l * stride_l + k * C / G + c - g * C / G.
struct ColLayout {
  int64_t stride_l, stride_g;
};

// cols from x (H, W, C), channels-last
template <typename T>
void im2col_cpu(const DeformConvShape& s, const std::vector<ChannelRun>& runs, const std::vector<DeformTaps<T>>& taps,
                const T* x, ColLayout lay, T* cols) {
  const int64_t K = s.kernel_size(), DG = s.deform_groups, C = s.channels, cg = C / s.groups;
  at::parallel_for(0, s.out_size(), 16, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; l++)
      for (int64_t k = 0; k < K; k++)
        for (const ChannelRun& r : runs) {
          const DeformTaps<T>& t = taps[(l * K + k) * DG + r.dg];
          const int64_t lo = r.c0 - r.g * cg, hi = r.c1 - r.g * cg;  // channels within the group
          T* dst = cols + r.g * lay.stride_g + l * lay.stride_l + k * cg;
          std::fill(dst + lo, dst + hi, static_cast<T>(0));
          for (int q = 0; q < 4; q++) {
            const T w = t.w[q] * t.mask;
            if (w == 0) continue;
            const T* src = x + t.pos[q] * C + r.g * cg;
            for (int64_t c = lo; c < hi; c++) dst[c] += w * src[c];
          }
        }
  });
}

// grad_x (H, W, C), channels-last, accumulates grad_cols; threads split the channels.
template <typename T>
void col2im_cpu(const DeformConvShape& s, const std::vector<ChannelRun>& runs, const std::vector<DeformTaps<T>>& taps,
                const T* grad_cols, ColLayout lay, T* grad_x) {
  const int64_t K = s.kernel_size(), DG = s.deform_groups, C = s.channels, cg = C / s.groups;
  at::parallel_for(0, C, 16, [&](int64_t c_begin, int64_t c_end) {
    for (const ChannelRun& r : runs) {
      const int64_t c0 = std::max(r.c0, c_begin), c1 = std::min(r.c1, c_end);
      if (c0 >= c1) continue;
      for (int64_t l = 0; l < s.out_size(); l++)
        for (int64_t k = 0; k < K; k++) {
          const DeformTaps<T>& t = taps[(l * K + k) * DG + r.dg];
          const T* src = grad_cols + r.g * lay.stride_g + l * lay.stride_l + k * cg;
          for (int q = 0; q < 4; q++) {
            const T w = t.w[q] * t.mask;
            if (w == 0) continue;
            T* dst = grad_x + t.pos[q] * C + r.g * cg;
            for (int64_t c = c0 - r.g * cg; c < c1 - r.g * cg; c++) dst[c] += w * src[c];
          }
        }
    }
  });
}

// grad_offset of batch item n (2 * DG * K, L) from grad_cols and x (H, W, C): the derivative of
// each tap's weight along h and w times the sampled value, summed over the deform group's channels,
// times the mask. grad_mask (DG * K, L) of item n, unless nullptr: the unmasked sample times grad_cols.
template <typename T>
void col2im_coord_cpu(const DeformConvShape& s, const std::vector<ChannelRun>& runs,
                      const std::vector<DeformTaps<T>>& taps, const T* grad_cols, ColLayout lay, const T* x,
                      T* grad_offset, T* grad_mask) {
  const int64_t K = s.kernel_size(), DG = s.deform_groups, C = s.channels, cg = C / s.groups, L = s.out_size();
  at::parallel_for(0, L, 16, [&](int64_t begin, int64_t end) {
    std::vector<T> gh(static_cast<size_t>(K * DG)), gw(static_cast<size_t>(K * DG)), gm(static_cast<size_t>(K * DG));
    for (int64_t l = begin; l < end; l++) {
      std::fill(gh.begin(), gh.end(), static_cast<T>(0));
      std::fill(gw.begin(), gw.end(), static_cast<T>(0));
      std::fill(gm.begin(), gm.end(), static_cast<T>(0));
      for (int64_t k = 0; k < K; k++)
        for (const ChannelRun& r : runs) {
          const DeformTaps<T>& t = taps[(l * K + k) * DG + r.dg];
          const T* g = grad_cols + r.g * lay.stride_g + l * lay.stride_l + k * cg;
          for (int q = 0; q < 4; q++) {
            if (t.dh[q] == 0 && t.dw[q] == 0) continue;
            const T* src = x + t.pos[q] * C + r.g * cg;
            T acc = 0;
            for (int64_t c = r.c0 - r.g * cg; c < r.c1 - r.g * cg; c++) acc += src[c] * g[c];
            gh[k * DG + r.dg] += t.dh[q] * acc;
            gw[k * DG + r.dg] += t.dw[q] * acc;
            gm[k * DG + r.dg] += t.w[q] * acc;  // w = 0 where dh = dw = 0 (skipped above)
          }
        }
      for (int64_t k = 0; k < K; k++)
        for (int64_t dg = 0; dg < DG; dg++) {
          const int64_t oc = s.offset_channel(dg, k);
          const T m = taps[(l * K + k) * DG + dg].mask;
          grad_offset[oc * L + l] = m * gh[k * DG + dg];
          grad_offset[(oc + 1) * L + l] = m * gw[k * DG + dg];
          if (grad_mask != nullptr) grad_mask[s.mask_index(0, dg, k, l)] = gm[k * DG + dg];
        }
    }
  });
}

// the weight (C_out, C / G, kh, kw) as (G, C_out / G, K * C / G), matching the columns
at::Tensor weight_as_rows(const at::Tensor& weight, const DeformConvShape& s) {
  return weight.permute({0, 2, 3, 1}).reshape({s.groups, s.out_channels / s.groups, -1});
}

template <typename T>
const T* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Both ops' forward: `mask` and `bias` undefined for deform_conv2d.
at::Tensor forward_cpu(const DeformConvShape& s, const at::Tensor& input, const at::Tensor& offset,
                       const at::Tensor& mask, const at::Tensor& weight, const at::Tensor& bias) {
  auto out = at::empty({s.batch, s.out_channels, s.out_h, s.out_w}, input.options());
  if (out.numel() == 0) return out;
  if (s.channels == 0) return bias.defined() ? out.copy_(bias.view({1, -1, 1, 1}).expand_as(out)) : out.zero_();
  const auto x = nchw_to_nhwc(input);
  const auto off = offset.contiguous();
  const auto msk = mask.defined() ? mask.contiguous() : mask;
  const auto w = weight_as_rows(weight, s);
  const int64_t L = s.out_size(), cgk = s.kernel_size() * s.channels / s.groups, og = s.out_channels / s.groups;
  const auto b = bias.defined() ? bias.reshape({s.groups, og, 1}) : bias;
  const ColLayout lay{s.groups * cgk, cgk};
  auto cols = at::empty({L, s.groups, cgk}, x.options());
  const auto runs = channel_runs(s);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deform_conv2d_cpu", [&] {
    std::vector<DeformTaps<scalar_t>> taps;
    for (int64_t n = 0; n < s.batch; n++) {
      fill_taps(s, off.data_ptr<scalar_t>(), data_or_null<scalar_t>(msk), n, taps);
      im2col_cpu(s, runs, taps, x.data_ptr<scalar_t>() + n * s.height * s.width * s.channels, lay,
                 cols.data_ptr<scalar_t>());
      auto out_n = out.select(0, n).view({s.groups, og, L});
      if (b.defined())
        at::baddbmm_out(out_n, b, w, cols.permute({1, 2, 0}));
      else
        at::bmm_out(out_n, w, cols.permute({1, 2, 0}));
    }
  });
  return out;
}

// Both ops' backward: the gradients of input, offset, mask (undefined without one) and weight.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cpu(const DeformConvShape& s,
                                                                        const at::Tensor& grad_output,
                                                                        const at::Tensor& input,
                                                                        const at::Tensor& offset,
                                                                        const at::Tensor& mask,
                                                                        const at::Tensor& weight) {
  const auto go = grad_output.to(input.scalar_type()).contiguous();
  const auto x = nchw_to_nhwc(input);
  const auto off = offset.contiguous();
  const auto msk = mask.defined() ? mask.contiguous() : mask;
  const auto w = weight_as_rows(weight, s).contiguous();
  const int64_t L = s.out_size(), cgk = s.kernel_size() * s.channels / s.groups, og = s.out_channels / s.groups;
  auto grad_x = at::zeros_like(x);
  auto grad_offset = at::zeros_like(off);
  auto grad_mask = msk.defined() ? at::zeros_like(msk) : at::Tensor();
  auto grad_w = at::zeros_like(w);
  if (go.numel() > 0 && x.numel() > 0) {
    auto cols = at::empty({L, s.groups, cgk}, x.options());
    auto grad_cols = at::empty({s.groups, L, cgk}, x.options());
    const ColLayout lay{s.groups * cgk, cgk}, grad_lay{cgk, L * cgk};
    const auto runs = channel_runs(s);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deform_conv2d_backward_cpu", [&] {
      std::vector<DeformTaps<scalar_t>> taps;
      const int64_t plane = s.height * s.width * s.channels, offset_plane = 2 * s.deform_groups * s.kernel_size() * L;
      for (int64_t n = 0; n < s.batch; n++) {
        fill_taps(s, off.data_ptr<scalar_t>(), data_or_null<scalar_t>(msk), n, taps);
        const scalar_t* x_n = x.data_ptr<scalar_t>() + n * plane;
        im2col_cpu(s, runs, taps, x_n, lay, cols.data_ptr<scalar_t>());
        const auto go_n = go.select(0, n).view({s.groups, og, L});
        grad_w.add_(at::bmm(go_n, cols.permute({1, 0, 2})));
        at::bmm_out(grad_cols, go_n.transpose(1, 2), w);
        col2im_cpu(s, runs, taps, grad_cols.data_ptr<scalar_t>(), grad_lay, grad_x.data_ptr<scalar_t>() + n * plane);
        scalar_t* grad_mask_n = grad_mask.defined() ? grad_mask.data_ptr<scalar_t>() + n * offset_plane / 2 : nullptr;
        col2im_coord_cpu(s, runs, taps, grad_cols.data_ptr<scalar_t>(), grad_lay, x_n,
                         grad_offset.data_ptr<scalar_t>() + n * offset_plane, grad_mask_n);
      }
    });
  }
  auto grad_weight = grad_w.view({s.out_channels, s.kernel_h, s.kernel_w, s.channels / s.groups})
                         .permute({0, 3, 1, 2})
                         .contiguous();
  return {nhwc_to_nchw(grad_x), grad_offset, grad_mask, grad_weight};
}

at::Tensor deform_conv2d_cpu(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
                             int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                             int64_t dilation_w, int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(offset);
  RBOX_CHECK_CPU(weight);
  const DeformConvShape s = deform_conv2d_shape("deform_conv2d", input, offset, weight, stride_h, stride_w, pad_h,
                                                pad_w, dilation_h, dilation_w, groups, deform_groups);
  return forward_cpu(s, input, offset, at::Tensor(), weight, at::Tensor());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight,
    int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
    int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CPU(grad_output);
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(offset);
  RBOX_CHECK_CPU(weight);
  const DeformConvShape s = deform_conv2d_shape("deform_conv2d_backward", input, offset, weight, stride_h, stride_w,
                                                pad_h, pad_w, dilation_h, dilation_w, groups, deform_groups);
  check_grad_output("deform_conv2d_backward", s, grad_output);
  auto grads = backward_cpu(s, grad_output, input, offset, at::Tensor(), weight);
  return {std::get<0>(grads), std::get<1>(grads), std::get<3>(grads)};
}

at::Tensor modulated_deform_conv2d_cpu(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                                       const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                       int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                       int64_t dilation_h, int64_t dilation_w, int64_t groups,
                                       int64_t deform_groups) {
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(offset);
  RBOX_CHECK_CPU(weight);
  const char* op = "modulated_deform_conv2d";
  const DeformConvShape s = deform_conv2d_shape(op, input, offset, weight, stride_h, stride_w, pad_h, pad_w,
                                                dilation_h, dilation_w, groups, deform_groups);
  check_mask_and_bias(op, s, input, mask, bias);
  return forward_cpu(s, input, offset, mask, weight, bias.value_or(at::Tensor()));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> modulated_deform_conv2d_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
    const at::Tensor& weight, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
    int64_t dilation_w, int64_t groups, int64_t deform_groups) {
  RBOX_CHECK_CPU(grad_output);
  RBOX_CHECK_CPU(input);
  RBOX_CHECK_CPU(offset);
  RBOX_CHECK_CPU(weight);
  const char* op = "modulated_deform_conv2d_backward";
  const DeformConvShape s = deform_conv2d_shape(op, input, offset, weight, stride_h, stride_w, pad_h, pad_w,
                                                dilation_h, dilation_w, groups, deform_groups);
  check_mask_and_bias(op, s, input, mask, std::nullopt);
  check_grad_output(op, s, grad_output);
  return backward_cpu(s, grad_output, input, offset, mask, weight);
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("deform_conv2d", &deform_conv2d_cpu);
  m.impl("deform_conv2d_backward", &deform_conv2d_backward_cpu);
  m.impl("modulated_deform_conv2d", &modulated_deform_conv2d_cpu);
  m.impl("modulated_deform_conv2d_backward", &modulated_deform_conv2d_backward_cpu);
}

}  // namespace rbox_ops

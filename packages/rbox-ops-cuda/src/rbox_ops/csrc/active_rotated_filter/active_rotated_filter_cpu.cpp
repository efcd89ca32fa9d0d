// active_rotated_filter: CPU kernels (the schemas are in csrc/schemas.cpp).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "active_rotated_filter/active_rotated_filter.h"
#include "active_rotated_filter/active_rotated_filter_glue.h"

namespace rbox_ops {
namespace {

constexpr int64_t kGrain = 4096;

at::Tensor active_rotated_filter_cpu(const at::Tensor& input, const at::Tensor& indices) {
  RBOX_CHECK_CPU(input);
  const ArfSizes s = arf_forward_sizes(input, indices);
  const auto w = input.contiguous();
  const auto idx = indices.contiguous();
  auto out = at::zeros({s.planes_out * s.rotations, s.planes_in * s.orientations, s.kh, s.kw}, w.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "active_rotated_filter_cpu", [&] {
    const scalar_t* pw = w.data_ptr<scalar_t>();
    const int32_t* pi = idx.data_ptr<int32_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    at::parallel_for(0, s.n_weight(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; n++) arf_forward_one(pw, pi, po, n, s.planes_in, s.entries, s.rotations);
    });
  });
  return out;
}

at::Tensor active_rotated_filter_backward_cpu(const at::Tensor& grad_output, const at::Tensor& indices) {
  RBOX_CHECK_CPU(grad_output);
  const ArfSizes s = arf_backward_sizes(grad_output, indices);
  const auto g = grad_output.contiguous();
  const auto idx = indices.contiguous();
  auto grad = at::empty({s.planes_out, s.planes_in, s.orientations, s.kh, s.kw}, g.options());
  if (grad.numel() == 0) return grad;
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "active_rotated_filter_backward_cpu", [&] {
    const scalar_t* pg = g.data_ptr<scalar_t>();
    const int32_t* pi = idx.data_ptr<int32_t>();
    scalar_t* out = grad.data_ptr<scalar_t>();
    at::parallel_for(0, s.n_weight(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; n++) out[n] = arf_backward_one(pg, pi, n, s.planes_in, s.entries, s.rotations);
    });
  });
  return grad;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("active_rotated_filter", &active_rotated_filter_cpu);
  m.impl("active_rotated_filter_backward", &active_rotated_filter_backward_cpu);
}

}  // namespace rbox_ops

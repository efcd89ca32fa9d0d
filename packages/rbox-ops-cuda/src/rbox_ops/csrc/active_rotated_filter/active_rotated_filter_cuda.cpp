// active_rotated_filter: CUDA registration glue (compiled only for a CUDA build of torch).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "active_rotated_filter/active_rotated_filter_cuda.h"
#include "active_rotated_filter/active_rotated_filter_glue.h"

namespace rbox_ops {
namespace {

at::Tensor active_rotated_filter_cuda(const at::Tensor& input, const at::Tensor& indices) {
  RBOX_CHECK_CUDA(input);
  const ArfSizes s = arf_forward_sizes(input, indices);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto w = input.contiguous();
  const auto idx = indices.contiguous();
  auto out = at::zeros({s.planes_out * s.rotations, s.planes_in * s.orientations, s.kh, s.kw}, w.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "active_rotated_filter_cuda", [&] {
    launch_active_rotated_filter_forward<scalar_t>(w.data_ptr<scalar_t>(), idx.data_ptr<int32_t>(),
                                                   out.data_ptr<scalar_t>(), s.n_weight(), s.planes_in, s.entries,
                                                   s.rotations, c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor active_rotated_filter_backward_cuda(const at::Tensor& grad_output, const at::Tensor& indices) {
  RBOX_CHECK_CUDA(grad_output);
  const ArfSizes s = arf_backward_sizes(grad_output, indices);
  const c10::cuda::CUDAGuard guard(grad_output.device());
  const auto g = grad_output.contiguous();
  const auto idx = indices.contiguous();
  auto grad = at::empty({s.planes_out, s.planes_in, s.orientations, s.kh, s.kw}, g.options());
  if (grad.numel() == 0) return grad;
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "active_rotated_filter_backward_cuda", [&] {
    launch_active_rotated_filter_backward<scalar_t>(g.data_ptr<scalar_t>(), idx.data_ptr<int32_t>(),
                                                    grad.data_ptr<scalar_t>(), s.n_weight(), s.planes_in,
                                                    s.entries, s.rotations, c10::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad;
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("active_rotated_filter", &active_rotated_filter_cuda);
  m.impl("active_rotated_filter_backward", &active_rotated_filter_backward_cuda);
}

}  // namespace rbox_ops

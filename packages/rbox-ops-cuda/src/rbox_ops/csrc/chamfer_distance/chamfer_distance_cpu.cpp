// chamfer_distance: CPU kernels (the schemas are in csrc/schemas.cpp).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "common/nearest_point.h"
#include "common/torch_checks.h"

namespace rbox_ops {
namespace {

void check_points(const at::Tensor& xyz1, const at::Tensor& xyz2) {
  RBOX_CHECK_CPU(xyz1);
  RBOX_CHECK_CPU(xyz2);
  RBOX_CHECK_FLOAT(xyz1);
  TORCH_CHECK(xyz1.dim() == 3 && xyz1.size(2) == 2, "xyz1 must have shape (B, N, 2), got ", xyz1.sizes());
  TORCH_CHECK(xyz2.dim() == 3 && xyz2.size(2) == 2 && xyz2.size(0) == xyz1.size(0),
              "xyz2 must have shape (B, M, 2) with B = ", xyz1.size(0), ", got ", xyz2.sizes());
  TORCH_CHECK(xyz2.scalar_type() == xyz1.scalar_type(), "xyz2 must have the dtype of xyz1");
}

// dist/idx of each point of a against c (one direction).
template <typename scalar_t>
void nearest_all(const scalar_t* a, const scalar_t* c, scalar_t* dist, int32_t* idx, int64_t b, int64_t n,
                 int64_t m) {
  at::parallel_for(0, b * n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; t++) {
      const int64_t batch = t / n;
      scalar_t best;
      const int64_t arg = nearest_point(a[2 * t], a[2 * t + 1], c + 2 * m * batch, m, best);
      idx[t] = static_cast<int32_t>(arg);
      const bool finite = is_finite(a[2 * t]) && is_finite(a[2 * t + 1]);
      dist[t] = arg >= 0 ? best
                         : (finite ? std::numeric_limits<scalar_t>::infinity()
                                   : std::numeric_limits<scalar_t>::quiet_NaN());
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> chamfer_distance_cpu(const at::Tensor& xyz1,
                                                                                const at::Tensor& xyz2) {
  check_points(xyz1, xyz2);
  const auto a = xyz1.contiguous(), c = xyz2.contiguous();
  const int64_t b = a.size(0), n = a.size(1), m = c.size(1);
  auto dist1 = at::empty({b, n}, a.options()), dist2 = at::empty({b, m}, a.options());
  auto idx1 = at::empty({b, n}, a.options().dtype(at::kInt)), idx2 = at::empty({b, m}, a.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "chamfer_distance_cpu", [&] {
    nearest_all(a.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), dist1.data_ptr<scalar_t>(), idx1.data_ptr<int32_t>(),
                b, n, m);
    nearest_all(c.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), dist2.data_ptr<scalar_t>(), idx2.data_ptr<int32_t>(),
                b, m, n);
  });
  return {dist1, dist2, idx1, idx2};
}

// grad_a += 2 g (a - c[idx]), grad_c[idx] -= the same; one batch per task (no races).
template <typename scalar_t>
void backward_one_way(const scalar_t* a, const scalar_t* c, const int32_t* idx, const scalar_t* g, scalar_t* grad_a,
                      scalar_t* grad_c, int64_t b, int64_t n, int64_t m) {
  at::parallel_for(0, b, 1, [&](int64_t begin, int64_t end) {
    for (int64_t batch = begin; batch < end; batch++) {
      for (int64_t i = batch * n; i < (batch + 1) * n; i++) {
        const int32_t j = idx[i];
        if (j < 0) continue;
        const int64_t q = batch * m + j;
        const scalar_t gx = 2 * g[i] * (a[2 * i] - c[2 * q]), gy = 2 * g[i] * (a[2 * i + 1] - c[2 * q + 1]);
        grad_a[2 * i] += gx, grad_a[2 * i + 1] += gy;
        grad_c[2 * q] -= gx, grad_c[2 * q + 1] -= gy;
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> chamfer_distance_backward_cpu(const at::Tensor& xyz1, const at::Tensor& xyz2,
                                                                 const at::Tensor& idx1, const at::Tensor& idx2,
                                                                 const at::Tensor& grad_dist1,
                                                                 const at::Tensor& grad_dist2) {
  check_points(xyz1, xyz2);
  const auto a = xyz1.contiguous(), c = xyz2.contiguous();
  const int64_t b = a.size(0), n = a.size(1), m = c.size(1);
  TORCH_CHECK(idx1.sizes() == at::IntArrayRef({b, n}) && idx2.sizes() == at::IntArrayRef({b, m}),
              "idx1/idx2 must have shapes (B, N)/(B, M)");
  const auto i1 = idx1.contiguous().to(at::kInt), i2 = idx2.contiguous().to(at::kInt);
  const auto g1 = grad_dist1.contiguous().to(a.scalar_type()), g2 = grad_dist2.contiguous().to(a.scalar_type());
  auto grad1 = at::zeros_like(a), grad2 = at::zeros_like(c);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "chamfer_distance_backward_cpu", [&] {
    backward_one_way(a.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), i1.data_ptr<int32_t>(), g1.data_ptr<scalar_t>(),
                     grad1.data_ptr<scalar_t>(), grad2.data_ptr<scalar_t>(), b, n, m);
    backward_one_way(c.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), i2.data_ptr<int32_t>(), g2.data_ptr<scalar_t>(),
                     grad2.data_ptr<scalar_t>(), grad1.data_ptr<scalar_t>(), b, m, n);
  });
  return {grad1, grad2};
}

}  // namespace

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("chamfer_distance", &chamfer_distance_cpu);
  m.impl("chamfer_distance_backward", &chamfer_distance_backward_cpu);
}

}  // namespace rbox_ops

// Forward-mode dual numbers on host and device: a value and its gradient w.r.t. N inputs.
// convex_giou runs its geometry on Dual<18> to get d GIoU / d (18 point coordinates) with the
// same branches as the value (the torch code gets the same gradient from autograd).
#pragma once

#include "macros.h"

namespace rbox_ops {

template <int N>
struct Dual {
  double v;
  double d[N];

  RBOX_HD Dual() : v(0) {
    for (int i = 0; i < N; i++) d[i] = 0;
  }
  RBOX_HD Dual(double value) : v(value) {  // NOLINT: a constant converts implicitly
    for (int i = 0; i < N; i++) d[i] = 0;
  }
  // the input number `index`
  static RBOX_HD Dual variable(double value, int index) {
    Dual out(value);
    out.d[index] = 1;
    return out;
  }
};

RBOX_HD double value(double x) { return x; }
template <int N>
RBOX_HD double value(const Dual<N>& x) {
  return x.v;
}

template <int N>
RBOX_HD Dual<N> operator+(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> o(a.v + b.v);
  for (int i = 0; i < N; i++) o.d[i] = a.d[i] + b.d[i];
  return o;
}
template <int N>
RBOX_HD Dual<N> operator-(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> o(a.v - b.v);
  for (int i = 0; i < N; i++) o.d[i] = a.d[i] - b.d[i];
  return o;
}
template <int N>
RBOX_HD Dual<N> operator*(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> o(a.v * b.v);
  for (int i = 0; i < N; i++) o.d[i] = a.d[i] * b.v + a.v * b.d[i];
  return o;
}
template <int N>
RBOX_HD Dual<N> operator/(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> o(a.v / b.v);
  for (int i = 0; i < N; i++) o.d[i] = (a.d[i] - o.v * b.d[i]) / b.v;
  return o;
}

}  // namespace rbox_ops

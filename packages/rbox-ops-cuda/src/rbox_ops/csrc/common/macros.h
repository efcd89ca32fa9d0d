// Host/device qualifiers shared by the C++ (CPU) and CUDA kernels.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define RBOX_HD __host__ __device__ __forceinline__
#else
#define RBOX_HD inline
#endif

namespace rbox_ops {

// True iff x is neither NaN nor +-inf (no <cmath> classification needed on the device).
template <typename T>
RBOX_HD bool is_finite(T x) {
  const T d = x - x;
  return d == d;
}

}  // namespace rbox_ops

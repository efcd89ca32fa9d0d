// deform_conv2d and modulated_deform_conv2d: CUDA kernels and DeformConvCuda (deform_conv2d.h); plain
// CUDA, no torch headers. The sampling is common/deform_sampling.h's, as on the CPU; `mask` may be
// nullptr (deform_conv2d).
#include "deform_conv2d/deform_conv2d.h"

namespace rbox_ops {
namespace {

// one thread per (c, k, l): cols[(c * K + k) * L + l]
template <typename T>
__global__ void deform_im2col_kernel(int64_t total, const T* input, const T* offset, const T* mask, int64_t n,
                                     DeformConvShape s, T* cols) {
  const int64_t K = s.kernel_size(), L = s.out_size(), cd = s.channels / s.deform_groups;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t l = index % L, k = (index / L) % K, c = index / L / K;
    const DeformTaps<T> t = deform_point_taps(s, offset, mask, n, c / cd, k, l);
    const T* in = input + (n * s.channels + c) * s.height * s.width;
    cols[index] =
        t.mask * (t.w[0] * in[t.pos[0]] + t.w[1] * in[t.pos[1]] + t.w[2] * in[t.pos[2]] + t.w[3] * in[t.pos[3]]);
  }
}

// one thread per (c, k, l): scatter grad_cols[(c * K + k) * L + l] to the taps
template <typename T>
__global__ void deform_col2im_kernel(int64_t total, const T* grad_cols, const T* offset, const T* mask, int64_t n,
                                     DeformConvShape s, T* grad_input) {
  const int64_t K = s.kernel_size(), L = s.out_size(), cd = s.channels / s.deform_groups;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t l = index % L, k = (index / L) % K, c = index / L / K;
    const DeformTaps<T> t = deform_point_taps(s, offset, mask, n, c / cd, k, l);
    T* gi = grad_input + (n * s.channels + c) * s.height * s.width;
    const T g = grad_cols[index] * t.mask;
    for (int q = 0; q < 4; q++)
      if (t.w[q] != 0) atomicAdd(gi + t.pos[q], t.w[q] * g);
  }
}

// one thread per (dg, k, l): both offsets (dy, dx) of kernel point k, summed over the group's channels,
// and the mask's gradient (the unmasked sample times grad_cols) where grad_mask is not nullptr
template <typename T>
__global__ void deform_col2im_coord_kernel(int64_t total, const T* grad_cols, const T* input, const T* offset,
                                           const T* mask, int64_t n, DeformConvShape s, T* grad_offset,
                                           T* grad_mask) {
  const int64_t K = s.kernel_size(), L = s.out_size(), cd = s.channels / s.deform_groups;
  const int64_t plane = s.height * s.width;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t l = index % L, k = (index / L) % K, dg = index / L / K;
    const DeformTaps<T> t = deform_point_taps(s, offset, mask, n, dg, k, l);
    T gh = 0, gw = 0, gm = 0;
    for (int64_t c = dg * cd; c < (dg + 1) * cd; c++) {
      const T* in = input + (n * s.channels + c) * plane;
      const T g = grad_cols[(c * K + k) * L + l];
      for (int q = 0; q < 4; q++) {
        const T v = in[t.pos[q]] * g;
        gh += t.dh[q] * v;
        gw += t.dw[q] * v;
        gm += t.w[q] * v;
      }
    }
    const int64_t oc = s.offset_channel(dg, k);
    T* go = grad_offset + n * 2 * s.deform_groups * K * L;
    go[oc * L + l] = t.mask * gh;
    go[(oc + 1) * L + l] = t.mask * gw;
    if (grad_mask != nullptr) grad_mask[s.mask_index(n, dg, k, l)] = gm;
  }
}

inline int deform_blocks(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 4096 * 64 ? blocks : 4096 * 64);
}

}  // namespace

template <typename T>
void DeformConvCuda<T>::im2col(const T* input, const T* offset, const T* mask, int64_t n, const DeformConvShape& s,
                               T* cols, cudaStream_t stream) {
  const int64_t total = s.channels * s.kernel_size() * s.out_size();
  if (total == 0) return;
  deform_im2col_kernel<T><<<deform_blocks(total, 256), 256, 0, stream>>>(total, input, offset, mask, n, s, cols);
}

template <typename T>
void DeformConvCuda<T>::col2im(const T* grad_cols, const T* offset, const T* mask, int64_t n,
                               const DeformConvShape& s, T* grad_input, cudaStream_t stream) {
  const int64_t total = s.channels * s.kernel_size() * s.out_size();
  if (total == 0) return;
  deform_col2im_kernel<T><<<deform_blocks(total, 256), 256, 0, stream>>>(total, grad_cols, offset, mask, n, s,
                                                                               grad_input);
}

template <typename T>
void DeformConvCuda<T>::col2im_coord(const T* grad_cols, const T* input, const T* offset, const T* mask, int64_t n,
                                     const DeformConvShape& s, T* grad_offset, T* grad_mask, cudaStream_t stream) {
  const int64_t total = s.deform_groups * s.kernel_size() * s.out_size();
  if (total == 0) return;
  deform_col2im_coord_kernel<T><<<deform_blocks(total, 256), 256, 0, stream>>>(
      total, grad_cols, input, offset, mask, n, s, grad_offset, grad_mask);
}

template struct DeformConvCuda<float>;
template struct DeformConvCuda<double>;

}  // namespace rbox_ops

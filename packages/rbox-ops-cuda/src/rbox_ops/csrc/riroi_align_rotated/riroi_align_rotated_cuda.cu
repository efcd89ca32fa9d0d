// riroi_align_rotated: CUDA kernels, one thread per output value (n, c * O + o, ph, pw) as mmcv's;
// the sampling (common/roi_sampling.h) and the orientation mix (riroi_align_rotated.h) are the
// host/device code that the CPU kernels run too. Plain CUDA, no torch headers.
#include <cstdint>

#include "riroi_align_rotated/riroi_align_rotated_cuda.h"

namespace rbox_ops {
namespace {

template <typename T>
__global__ void riroi_forward_kernel(int64_t total, const T* input, const T* rois, int channels, int height,
                                     int width, RiRoiAlignRotatedParams p, T* out) {
  const int pooled_h = p.pooled_h, pooled_w = p.pooled_w, O = p.num_orientations;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_w;
    const int ph = (index / pooled_w) % pooled_h;
    const int c = (index / pooled_w / pooled_h) % channels;
    const int64_t n = index / pooled_w / pooled_h / channels;
    const T* roi = rois + n * RiRoiAlignRotatedParams::roi_dim;
    const RoiGeom<T> g = p(roi);
    if (g.batch < 0) {
      out[index] = 0;
      continue;
    }
    const OrientationMix<T> mix = orientation_mix(roi[5], O);
    const int group = c - c % O, low = rotated_orientation(c % O, mix.shift, O), high = (low + 1) % O;
    const int64_t hw = static_cast<int64_t>(height) * width;
    const T* in_low = input + (static_cast<int64_t>(g.batch) * channels + group + low) * hw;
    const T* in_high = input + (static_cast<int64_t>(g.batch) * channels + group + high) * hw;
    T acc = 0;
    for (int iy = 0; iy < g.grid_h; iy++)
      for (int ix = 0; ix < g.grid_w; ix++) {
        const Bilinear<T> b = roi_sample(g, ph, pw, iy, ix, height, width);
        acc += mix.w_low * bilinear_value(in_low, b) + mix.w_high * bilinear_value(in_high, b);
      }
    const int grid = g.grid_h * g.grid_w;
    out[index] = acc / static_cast<T>(grid > 1 ? grid : 1);
  }
}

template <typename T>
__global__ void riroi_backward_kernel(int64_t total, const T* grad_out, const T* rois, int channels, int height,
                                      int width, RiRoiAlignRotatedParams p, T* grad_input) {
  const int pooled_h = p.pooled_h, pooled_w = p.pooled_w, O = p.num_orientations;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_w;
    const int ph = (index / pooled_w) % pooled_h;
    const int c = (index / pooled_w / pooled_h) % channels;
    const int64_t n = index / pooled_w / pooled_h / channels;
    const T* roi = rois + n * RiRoiAlignRotatedParams::roi_dim;
    const RoiGeom<T> g = p(roi);
    if (g.batch < 0) continue;
    const OrientationMix<T> mix = orientation_mix(roi[5], O);
    const int group = c - c % O, low = rotated_orientation(c % O, mix.shift, O), high = (low + 1) % O;
    const int64_t hw = static_cast<int64_t>(height) * width;
    T* gi_low = grad_input + (static_cast<int64_t>(g.batch) * channels + group + low) * hw;
    T* gi_high = grad_input + (static_cast<int64_t>(g.batch) * channels + group + high) * hw;
    const int grid = g.grid_h * g.grid_w;
    const T gv = grad_out[index] / static_cast<T>(grid > 1 ? grid : 1);
    const T g_low = gv * mix.w_low, g_high = gv * mix.w_high;
    for (int iy = 0; iy < g.grid_h; iy++)
      for (int ix = 0; ix < g.grid_w; ix++) {
        const Bilinear<T> b = roi_sample(g, ph, pw, iy, ix, height, width);
        for (int q = 0; q < 4; q++) {
          if (b.w[q] == 0) continue;
          atomicAdd(gi_low + b.pos[q], b.w[q] * g_low);
          atomicAdd(gi_high + b.pos[q], b.w[q] * g_high);
        }
      }
  }
}

inline int blocks_for(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 4096 * 64 ? blocks : 4096 * 64);
}

}  // namespace

template <typename T>
void RiRoiAlignRotatedCuda<T>::forward(const T* input, const T* rois, const RoiPoolShape& s,
                                       const RiRoiAlignRotatedParams& p, T* out, cudaStream_t stream) {
  const int64_t total = s.n_rois * s.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  riroi_forward_kernel<T><<<blocks_for(total, 256), 256, 0, stream>>>(
      total, input, rois, static_cast<int>(s.channels), static_cast<int>(s.height), static_cast<int>(s.width), p,
      out);
}

template <typename T>
void RiRoiAlignRotatedCuda<T>::backward(const T* grad_out, const T* rois, const RoiPoolShape& s,
                                        const RiRoiAlignRotatedParams& p, T* grad_input, cudaStream_t stream) {
  const int64_t total = s.n_rois * s.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  riroi_backward_kernel<T><<<blocks_for(total, 256), 256, 0, stream>>>(
      total, grad_out, rois, static_cast<int>(s.channels), static_cast<int>(s.height), static_cast<int>(s.width),
      p, grad_input);
}

template struct RiRoiAlignRotatedCuda<float>;
template struct RiRoiAlignRotatedCuda<double>;

}  // namespace rbox_ops

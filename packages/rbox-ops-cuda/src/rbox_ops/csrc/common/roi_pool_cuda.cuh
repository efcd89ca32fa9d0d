// CUDA forward/backward of bilinear RoI average pooling (device only; .cu files): the
// kernels and RoiPoolCuda (roi_pool_launch.h). `Params` maps a RoI row to its RoiGeom (see
// roi_sampling.h); an op's .cu file instantiates RoiPoolCuda<float/double, Params>.
#pragma once

#include <cstdint>

#include "roi_pool_launch.h"
#include "roi_sampling.h"

namespace rbox_ops {

template <typename T, typename Params>
__global__ void roi_pool_forward_kernel(int64_t total, const T* input, const T* rois, int channels, int height,
                                        int width, Params p, T* out) {
  const int pooled_h = p.pooled_h, pooled_w = p.pooled_w;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_w;
    const int ph = (index / pooled_w) % pooled_h;
    const int c = (index / pooled_w / pooled_h) % channels;
    const int64_t n = index / pooled_w / pooled_h / channels;
    const RoiGeom<T> g = p(rois + n * Params::roi_dim);
    if (g.batch < 0) {
      out[index] = 0;
      continue;
    }
    const T* in = input + (static_cast<int64_t>(g.batch) * channels + c) * height * width;
    T acc = 0;
    for (int iy = 0; iy < g.grid_h; iy++)
      for (int ix = 0; ix < g.grid_w; ix++) {
        const Bilinear<T> b = roi_sample(g, ph, pw, iy, ix, height, width);
        acc += b.w[0] * in[b.pos[0]] + b.w[1] * in[b.pos[1]] + b.w[2] * in[b.pos[2]] + b.w[3] * in[b.pos[3]];
      }
    const int grid = g.grid_h * g.grid_w;
    out[index] = acc / static_cast<T>(grid > 1 ? grid : 1);
  }
}

template <typename T, typename Params>
__global__ void roi_pool_backward_kernel(int64_t total, const T* grad_out, const T* rois, int channels, int height,
                                         int width, Params p, T* grad_input) {
  const int pooled_h = p.pooled_h, pooled_w = p.pooled_w;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int pw = index % pooled_w;
    const int ph = (index / pooled_w) % pooled_h;
    const int c = (index / pooled_w / pooled_h) % channels;
    const int64_t n = index / pooled_w / pooled_h / channels;
    const RoiGeom<T> g = p(rois + n * Params::roi_dim);
    if (g.batch < 0) continue;
    T* gi = grad_input + (static_cast<int64_t>(g.batch) * channels + c) * height * width;
    const int grid = g.grid_h * g.grid_w;
    const T gv = grad_out[index] / static_cast<T>(grid > 1 ? grid : 1);
    for (int iy = 0; iy < g.grid_h; iy++)
      for (int ix = 0; ix < g.grid_w; ix++) {
        const Bilinear<T> b = roi_sample(g, ph, pw, iy, ix, height, width);
        for (int q = 0; q < 4; q++)
          if (b.w[q] != 0) atomicAdd(gi + b.pos[q], b.w[q] * gv);
      }
  }
}

inline int roi_pool_blocks(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 4096 * 64 ? blocks : 4096 * 64);
}

template <typename T, typename Params>
void RoiPoolCuda<T, Params>::forward(const T* input, const T* rois, const RoiPoolShape& s, const Params& p, T* out,
                                     cudaStream_t stream) {
  const int64_t total = s.n_rois * s.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  roi_pool_forward_kernel<T, Params><<<roi_pool_blocks(total, 256), 256, 0, stream>>>(
      total, input, rois, static_cast<int>(s.channels), static_cast<int>(s.height), static_cast<int>(s.width), p,
      out);
}

template <typename T, typename Params>
void RoiPoolCuda<T, Params>::backward(const T* grad_out, const T* rois, const RoiPoolShape& s, const Params& p,
                                      T* grad_input, cudaStream_t stream) {
  const int64_t total = s.n_rois * s.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  roi_pool_backward_kernel<T, Params><<<roi_pool_blocks(total, 256), 256, 0, stream>>>(
      total, grad_out, rois, static_cast<int>(s.channels), static_cast<int>(s.height), static_cast<int>(s.width),
      p, grad_input);
}

}  // namespace rbox_ops

// rotated_feature_align: CUDA kernels and launchers (plain CUDA, no torch headers). One thread
// per output value, as mmcv; the backward scatters with atomicAdd.
#include "common/feature_align.h"
#include "rotated_feature_align/rotated_feature_align.h"

namespace rbox_ops {
namespace {

template <typename T>
__global__ void rotated_feature_align_forward_kernel(int64_t total, const T* features, const T* boxes, int channels,
                                                     int height, int width, T scale, int points, T* out) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t pixel = index % plane;
    const int64_t nc = index / plane;
    const int64_t n = nc / channels;
    const FeatureAlignTaps<T> t = feature_align_taps(boxes + (n * plane + pixel) * 5, scale, points, height, width);
    const T* src = features + nc * plane;
    T v = features[index];
    for (int k = 0; k < t.n; k++) v += bilinear_value(src, t.b[k]);
    out[index] = v;
  }
}

template <typename T>
__global__ void rotated_feature_align_backward_kernel(int64_t total, const T* grad_output, const T* boxes,
                                                      int channels, int height, int width, T scale, int points,
                                                      T* grad_features) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t pixel = index % plane;
    const int64_t nc = index / plane;
    const int64_t n = nc / channels;
    const FeatureAlignTaps<T> t = feature_align_taps(boxes + (n * plane + pixel) * 5, scale, points, height, width);
    T* dst = grad_features + nc * plane;
    const T g = grad_output[index];
    atomicAdd(grad_features + index, g);
    for (int k = 0; k < t.n; k++)
      for (int q = 0; q < 4; q++) atomicAdd(dst + t.b[k].pos[q], g * t.b[k].w[q]);
  }
}

int grid_size(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 4096 * 64 ? blocks : 4096 * 64);
}

}  // namespace

template <typename T>
void launch_rotated_feature_align_forward(const T* features, const T* boxes, const FeatureAlignShape& s,
                                          T spatial_scale, int points, T* out, cudaStream_t stream) {
  const int64_t total = s.n * s.channels * s.height * s.width;
  if (total == 0) return;
  rotated_feature_align_forward_kernel<T><<<grid_size(total, 256), 256, 0, stream>>>(
      total, features, boxes, static_cast<int>(s.channels), static_cast<int>(s.height), static_cast<int>(s.width),
      spatial_scale, points, out);
}

template <typename T>
void launch_rotated_feature_align_backward(const T* grad_output, const T* boxes, const FeatureAlignShape& s,
                                           T spatial_scale, int points, T* grad_features, cudaStream_t stream) {
  const int64_t total = s.n * s.channels * s.height * s.width;
  if (total == 0) return;
  rotated_feature_align_backward_kernel<T><<<grid_size(total, 256), 256, 0, stream>>>(
      total, grad_output, boxes, static_cast<int>(s.channels), static_cast<int>(s.height),
      static_cast<int>(s.width), spatial_scale, points, grad_features);
}

template void launch_rotated_feature_align_forward<float>(const float*, const float*, const FeatureAlignShape&, float,
                                                          int, float*, cudaStream_t);
template void launch_rotated_feature_align_forward<double>(const double*, const double*, const FeatureAlignShape&,
                                                           double, int, double*, cudaStream_t);
template void launch_rotated_feature_align_backward<float>(const float*, const float*, const FeatureAlignShape&,
                                                           float, int, float*, cudaStream_t);
template void launch_rotated_feature_align_backward<double>(const double*, const double*, const FeatureAlignShape&,
                                                            double, int, double*, cudaStream_t);

}  // namespace rbox_ops

// roi_align: CUDA kernels and launchers (plain CUDA, no torch headers).
#include "common/roi_pool_cuda.cuh"
#include "roi_align/roi_align.h"

namespace rbox_ops {
namespace {

template <typename T>
struct Geom {
  roi_align_params p;
  __device__ RoiGeom<T> operator()(const T* roi) const {
    return aligned_roi_geom(roi, p.batch, static_cast<T>(p.spatial_scale), p.pooled_h, p.pooled_w, p.sampling_ratio, p.aligned);
  }
};

}  // namespace

template <typename T>
void launch_roi_align_forward(const T* input, const T* rois, int64_t n_rois, const roi_align_params& p, T* out,
                          cudaStream_t stream) {
  const int64_t total = n_rois * p.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  roi_pool_forward_kernel<T><<<roi_pool_blocks(total, 256), 256, 0, stream>>>(
      total, input, rois, 5, p.channels, p.height, p.width, p.pooled_h, p.pooled_w, Geom<T>{p}, out);
}

template <typename T>
void launch_roi_align_backward(const T* grad_out, const T* rois, int64_t n_rois, const roi_align_params& p, T* grad_input,
                           cudaStream_t stream) {
  const int64_t total = n_rois * p.channels * p.pooled_h * p.pooled_w;
  if (total == 0) return;
  roi_pool_backward_kernel<T><<<roi_pool_blocks(total, 256), 256, 0, stream>>>(
      total, grad_out, rois, 5, p.channels, p.height, p.width, p.pooled_h, p.pooled_w, Geom<T>{p}, grad_input);
}

template void launch_roi_align_forward<float>(const float*, const float*, int64_t, const roi_align_params&, float*,
                                          cudaStream_t);
template void launch_roi_align_forward<double>(const double*, const double*, int64_t, const roi_align_params&, double*,
                                           cudaStream_t);
template void launch_roi_align_backward<float>(const float*, const float*, int64_t, const roi_align_params&, float*,
                                           cudaStream_t);
template void launch_roi_align_backward<double>(const double*, const double*, int64_t, const roi_align_params&, double*,
                                            cudaStream_t);

}  // namespace rbox_ops

// roi_align_rotated: CUDA kernels (common/roi_pool_cuda.cuh for RoiAlignRotatedParams); plain CUDA, no
// torch headers.
#include "common/roi_pool_cuda.cuh"
#include "roi_align_rotated/roi_align_rotated.h"

namespace rbox_ops {

template struct RoiPoolCuda<float, RoiAlignRotatedParams>;
template struct RoiPoolCuda<double, RoiAlignRotatedParams>;

}  // namespace rbox_ops

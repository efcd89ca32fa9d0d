// roi_align: CUDA kernels (common/roi_pool_cuda.cuh for RoiAlignParams); plain CUDA, no
// torch headers.
#include "common/roi_pool_cuda.cuh"
#include "roi_align/roi_align.h"

namespace rbox_ops {

template struct RoiPoolCuda<float, RoiAlignParams>;
template struct RoiPoolCuda<double, RoiAlignParams>;

}  // namespace rbox_ops

// roi_align_rotated: CUDA registration glue (common/roi_pool_cuda.h for RoiAlignRotatedParams); compiled
// only for a CUDA build of torch.
#include <torch/library.h>

#include "common/roi_pool_cuda.h"
#include "roi_align_rotated/roi_align_rotated.h"

namespace rbox_ops {

// the extra `bool` argument is clockwise (RoiAlignRotatedParams' own field)
TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("roi_align_rotated", &roi_pool_forward_cuda<RoiAlignRotatedParams, bool>);
  m.impl("roi_align_rotated_backward", &roi_pool_backward_cuda<RoiAlignRotatedParams, bool>);
}

}  // namespace rbox_ops

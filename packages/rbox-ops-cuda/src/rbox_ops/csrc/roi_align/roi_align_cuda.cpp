// roi_align: CUDA registration glue (common/roi_pool_cuda.h for RoiAlignParams); compiled
// only for a CUDA build of torch.
#include <torch/library.h>

#include "common/roi_pool_cuda.h"
#include "roi_align/roi_align.h"

namespace rbox_ops {

TORCH_LIBRARY_IMPL(rbox_ops, CUDA, m) {
  m.impl("roi_align", &roi_pool_forward_cuda<RoiAlignParams>);
  m.impl("roi_align_backward", &roi_pool_backward_cuda<RoiAlignParams>);
}

}  // namespace rbox_ops

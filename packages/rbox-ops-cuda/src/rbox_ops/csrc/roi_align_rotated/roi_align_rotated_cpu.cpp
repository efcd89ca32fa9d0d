// roi_align_rotated: CPU kernels (the shared RoI pooling, common/roi_pool_cpu.h, for RoiAlignRotatedParams);
// the schema is in csrc/schemas.cpp.
#include <torch/library.h>

#include "common/roi_pool_cpu.h"
#include "roi_align_rotated/roi_align_rotated.h"

namespace rbox_ops {

// the extra `bool` argument is clockwise (RoiAlignRotatedParams' own field)
TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("roi_align_rotated", &roi_pool_forward_cpu<RoiAlignRotatedParams, bool>);
  m.impl("roi_align_rotated_backward", &roi_pool_backward_cpu<RoiAlignRotatedParams, bool>);
}

}  // namespace rbox_ops

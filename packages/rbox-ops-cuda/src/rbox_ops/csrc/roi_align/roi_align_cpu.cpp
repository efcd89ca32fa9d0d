// roi_align: CPU kernels (the shared RoI pooling, common/roi_pool_cpu.h, for RoiAlignParams);
// the schema is in csrc/schemas.cpp.
#include <torch/library.h>

#include "common/roi_pool_cpu.h"
#include "roi_align/roi_align.h"

namespace rbox_ops {

TORCH_LIBRARY_IMPL(rbox_ops, CPU, m) {
  m.impl("roi_align", &roi_pool_forward_cpu<RoiAlignParams>);
  m.impl("roi_align_backward", &roi_pool_backward_cpu<RoiAlignParams>);
}

}  // namespace rbox_ops

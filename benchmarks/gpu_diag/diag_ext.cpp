// Diagnostic ops: where does a C++ error crash? (compiled with the same flags as rbox_ops' cpu library)
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <c10/util/Logging.h>
#include <torch/library.h>
#include <cstdlib>
#include <stdexcept>

namespace {
at::Tensor throw_torch_check(const at::Tensor& x) { TORCH_CHECK(x.dim() == 99, "diag: TORCH_CHECK fired, got ", x.sizes()); return x; }
at::Tensor throw_std(const at::Tensor& x) { throw std::runtime_error("diag: std::runtime_error"); }
int64_t catch_inside() { try { TORCH_CHECK(false, "inner"); } catch (const c10::Error&) { return 1; } return 0; }
void no_backtrace() { c10::SetStackTraceFetcher([]() -> std::string { return "(backtrace capture disabled)"; }); }
}  // namespace

TORCH_LIBRARY(rbox_diag, m) {
  m.def("throw_torch_check(Tensor x) -> Tensor");
  m.def("throw_std(Tensor x) -> Tensor");
  m.def("catch_inside() -> int", &catch_inside);
  m.def("no_backtrace() -> ()", &no_backtrace);
}
TORCH_LIBRARY_IMPL(rbox_diag, CPU, m) {
  m.impl("throw_torch_check", &throw_torch_check);
  m.impl("throw_std", &throw_std);
}

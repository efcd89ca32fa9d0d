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

// the namespace: rbox_diag, or another (-DDIAG_NS=...) for a second build loaded beside it
#ifndef DIAG_NS
#define DIAG_NS rbox_diag
#endif
#define DIAG_LIBRARY(ns, m) TORCH_LIBRARY(ns, m)
#define DIAG_LIBRARY_IMPL(ns, k, m) TORCH_LIBRARY_IMPL(ns, k, m)

DIAG_LIBRARY(DIAG_NS, m) {
  m.def("throw_torch_check(Tensor x) -> Tensor");
  m.def("throw_std(Tensor x) -> Tensor");
  m.def("catch_inside() -> int", &catch_inside);
  m.def("no_backtrace() -> ()", &no_backtrace);
}
DIAG_LIBRARY_IMPL(DIAG_NS, CPU, m) {
  m.impl("throw_torch_check", &throw_torch_check);
  m.impl("throw_std", &throw_std);
}

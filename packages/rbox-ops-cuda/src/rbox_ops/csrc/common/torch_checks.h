// Small helpers for the torch-facing glue (.cpp files only; never included by .cu files).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#define RBOX_CHECK_CPU(x) TORCH_CHECK((x).device().is_cpu(), #x " must be a CPU tensor")
#define RBOX_CHECK_CUDA(x) TORCH_CHECK((x).device().is_cuda(), #x " must be a CUDA tensor")
#define RBOX_CHECK_FLOAT(x)                                                                               \
  TORCH_CHECK((x).scalar_type() == at::kFloat || (x).scalar_type() == at::kDouble, #x " must be float32 or " \
                                                                                   "float64, got ",       \
              (x).scalar_type())

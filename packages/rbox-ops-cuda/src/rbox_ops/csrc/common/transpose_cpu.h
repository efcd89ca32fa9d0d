// NCHW <-> NHWC layout changes of whole feature maps on the CPU, for the kernels that read
// channels-last (roi_pool_cpu.h, riroi_align_rotated, deform_conv2d). Per batch item either is
// the transpose of a matrix: (C, H * W) -> (H * W, C) or back. ATen's strided copy
// (x.permute(...).contiguous()) walks it element by element, three to five times slower than
// a copy; here square tiles are transposed by SIMD register blocks, in parallel over tiles.
//
//   nchw_to_nhwc(x)       x (B, C, H, W), any strides -> (B, H, W, C) contiguous
//   nhwc_to_nchw(x_nhwc)  x_nhwc (B, H, W, C), any strides -> (B, C, H, W) contiguous
//
// A view already in the wanted layout is returned as is (x channels-last-strided, x_nhwc
// the permuted view of an NCHW-contiguous map). float and double are transposed here; other
// dtypes fall back to ATen's copy. The values are copied, never computed: bit-identical.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace rbox_ops {
namespace transpose_detail {

// The tile edge, in elements: of 16, 32 and 64 (each with 4 x 4 / 2 x 2 register blocks, or
// through a buffer), 32 with register blocks straight from source to destination was the fastest
// for float and double, both directions, on one AVX2 core (64 MB: ~40 ms into touched memory).
constexpr int64_t kTile = 32;

// dst (n, n) = src (n, n)^T for the n x n block that fills a SIMD register's rows (SSE2, part of
// x86-64: 4 floats, 2 doubles; n = 1 elsewhere). src_stride, dst_stride: row strides.
template <typename T>
struct RegisterBlock {
  static constexpr int64_t n = 1;
  static void transpose(const T* src, int64_t, T* dst, int64_t) { *dst = *src; }
};
#if defined(__SSE2__)
template <>
struct RegisterBlock<float> {
  static constexpr int64_t n = 4;
  static void transpose(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + src_stride);
    __m128 r2 = _mm_loadu_ps(src + 2 * src_stride), r3 = _mm_loadu_ps(src + 3 * src_stride);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + dst_stride, r1);
    _mm_storeu_ps(dst + 2 * dst_stride, r2);
    _mm_storeu_ps(dst + 3 * dst_stride, r3);
  }
};
template <>
struct RegisterBlock<double> {
  static constexpr int64_t n = 2;
  static void transpose(const double* src, int64_t src_stride, double* dst, int64_t dst_stride) {
    const __m128d r0 = _mm_loadu_pd(src), r1 = _mm_loadu_pd(src + src_stride);
    _mm_storeu_pd(dst, _mm_unpacklo_pd(r0, r1));
    _mm_storeu_pd(dst + dst_stride, _mm_unpackhi_pd(r0, r1));
  }
};
#endif

// dst (cols, rows) = src (rows, cols)^T for one tile, rows, cols <= Tile; src_stride and
// dst_stride are the row strides. A full tile goes by register blocks, a partial one (the
// right and bottom edges of a map) element by element.
template <typename T, int64_t Tile>
inline void transpose_tile(const T* src, int64_t src_stride, T* dst, int64_t dst_stride, int64_t rows,
                           int64_t cols) {
  using Block = RegisterBlock<T>;
  static_assert(Tile % Block::n == 0, "the tile must hold whole register blocks");
  if (rows == Tile && cols == Tile) {
    for (int64_t r = 0; r < Tile; r += Block::n)
      for (int64_t c = 0; c < Tile; c += Block::n)
        Block::transpose(src + r * src_stride + c, src_stride, dst + c * dst_stride + r, dst_stride);
    return;
  }
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[c * dst_stride + r] = src[r * src_stride + c];
}

// dst[b] (cols, rows) = src[b] (rows, cols)^T for b < batch, both contiguous; tiles in parallel.
template <typename T, int64_t Tile = kTile>
void transpose_batched(const T* src, T* dst, int64_t batch, int64_t rows, int64_t cols) {
  const int64_t row_tiles = (rows + Tile - 1) / Tile, col_tiles = (cols + Tile - 1) / Tile;
  const int64_t per_item = row_tiles * col_tiles;
  const int64_t grain = std::max<int64_t>(1, 32768 / (Tile * Tile));  // a thread moves >= 32768 values
  at::parallel_for(0, batch * per_item, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; t++) {
      const int64_t b = t / per_item, rt = t % per_item / col_tiles, ct = t % col_tiles;
      const int64_t r0 = rt * Tile, c0 = ct * Tile;
      const T* s = src + b * rows * cols + r0 * cols + c0;
      T* d = dst + b * rows * cols + c0 * rows + r0;
      transpose_tile<T, Tile>(s, cols, d, rows, std::min(Tile, rows - r0), std::min(Tile, cols - c0));
    }
  });
}

// out[b] (cols, rows) = x[b] (rows, cols)^T for b < x.size(0); x and out contiguous.
inline void transpose_into(const at::Tensor& x, at::Tensor& out, int64_t rows, int64_t cols) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rbox_ops_transpose", [&] {
    transpose_batched<scalar_t>(x.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), x.size(0), rows, cols);
  });
}

// A 4-d map of a dtype transposed here (others go through ATen).
inline bool is_transposable(const at::Tensor& x) {
  return x.dim() == 4 && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
}

}  // namespace transpose_detail

// x (B, C, H, W) -> (B, H, W, C) contiguous.
inline at::Tensor nchw_to_nhwc(const at::Tensor& x) {
  const auto view = x.permute({0, 2, 3, 1});
  if (view.is_contiguous() || !transpose_detail::is_transposable(x)) return view.contiguous();
  const auto src = x.contiguous();
  auto out = at::empty(view.sizes(), x.options());
  if (out.numel() > 0) transpose_detail::transpose_into(src, out, x.size(1), x.size(2) * x.size(3));
  return out;
}

// x_nhwc (B, H, W, C) -> (B, C, H, W) contiguous.
inline at::Tensor nhwc_to_nchw(const at::Tensor& x_nhwc) {
  const auto view = x_nhwc.permute({0, 3, 1, 2});
  if (view.is_contiguous() || !transpose_detail::is_transposable(x_nhwc)) return view.contiguous();
  const auto src = x_nhwc.contiguous();
  auto out = at::empty(view.sizes(), x_nhwc.options());
  if (out.numel() > 0)
    transpose_detail::transpose_into(src, out, x_nhwc.size(1) * x_nhwc.size(2), x_nhwc.size(3));
  return out;
}

}  // namespace rbox_ops

// box_iou_rotated: CUDA kernels and launcher (plain CUDA, no torch headers).
#include <atomic>
#include <cstdint>

#include "box_iou_rotated/box_iou_rotated.h"
#include "common/rotated_geometry.h"

namespace rbox_ops {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kWarps = 8;  // warps per block; each warp works on its own (no block barrier)
constexpr int kThreads = 32 * kWarps;
constexpr int kUnitRows = 64;  // a work unit: 32 columns (one per lane) x kUnitRows rows (even)
// list capacities: under 32 entries left after the passes, + up to 64 per step of 2 rows (list
// 1) or + up to 32 per pass of step 2 (list 2); powers of 2 (ring positions wrap with &)
constexpr int kRing1 = 128;
constexpr int kRing2 = 64;

template <typename T>
struct alignas(4 * sizeof(T)) StagedCircle {
  T x, y, r, pad;
};

// Each warp's two candidate lists: rings of pairs (row, column), see the pairwise kernel.
__shared__ int64_t list1_row[kWarps][kRing1];
__shared__ int64_t list1_col[kWarps][kRing1];
__shared__ int64_t list2_row[kWarps][kRing2];
__shared__ int64_t list2_col[kWarps][kRing2];

// The passes over the lists are calls, not inlined: the clipping needs many registers, and
// inlined it would make the compiler spill the row loop's values (reloaded every row).

// Step 2 on `count` (<= 32) entries of list 1 from head1, one per lane: appends the pairs that
// may overlap to list 2 from tail2 and returns how many. Called by the whole warp.
template <typename T>
__device__ __noinline__ unsigned reject_pass(const T* __restrict__ b1, const T* __restrict__ b2, int warp, int lane,
                                             unsigned head1, unsigned count, unsigned tail2) {
  __syncwarp();  // the entries written by other lanes are visible
  bool keep = false;
  int64_t i = 0, j = 0;
  if (static_cast<unsigned>(lane) < count) {
    const unsigned slot = (head1 + lane) & (kRing1 - 1);
    i = list1_row[warp][slot];
    j = list1_col[warp][slot];
    keep = rotated_overlap_possible(b1 + i * 5, b2 + j * 5);
  }
  const unsigned ballot = __ballot_sync(kFullWarp, keep);
  if (keep) {
    const unsigned slot = (tail2 + __popc(ballot & ((1u << lane) - 1u))) & (kRing2 - 1);
    list2_row[warp][slot] = i;
    list2_col[warp][slot] = j;
  }
  __syncwarp();  // the slots read above may be written again
  return __popc(ballot);
}

// Step 3 on `count` (<= 32) entries of list 2 from head2, one per lane: their exact overlap,
// over the 0 that the row loop wrote. Called by the whole warp.
template <typename T>
__device__ __noinline__ void exact_pass(const T* __restrict__ b1, const T* __restrict__ b2, T* __restrict__ out,
                                        int64_t m, int mode, int warp, int lane, unsigned head2, unsigned count) {
  __syncwarp();  // the entries, and the 0 that other lanes wrote for these pairs, come first
  if (static_cast<unsigned>(lane) < count) {
    const unsigned slot = (head2 + lane) & (kRing2 - 1);
    const int64_t i = list2_row[warp][slot], j = list2_col[warp][slot];
    out[i * m + j] = rotated_box_overlap(b1 + i * 5, b2 + j * 5, mode);
  }
  __syncwarp();
}

// Pairwise overlaps. The grid is about as many warps as fit on the GPU at once; each warp
// takes work units (32 columns x kUnitRows rows) round robin and, for each row of a unit:
// 1. writes the row's 32 pairs (coalesced), 0 where the bounding circles do not meet (the
//    exact overlap is 0 there too, common/rotated_geometry.h), and appends the pairs whose
//    circles meet to its list 1 (a ring in shared memory; the offsets come from the ballot,
//    so there is no atomic and no shuffle);
// 2. once list 1 holds 32 pairs, runs the cheap exact rejections on them, one per lane
//    (rotated_overlap_possible: about half of them are apart along an edge normal), and
//    appends the others to its list 2;
// 3. once list 2 holds 32 pairs, computes their exact overlap, one per lane, over the 0.
// So the costly clipping runs on full warps, and no warp waits for another: the lists carry
// over from unit to unit and are emptied after the last. A pair is written first as 0 and
// later by another lane of the same warp: __syncwarp orders the two stores (and the list
// entries in shared memory). The row loop stops for steps 2 and 3 and then resumes from its
// position (unit, row), so that none of its values live across the calls (they would be
// spilled and reloaded on every row).
template <typename T>
__global__ void __launch_bounds__(kThreads, 4)
    box_iou_rotated_pairwise_kernel(const T* __restrict__ b1, const T* __restrict__ b2, T* __restrict__ out,
                                    int64_t n, int64_t m, int mode) {
  __shared__ StagedCircle<T> row_circles[kWarps][32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // ring positions (warp-uniform; unsigned wrap-around keeps tail - head and the slots right)
  unsigned head1 = 0, tail1 = 0, head2 = 0, tail2 = 0;
  // the warp's position: unit (column group cg, row block rb), next row r of the unit; units go
  // round robin, cg fastest (neighbouring warps write neighbouring columns of the same rows)
  const int64_t col_groups = (m + 31) / 32;
  const int64_t row_blocks = (n + kUnitRows - 1) / kUnitRows;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  int64_t cg = first % col_groups, rb = first / col_groups;
  int r = 0;  // always even: the row loop takes 2 rows a step
  const unsigned lanes_below = (1u << lane) - 1u;
  for (;;) {
    bool full = false;  // list 1 holds 32 pairs or more
    while (!full && rb < row_blocks) {
      const int64_t j = cg * 32 + lane;
      const int64_t i0 = rb * kUnitRows;
      const bool col_ok = j < m;
      BoxCircle<T> cc;  // r < 0 (no candidate) past the last column
      cc.x = cc.y = 0;
      cc.r = -1;
      if (col_ok) cc = box_circle(b2 + j * 5);
      const int rows = static_cast<int>(min(n - i0, static_cast<int64_t>(kUnitRows)));
      T* o = out + (i0 + r) * m + (col_ok ? j : 0);  // &out[(i0 + r) * m + j] (col_ok)
      while (r < rows) {
        if ((r & 31) == 0) {  // the circles of the next 32 rows, one per lane
          __syncwarp();       // the previous ones have been read
          if (lane < rows - r) {
            const BoxCircle<T> rc = box_circle(b1 + (i0 + r + lane) * 5);
            StagedCircle<T> sc;
            sc.x = rc.x;
            sc.y = rc.y;
            sc.r = rc.r;
            sc.pad = 0;
            row_circles[warp][lane] = sc;
          }
          __syncwarp();
        }
        // rows r and r + 1 (if the unit has it: else its staged circle is stale, and unused)
        const bool second = r + 1 < rows;
        if (col_ok) o[0] = 0;  // before any exact value of these rows (steps 2 and 3)
        if (col_ok && second) o[m] = 0;
        const StagedCircle<T> s0 = row_circles[warp][r & 31];
        const StagedCircle<T> s1 = row_circles[warp][(r & 31) + 1];
        BoxCircle<T> rc0, rc1;
        rc0.x = s0.x;
        rc0.y = s0.y;
        rc0.r = s0.r;
        rc1.x = s1.x;
        rc1.y = s1.y;
        rc1.r = s1.r;
        const bool cand0 = circles_meet(rc0, cc);
        const bool cand1 = second & circles_meet(rc1, cc);
        const unsigned ballot0 = __ballot_sync(kFullWarp, cand0);
        const unsigned ballot1 = __ballot_sync(kFullWarp, cand1);
        if ((ballot0 | ballot1) != 0) {
          if (cand0) {
            const unsigned slot = (tail1 + __popc(ballot0 & lanes_below)) & (kRing1 - 1);
            list1_row[warp][slot] = i0 + r;
            list1_col[warp][slot] = j;
          }
          tail1 += __popc(ballot0);
          if (cand1) {
            const unsigned slot = (tail1 + __popc(ballot1 & lanes_below)) & (kRing1 - 1);
            list1_row[warp][slot] = i0 + r + 1;
            list1_col[warp][slot] = j;
          }
          tail1 += __popc(ballot1);
        }
        r += 2;
        if (r < rows) o += 2 * m;  // (only ever inside out)
        if (tail1 - head1 >= 32) {
          full = true;
          break;
        }
      }
      if (r >= rows) {  // next unit
        r = 0;
        cg += warps % col_groups;
        rb += warps / col_groups;
        if (cg >= col_groups) {
          cg -= col_groups;
          rb++;
        }
      }
    }
    if (!full) break;
    while (tail1 - head1 >= 32) {  // list 1 holds under 32 + 64 pairs; list 2 under 32
      tail2 += reject_pass(b1, b2, warp, lane, head1, 32, tail2);
      head1 += 32;
      if (tail2 - head2 >= 32) {
        exact_pass(b1, b2, out, m, mode, warp, lane, head2, 32);
        head2 += 32;
      }
    }
  }
  // what is left in the lists (under 32 entries in list 1, then under 64 in list 2)
  if (tail1 != head1) tail2 += reject_pass(b1, b2, warp, lane, head1, tail1 - head1, tail2);
  while (tail2 != head2) {
    const unsigned count = min(tail2 - head2, 32u);
    exact_pass(b1, b2, out, m, mode, warp, lane, head2, count);
    head2 += count;
  }
}

template <typename T>
__global__ void box_iou_rotated_aligned_kernel(const T* b1, const T* b2, T* out, int64_t n, int mode) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[k] = rotated_box_overlap(b1 + k * 5, b2 + k * 5, mode);
  }
}

// Blocks of `kernel` (kThreads each) that the current device holds at once: SMs x blocks per
// SM, cached per device (the queries cost microseconds); 1024 if a query fails.
template <typename Kernel>
int64_t resident_blocks(Kernel kernel) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) {
    cudaGetLastError();  // clear the query's error: it is not the kernel's
    return 1024;
  }
  int blocks = cached[device].load(std::memory_order_relaxed);
  if (blocks > 0) return blocks;
  int sms = 0, per_sm = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0) != cudaSuccess || sms <= 0 ||
      per_sm <= 0) {
    cudaGetLastError();
    return 1024;
  }
  blocks = sms * per_sm;
  cached[device].store(blocks, std::memory_order_relaxed);
  return blocks;
}

}  // namespace

template <typename T>
void launch_box_iou_rotated(const T* b1, const T* b2, T* out, int64_t n, int64_t m, int mode, bool aligned,
                            cudaStream_t stream) {
  if (aligned) {
    if (n == 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    const int grid = static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
    box_iou_rotated_aligned_kernel<T><<<grid, threads, 0, stream>>>(b1, b2, out, n, mode);
    return;
  }
  if (n == 0 || m == 0) return;
  // about as many warps as are resident at once (each carries lists from unit to unit, so
  // fewer, longer-lived warps waste fewer lanes at the end); no more than there are units
  const int64_t units = (m + 31) / 32 * ((n + kUnitRows - 1) / kUnitRows);
  const int64_t blocks_needed = (units + kWarps - 1) / kWarps;
  int64_t grid = resident_blocks(box_iou_rotated_pairwise_kernel<T>);
  grid = grid < blocks_needed ? grid : blocks_needed;
  box_iou_rotated_pairwise_kernel<T><<<static_cast<unsigned int>(grid), kThreads, 0, stream>>>(b1, b2, out, n, m, mode);
}

template void launch_box_iou_rotated<float>(const float*, const float*, float*, int64_t, int64_t, int, bool,
                                            cudaStream_t);
template void launch_box_iou_rotated<double>(const double*, const double*, double*, int64_t, int64_t, int, bool,
                                             cudaStream_t);

}  // namespace rbox_ops

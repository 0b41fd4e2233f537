#include "linear.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "clustered.h"
#include "kernels/linear/quant.h"
#include "large_buffer.h"
#include "kernels/linear/sparse.h"
#include "quant.h"
#include "thread_pool.h"

namespace sparq {
namespace {

constexpr size_t kWeightChunkBytes = 256 << 10;  // weight rows re-read from L2 per task

// Splits y[N, M] into tasks (activation chunks of kLinearChunkRows x weight
// row chunks, a multiple of row_align rows) over the pool, packing x first
// with `pack` (if not null) into `packed_floats` floats. kernel(x, xp, n0,
// n1, m0, m1) computes one block from x as given (row stride K) or packed
// (xp, null when not packed).
template <typename Kernel>
void drive(const float* x, size_t N, size_t K, size_t M, size_t weight_row_bytes,
           PackActivations pack, size_t packed_floats, Kernel kernel, size_t row_align = 8) {
  if (N == 0 || M == 0) return;
  LargeVector<float> packed;  // 64-byte aligned: kernels load whole lines of it
  if (pack != nullptr) {
    packed.resize(packed_floats);
    pack(x, N, K, packed.data());
  }
  const float* xp = pack != nullptr ? packed.data() : nullptr;
  const size_t threads = static_cast<size_t>(num_threads());
  // Weight chunks: a multiple of row_align rows that fits L2, and enough
  // chunks to balance the threads (several per thread: the machine may be
  // shared).
  size_t mc = std::max<size_t>(8, kWeightChunkBytes / std::max<size_t>(1, weight_row_bytes));
  mc = std::min(mc, std::max<size_t>(8, M / (4 * threads)));
  mc = (mc + row_align - 1) / row_align * row_align;
  const size_t m_chunks = (M + mc - 1) / mc;
  const size_t n_chunks = (N + kLinearChunkRows - 1) / kLinearChunkRows;
  parallel_for(m_chunks * n_chunks, [&](size_t task) {
    const size_t nc = task / m_chunks, c = task % m_chunks;
    const size_t n0 = nc * kLinearChunkRows, n1 = std::min(N, n0 + kLinearChunkRows);
    const size_t m0 = c * mc, m1 = std::min(M, m0 + mc);
    kernel(x, xp, n0, n1, m0, m1);
  });
}

// Floats linear_pack_x writes for [N, K].
size_t packed_x_floats(size_t N, size_t K) { return N * ((K + 15) / 16 * 16); }

// Whether row m of csr or ell weights stores column k.
bool stores(const SparseWeights& w, size_t K, size_t m, size_t k) {
  if (w.format == SparseFormat::kCsr) {
    const size_t blocks = csr_blocks(K), b = k / kCsrBlock;
    const uint16_t* first = w.cols + w.offsets[m * blocks + b];
    const uint16_t* last = w.cols + w.offsets[m * blocks + b + 1];
    return std::binary_search(first, last, static_cast<uint16_t>(k % kCsrBlock));
  }
  const size_t panels = ell_panels(K), p = k / kEllPanel, lane = m % kEllRows;
  const uint32_t* offsets = w.offsets + m / kEllRows * panels;
  for (size_t e = offsets[p] * kEllRows + lane; e < offsets[p + 1] * kEllRows; e += kEllRows)
    if (w.panel_cols[e] == k % kEllPanel) return true;  // padding has kEllPadBit set
  return false;
}

// A pruned weight is an exact zero in the dense matrix, so where x[n, k] is
// NaN or Inf and row m stores nothing at k, y[n, m] is NaN (0 * Inf). The
// expanding kernels (bitmap, nm) multiply those zeros anyway; csr never
// visits them and ell only those its padding points at, so this sets those
// outputs. Runs only when x has non-finite values.
void nonfinite_fixup(const float* x, size_t N, size_t K, const SparseWeights& w, size_t M, float* y) {
  std::vector<size_t> ks;
  for (size_t n = 0; n < N; ++n) {
    ks.clear();
    for (size_t k = 0; k < K; ++k)
      if (!std::isfinite(x[n * K + k])) ks.push_back(k);
    if (ks.empty()) continue;
    parallel_for((M + 63) / 64, [&](size_t task) {
      for (size_t m = task * 64; m < std::min(M, task * 64 + 64); ++m) {
        for (size_t k : ks) {
          if (!stores(w, K, m, k)) {
            y[n * M + m] = std::numeric_limits<float>::quiet_NaN();
            break;
          }
        }
      }
    });
  }
}

}  // namespace

void linear_dense(const float* x, size_t N, size_t K, const void* w, WeightType type, size_t M,
                  const float* bias, float* y) {
  const DenseLinearKernel kernel = kernels().linear_dense[static_cast<int>(type)];
  const size_t row_bytes = K * (type == WeightType::kF32 ? 4 : 2);
  const PackActivations pack = kernels().linear_pack_x;
  drive(x, N, K, M, row_bytes, pack, packed_x_floats(N, K), [&](const float* xs, const float* xp, size_t n0, size_t n1, size_t m0, size_t m1) {
    if (xp != nullptr) kernel(xp, 0, w, K, bias, y, M, n0, n1, m0, m1);
    else kernel(xs, K, w, K, bias, y, M, n0, n1, m0, m1);
  });
}

void linear_quant(const float* x, size_t N, size_t K, const QuantWeights& weights, size_t M,
                  const float* bias, float* y, bool int8_activations) {
  QuantWeights w = weights;
  uint8_t i8_codes[16];
  if (int8_activations) {
    if (N == 0 || M == 0) return;
    if (w.code_type == CodeType::kNibble && w.mins == nullptr && !is_symmetric_nibble_table(w.lut)) {
      nibble_i8_table(w.lut, i8_codes, &w.i8_scale);
      w.i8_codes = i8_codes;
    }
    std::vector<ActivationLine> xa;
    kernels().linear_quant_i8_pack(x, N, K, w, xa);
    const QuantI8LinearKernel kernel = kernels().linear_quant_i8;
    drive(x, N, K, M, quant_row_bytes(w, K), nullptr, 0, [&](const float*, const float*, size_t n0, size_t n1, size_t m0, size_t m1) {
      kernel(xa.data(), w, K, bias, y, M, n0, n1, m0, m1);
    });
    return;
  }
  const QuantLinearKernel kernel = kernels().linear_quant;
  const PackActivations pack = kernels().linear_pack_x;
  drive(x, N, K, M, quant_row_bytes(w, K), pack, packed_x_floats(N, K), [&](const float* xs, const float* xp, size_t n0, size_t n1, size_t m0, size_t m1) {
    if (xp != nullptr) kernel(xp, 0, w, K, bias, y, M, n0, n1, m0, m1);
    else kernel(xs, K, w, K, bias, y, M, n0, n1, m0, m1);
  });
}

void linear_sparse(const float* x, size_t N, size_t K, const SparseWeights& weights, size_t M,
                   const float* bias, float* y) {
  if (N == 0 || M == 0) return;
  SparseWeights w = weights;
  const size_t value_bits = w.value_type == WeightType::kF32   ? 32
                           : w.value_type == WeightType::kI8   ? 8
                           : w.value_type == WeightType::kLut4 ? 4
                                                               : 16;
  size_t row_bytes = 0;
  std::vector<uint8_t> nm_masks;
  if (w.format == SparseFormat::kNm) {
    // Code -> group mask for every code of n positions of nm_index_bits each.
    const uint32_t bits = nm_index_bits(w.group), code_bits = w.n * bits;
    nm_masks.resize(size_t{1} << code_bits);
    for (uint32_t code = 0; code < nm_masks.size(); ++code) {
      uint32_t mask = 0;
      for (uint32_t i = 0; i < w.n; ++i) mask |= 1u << ((code >> (i * bits)) & (w.group - 1));
      nm_masks[code] = static_cast<uint8_t>(mask);
    }
    w.nm_masks = nm_masks.data();
    row_bytes = K / w.group * w.n * value_bits / 8 + nm_code_stride(K, w.n, w.group);
  } else if (w.format == SparseFormat::kEll) {
    const size_t entries = size_t{w.offsets[ell_groups(M) * ell_panels(K)]} * kEllRows;
    row_bytes = entries / M * (value_bits + 8) / 8;
  } else {
    const size_t entries = w.format == SparseFormat::kCsr ? w.offsets[M * csr_blocks(K)] : w.offsets[M];
    row_bytes = entries / M * (value_bits + (w.format == SparseFormat::kCsr ? 16 : 0)) / 8 +
                (w.format == SparseFormat::kBitmap ? bitmap_tiles(K) * 2 : 0);
  }
  const KernelTable& table = kernels();
  const SparseLinearKernel kernel = table.linear_sparse[static_cast<int>(w.format)];
  PackActivations pack = table.linear_pack_x;
  size_t packed_floats = packed_x_floats(N, K);
  // ell reads x padded with zeros to whole panels: row stride ldx.
  const float* xs = x;
  size_t ldx = K, row_align = 8;
  LargeVector<float> padded;
  if (w.format == SparseFormat::kEll) {
    ldx = ell_padded_k(K);
    padded.resize(N * ldx);
    for (size_t n = 0; n < N; ++n) {
      std::copy(x + n * K, x + (n + 1) * K, padded.data() + n * ldx);
      std::fill(padded.data() + n * ldx + K, padded.data() + (n + 1) * ldx, 0.0f);
    }
    xs = padded.data();
    row_align = kEllRows;
  }
  // csr and ell: transposed activations, only for the outer-product kernel.
  const bool visits_stored_only = w.format == SparseFormat::kCsr || w.format == SparseFormat::kEll;
  if (visits_stored_only) {
    pack = N > (w.format == SparseFormat::kEll ? kEllPermuteRows : kCsrGatherRows) ? table.linear_pack_xt : nullptr;
    packed_floats = (N + 15) / 16 * 16 * ldx;
  }
  // int8 codes: kernels compute with the codes, then each output is scaled.
  const bool scaled = w.value_type == WeightType::kI8;
  drive(xs, N, ldx, M, row_bytes, pack, packed_floats, [&](const float* xr, const float* xp, size_t n0, size_t n1, size_t m0, size_t m1) {
    kernel(xr, ldx, xp, w, K, scaled ? nullptr : bias, y, M, n0, n1, m0, m1);
    if (!scaled) return;
    for (size_t n = n0; n < n1; ++n)
      for (size_t m = m0; m < m1; ++m) {
        const float v = y[n * M + m] * w.scales[m];
        y[n * M + m] = bias != nullptr ? v + bias[m] : v;
      }
  }, row_align);
  if (visits_stored_only) nonfinite_fixup(x, N, K, w, M, y);
}

void linear_clustered(const float* x, size_t N, size_t K, const ClusteredWeights& w, size_t M,
                      const float* bias, float* y) {
  const ClusteredLinearKernel kernel = kernels().linear_clustered;
  const PackActivations pack = kernels().linear_pack_x;
  drive(x, N, K, M, clustered_row_bytes(K, w.dim, w.bits), pack, packed_x_floats(N, K), [&](const float* xs, const float* xp, size_t n0, size_t n1, size_t m0, size_t m1) {
    if (xp != nullptr) kernel(xp, 0, w, K, bias, y, M, n0, n1, m0, m1);
    else kernel(xs, K, w, K, bias, y, M, n0, n1, m0, m1);
  });
}

void linear_clustered_i8(const float* x, size_t N, size_t K, const ClusteredWeights& w,
                         const ClusteredI8Books& books, size_t M, const float* bias, float* y) {
  if (N == 0 || M == 0) return;
  const size_t steps = clustered_i8_steps(K);
  LargeVector<ClusteredActStep> xa(N * steps);  // every byte written by the packer
  const ClusteredI8PackKernel pack = kernels().linear_clustered_i8_pack;
  if (N == 1) pack(x, K, xa.data());
  else parallel_for(N, [&](size_t n) { pack(x + n * K, K, xa.data() + n * steps); });
  const ClusteredI8LinearKernel kernel = kernels().linear_clustered_i8;
  drive(x, N, K, M, clustered_row_bytes(K, w.dim, w.bits), nullptr, 0, [&](const float*, const float*, size_t n0, size_t n1, size_t m0, size_t m1) {
    kernel(xa.data(), w, books, K, bias, y, M, n0, n1, m0, m1);
  });
}

void matmul_f32(const float* a, const float* b, float* c, size_t M, size_t K, size_t N) {
  if (M == 0 || N == 0) return;
  // c = a . b = linear(a, b^T): transpose b once (O(K*N), small next to the
  // O(M*K*N) product) into the [N, K] layout the kernels read.
  std::vector<float> bt(N * K);
  constexpr size_t kBlock = 64;
  const size_t k_blocks = (K + kBlock - 1) / kBlock;
  parallel_for(k_blocks, [&](size_t kb) {
    const size_t k0 = kb * kBlock, k1 = std::min(K, k0 + kBlock);
    for (size_t n0 = 0; n0 < N; n0 += kBlock) {
      const size_t n1 = std::min(N, n0 + kBlock);
      for (size_t k = k0; k < k1; ++k)
        for (size_t n = n0; n < n1; ++n) bt[n * K + k] = b[k * N + n];
    }
  });
  linear_dense(a, M, K, bt.data(), WeightType::kF32, N, nullptr, c);
}

}  // namespace sparq

#include "linear.h"

#include <algorithm>
#include <vector>

#include "clustered.h"
#include "kernels/linear/quant.h"
#include "quant.h"
#include "thread_pool.h"

namespace sparq {
namespace {

constexpr size_t kWeightChunkBytes = 256 << 10;  // weight rows re-read from L2 per task

// Splits y[N, M] into tasks (activation chunks of kLinearChunkRows x weight
// row chunks) over the pool, packing x first if the active kernels want it.
// kernel(xs, ldx, n0, n1, m0, m1) computes one block.
template <typename Kernel>
void drive(const float* x, size_t N, size_t K, size_t M, size_t weight_row_bytes, bool pack,
           Kernel kernel) {
  if (N == 0 || M == 0) return;
  const KernelTable& table = kernels();
  std::vector<float> packed;
  if (pack && table.linear_pack_x != nullptr) {
    packed.resize(N * ((K + 15) / 16 * 16));
    table.linear_pack_x(x, N, K, packed.data());
    x = packed.data();
  }
  const size_t threads = static_cast<size_t>(num_threads());
  // Weight chunks: a multiple of 8 rows that fits L2, and enough chunks to
  // balance the threads (several per thread: the machine may be shared).
  size_t mc = std::max<size_t>(8, kWeightChunkBytes / std::max<size_t>(1, weight_row_bytes));
  mc = std::min(mc, std::max<size_t>(8, M / (4 * threads)));
  mc = (mc + 7) / 8 * 8;
  const size_t m_chunks = (M + mc - 1) / mc;
  const size_t n_chunks = (N + kLinearChunkRows - 1) / kLinearChunkRows;
  parallel_for(m_chunks * n_chunks, [&](size_t task) {
    const size_t nc = task / m_chunks, c = task % m_chunks;
    const size_t n0 = nc * kLinearChunkRows, n1 = std::min(N, n0 + kLinearChunkRows);
    const size_t m0 = c * mc, m1 = std::min(M, m0 + mc);
    kernel(x, K, n0, n1, m0, m1);
  });
}

}  // namespace

void linear_dense(const float* x, size_t N, size_t K, const void* w, WeightType type, size_t M,
                  const float* bias, float* y) {
  const DenseLinearKernel kernel = kernels().linear_dense[static_cast<int>(type)];
  const size_t row_bytes = K * (type == WeightType::kF32 ? 4 : 2);
  drive(x, N, K, M, row_bytes, true, [&](const float* xs, size_t ldx, size_t n0, size_t n1, size_t m0, size_t m1) {
    kernel(xs, ldx, w, K, bias, y, M, n0, n1, m0, m1);
  });
}

void linear_quant(const float* x, size_t N, size_t K, const QuantWeights& w, size_t M,
                  const float* bias, float* y, bool int8_activations) {
  if (int8_activations) {
    if (N == 0 || M == 0) return;
    std::vector<int8_t> q(N * K);
    std::vector<float> scale(N * K / 32);
    std::vector<int32_t> sum(N * K / 32);
    quantize_activations(x, N, K, q.data(), scale.data(), sum.data());
    const Int8Activations xa{q.data(), scale.data(), sum.data()};
    const QuantI8LinearKernel kernel = kernels().linear_quant_i8;
    drive(x, N, K, M, quant_row_bytes(w, K), false, [&](const float*, size_t, size_t n0, size_t n1, size_t m0, size_t m1) {
      kernel(xa, w, K, bias, y, M, n0, n1, m0, m1);
    });
    return;
  }
  const QuantLinearKernel kernel = kernels().linear_quant;
  drive(x, N, K, M, quant_row_bytes(w, K), true, [&](const float* xs, size_t ldx, size_t n0, size_t n1, size_t m0, size_t m1) {
    kernel(xs, ldx, w, K, bias, y, M, n0, n1, m0, m1);
  });
}

void linear_clustered(const float* x, size_t N, size_t K, const ClusteredWeights& w, size_t M,
                      const float* bias, float* y) {
  const ClusteredLinearKernel kernel = kernels().linear_clustered;
  drive(x, N, K, M, clustered_row_bytes(K, w.dim, w.bits), true, [&](const float* xs, size_t ldx, size_t n0, size_t n1, size_t m0, size_t m1) {
    kernel(xs, ldx, w, K, bias, y, M, n0, n1, m0, m1);
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

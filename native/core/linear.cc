#include "linear.h"

#include <algorithm>
#include <vector>

#include "thread_pool.h"

namespace sparq {
namespace {

constexpr size_t kWeightChunkBytes = 256 << 10;  // weight rows re-read from L2 per task

size_t weight_bytes(WeightType type) { return type == WeightType::kF32 ? 4 : 2; }

}  // namespace

void linear_dense(const float* x, size_t N, size_t K, const void* w, WeightType type, size_t M,
                  const float* bias, float* y) {
  if (N == 0 || M == 0) return;
  const KernelTable& table = kernels();
  const DenseLinearKernel kernel = table.linear_dense[static_cast<int>(type)];
  std::vector<float> packed;
  if (table.linear_pack_x != nullptr) {
    packed.resize(N * ((K + 15) / 16 * 16));
    table.linear_pack_x(x, N, K, packed.data());
    x = packed.data();
  }
  const size_t threads = static_cast<size_t>(num_threads());
  // Weight chunks: a multiple of 8 rows that fits L2, and enough chunks to
  // balance the threads (several per thread: the machine may be shared).
  size_t mc = std::max<size_t>(8, kWeightChunkBytes / std::max<size_t>(1, K * weight_bytes(type)));
  mc = std::min(mc, std::max<size_t>(8, M / (4 * threads)));
  mc = (mc + 7) / 8 * 8;
  const size_t m_chunks = (M + mc - 1) / mc;
  const size_t n_chunks = (N + kLinearChunkRows - 1) / kLinearChunkRows;
  parallel_for(m_chunks * n_chunks, [&](size_t task) {
    const size_t nc = task / m_chunks, c = task % m_chunks;
    const size_t n0 = nc * kLinearChunkRows, n1 = std::min(N, n0 + kLinearChunkRows);
    const size_t m0 = c * mc, m1 = std::min(M, m0 + mc);
    kernel(x, K, w, K, bias, y, M, n0, n1, m0, m1);
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

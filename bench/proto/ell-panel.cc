// Prototype, not part of the library: a sliced-ELL layout over column panels
// for N = 1 sparse linear (issue 3), to decide whether it is worth a format.
// Rows in groups of 16 (one zmm lane each), columns in panels of PANEL; for
// each (group, panel) the count c = the most nonzeros any of the 16 rows has
// in the panel, then c vectors of 16 entries (entry j of lane l: row l's j-th
// nonzero in the panel, or a zero pad): bfloat16 values and uint8 columns
// within the panel. The kernel keeps the panel's activations in PANEL / 16
// registers and reads them with VPERMT2PS (no gather), one FMA per vector, so
// the work is per stored entry (padding included), not per element as with
// bitmap tiles, and there is no gather as with CSR. Cost: padding to the
// group's maximum (about 1.3x the nonzeros at 80% with PANEL 128) and 3 bytes
// an entry. Compared with a dense float32 GEMV in the same process (2 OpenMP
// threads, weights rotated over > 4x the L3 cache: cold), unstructured random
// sparsity, M = K = 4096:
//
//   g++ -O3 -fopenmp -DPANEL=128 -o /tmp/ell-panel bench/proto/ell-panel.cc
//   /tmp/ell-panel 0.8 24 && /tmp/ell-panel 0.9 24     # sparsity, weight copies
#include <immintrin.h>
#include <omp.h>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>
#include <random>
#include <chrono>
#include <algorithm>
#include <sys/mman.h>
#define T512 __attribute__((target("avx2,fma,f16c,popcnt,avx512f,avx512bw,avx512vl,avx512dq")))
static size_t M = 4096, K = 4096;
#ifndef PANEL
#define PANEL 64
#endif
constexpr size_t P = PANEL;
template <typename T> T* halloc(size_t n) { size_t b = (n * sizeof(T) + (2<<20) - 1) / (2<<20) * (2<<20); void* p = aligned_alloc(2<<20, b); madvise(p, b, MADV_HUGEPAGE); memset(p, 0, b); return (T*)p; }
struct Sell { uint16_t* vals; uint8_t* idx; uint32_t* start; uint8_t* count; size_t bytes; };
struct Dense { float* w; };
Sell make_sell(const std::vector<float>& w) {
  size_t G = M / 16, NP = K / P;
  std::vector<uint16_t> v; std::vector<uint8_t> ix; std::vector<uint32_t> st; std::vector<uint8_t> cnt;
  for (size_t g = 0; g < G; ++g) for (size_t p = 0; p < NP; ++p) {
    std::vector<std::vector<std::pair<uint16_t,uint8_t>>> e(16);
    for (int l = 0; l < 16; ++l) for (size_t c = 0; c < P; ++c) { float f = w[(g*16+l)*K + p*P + c]; if (f != 0) { uint32_t b; memcpy(&b,&f,4); e[l].push_back({uint16_t(b>>16), uint8_t(c)}); } }
    size_t mx = 0; for (auto& r : e) mx = std::max(mx, r.size());
    st.push_back(v.size() / 16); cnt.push_back(mx);
    for (size_t j = 0; j < mx; ++j) for (int l = 0; l < 16; ++l) { if (j < e[l].size()) { v.push_back(e[l][j].first); ix.push_back(e[l][j].second); } else { v.push_back(0); ix.push_back(0); } }
  }
  Sell s; s.vals = halloc<uint16_t>(v.size() + 64); memcpy(s.vals, v.data(), v.size()*2);
  s.idx = halloc<uint8_t>(ix.size() + 64); memcpy(s.idx, ix.data(), ix.size());
  s.start = halloc<uint32_t>(st.size()); memcpy(s.start, st.data(), st.size()*4);
  s.count = halloc<uint8_t>(cnt.size()); memcpy(s.count, cnt.data(), cnt.size());
  s.bytes = v.size()*3 + st.size()*5; return s;
}
T512 void sell_gemv(const Sell& s, const float* x, float* y) {
  size_t G = M / 16, NP = K / P;
  #pragma omp parallel for schedule(static) num_threads(2)
  for (size_t g = 0; g < G; ++g) {
    __m512 acc = _mm512_setzero_ps();
    for (size_t p = 0; p < NP; ++p) {
      const float* xp = x + p * P;
      __m512 xr[P / 16];
      for (size_t q = 0; q < P / 16; ++q) xr[q] = _mm512_loadu_ps(xp + 16 * q);
      const size_t c = s.count[g * NP + p], st = s.start[g * NP + p];
      const uint16_t* v = s.vals + st * 16; const uint8_t* ix = s.idx + st * 16;
      _mm_prefetch((const char*)(v + 2048), _MM_HINT_T0); _mm_prefetch((const char*)(ix + 1024), _MM_HINT_T0);
      for (size_t j = 0; j < c; ++j) {
        const __m512i id = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(ix + 16 * j)));
        __m512 xv;
        if constexpr (P == 32) xv = _mm512_permutex2var_ps(xr[0], id, xr[1]);
        else if constexpr (P == 64) {
          const __m512 lo = _mm512_permutex2var_ps(xr[0], id, xr[1]), hi = _mm512_permutex2var_ps(xr[2], id, xr[3]);
          xv = _mm512_mask_blend_ps(_mm512_test_epi32_mask(id, _mm512_set1_epi32(32)), lo, hi);
        } else {
          const __mmask16 b5 = _mm512_test_epi32_mask(id, _mm512_set1_epi32(32)), b6 = _mm512_test_epi32_mask(id, _mm512_set1_epi32(64));
          const __m512 a = _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(xr[0], id, xr[1]), _mm512_permutex2var_ps(xr[2], id, xr[3]));
          const __m512 b = _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(xr[4], id, xr[5]), _mm512_permutex2var_ps(xr[6], id, xr[7]));
          xv = _mm512_mask_blend_ps(b6, a, b);
        }
        const __m512 wv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(v + 16 * j))), 16));
        acc = _mm512_fmadd_ps(wv, xv, acc);
      }
    }
    _mm512_storeu_ps(y + g * 16, acc);
  }
}
T512 void dense_gemv(const float* w, const float* x, float* y) {
  #pragma omp parallel for schedule(static) num_threads(2)
  for (size_t m = 0; m < M; m += 8) {
    __m512 a[8]; for (int i = 0; i < 8; ++i) a[i] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k += 16) { __m512 xv = _mm512_loadu_ps(x + k);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) a[i] = _mm512_fmadd_ps(_mm512_loadu_ps(w + (m + i) * K + k), xv, a[i]); }
    for (int i = 0; i < 8; ++i) y[m + i] = _mm512_reduce_add_ps(a[i]);
  }
}
int main(int argc, char** argv) {
  double sp = atof(argv[1]); int copies = atoi(argv[2]);
  std::mt19937 g(1); std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> w(M * K); for (auto& f : w) f = u(g) < sp ? 0.f : u(g) - 0.5f;
  for (auto& f : w) { uint32_t b; memcpy(&b,&f,4); b &= 0xFFFF0000u; memcpy(&f,&b,4); }
  std::vector<Sell> ss; std::vector<float*> ds;
  for (int c = 0; c < copies; ++c) ss.push_back(make_sell(w));
  int dcopies = copies > 1 ? 4 : 1;
  for (int c = 0; c < dcopies; ++c) { float* d = halloc<float>(M * K); memcpy(d, w.data(), M*K*4); ds.push_back(d); }
  float* x = halloc<float>(K); for (size_t k = 0; k < K; ++k) x[k] = u(g) - 0.5f;
  float* y = halloc<float>(M); float* y2 = halloc<float>(M);
  dense_gemv(ds[0], x, y); sell_gemv(ss[0], x, y2);
  double md = 0; for (size_t m = 0; m < M; ++m) md = std::max(md, (double)fabsf(y[m] - y2[m]));
  printf("sparsity %.2f sell bytes %.1f MB (%.2f bits/w), maxdiff %g\n", sp, ss[0].bytes / 1e6, ss[0].bytes * 8.0 / (M*K), md);
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> td, tsl;
    for (int r = 0; r < 60; ++r) {
      auto t0 = std::chrono::steady_clock::now(); dense_gemv(ds[r % dcopies], x, y);
      auto t1 = std::chrono::steady_clock::now(); sell_gemv(ss[r % copies], x, y2);
      auto t2 = std::chrono::steady_clock::now();
      td.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count()); tsl.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    std::sort(td.begin(), td.end()); std::sort(tsl.begin(), tsl.end());
    printf("dense %.3f ms, sell %.3f ms, ratio %.2fx\n", td[30], tsl[30], td[30] / tsl[30]);
  }
}

// Layout experiment for issue 4 (int4 with int8 activations at N = 1 streams
// at about 30-36 GB/s where dense float32 reaches 50+): the same VNNI inner
// loop as kernels/linear/quant_i8_avx512vnni.cc (4-bit codes, groups of 32,
// float16 scales, 8-row tiles at N = 1) over two layouts of one 4096x4096
// weight (9.4 MB, as bench:quant's int4 g32):
//   (a) sparq's: row-major codes and a [M][groups] scale array, each task's
//       scales converted to a float32 scratch first; a tile reads 8 rows'
//       64-byte lines 2 KB apart each step (prefetching 8 rows ahead);
//   (b) tile-interleaved (as ggml's repacked q4_0x8): per 8-row tile, step by
//       step, the 8 rows' code lines then their 8 x 4 scales, so a tile is one
//       sequential 18 KB stream.
// Cold: each call uses the next of 48 copies (450 MB per layout); hot: copy 0. Two
// threads take tasks of 128 rows from a counter, as sparq's pool does; the
// layouts alternate call by call; medians of 30 calls each. Not part of the
// library or its build:
//   g++ -O2 -std=c++17 bench/layout/int4_tile_layout.cc -o /tmp/int4-layout -lpthread && /tmp/int4-layout [a_prefetch_rows=8] [b_prefetch_bytes=0]
// b_prefetch_bytes -1: (b) only loads its bytes (XOR, no compute). Environment:
// DENSE=1 replaces (b) with dense float32 of the same shape (8-row tiles, one
// FMA per 16 weights; 12 copies of 67 MB), TASK=rows per task (default 128),
// HUGE=1 puts the weights on transparent huge pages. Needs AVX-512 VNNI.
// Measured here (2026-11-27):
// - (b) against (a), 6 runs: cold 1.00-1.11x faster, hot 1.16-1.44x. So
//   repacking alone would not bring int4 near 6x dense float32 cold. (A first
//   version whose (a) read float32 scales from the [M][groups] array at every
//   step, a ninth strided stream, gave 1.23-1.65x cold: sparq's per-task
//   conversion already avoids that.)
// - DENSE=1, 3 runs: dense f32 1.19 ms cold (56 GB/s) against 0.42-0.44 ms for
//   (a) (21-22 GB/s), 2.7-2.8x, the gap bench:quant shows (one slower run:
//   1.63 against 0.75 ms).
// - TASK=64, 128, 512, 2048: (a) 0.33-0.43 ms cold, no trend (noise +-15%).
// - b_prefetch_bytes -1 (load only), 7 runs: 0.25-0.43 ms cold (mostly
//   0.34-0.43), against 0.33-0.44 ms for (a) in the same runs: moving the bytes
//   alone is about as slow as the kernel, while dense f32 streams at 56 GB/s.
//   HUGE=1 made no clear difference. Unexplained.
#include <immintrin.h>
#include <sys/mman.h>
static void* halloc(size_t n) { static bool huge = getenv("HUGE") != nullptr; n = (n + (2u<<20) - 1) / (2u<<20) * (2u<<20); void* p = aligned_alloc(2u << 20, n); if (huge) madvise(p, n, MADV_HUGEPAGE); else madvise(p, n, MADV_NOHUGEPAGE); return p; }
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
#include <functional>
#include <algorithm>
constexpr size_t M = 4096, K = 4096, RB = K / 2, STEPS = K / 128, G = K / 32;
struct alignas(64) Act { int8_t q[128]; int32_t neg[16]; float sc[16]; };
__attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))
static inline __m512 stepc(const uint8_t* p, const Act& a, __m512 ws, __m512 acc, bool pf, const uint8_t* pfp) {
  if (pf) _mm_prefetch((const char*)pfp, _MM_HINT_T1);
  const __m512i b = _mm512_loadu_si512(p), nib = _mm512_set1_epi8(0x0F);
  const __m512i lo = _mm512_and_si512(b, nib), hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), nib);
  __m512i d = _mm512_dpbusd_epi32(_mm512_load_si512(a.neg), lo, _mm512_load_si512(a.q));
  d = _mm512_dpbusd_epi32(d, hi, _mm512_load_si512(a.q + 64));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(ws, _mm512_load_ps(a.sc)), acc);
}
__attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))
static inline __m512 spread4(const float* t) {
  const __m512i idx = _mm512_srli_epi32(_mm512_setr_epi32(0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15), 2);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(_mm_loadu_ps(t)));
}
__attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))
static inline __m512 spread4h(const uint16_t* t) {
  const __m512i idx = _mm512_srli_epi32(_mm512_setr_epi32(0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15), 2);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i*)t))));
}
// (a) as sparq's driver: the task's float16 scales converted to a float32 scratch first.
__attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))
void task_a(const uint8_t* codes, const uint16_t* scales16, const Act* act, float* y, size_t m0, size_t m1, int pfrows) {
  thread_local std::vector<float> scratch;
  scratch.resize((m1 - m0) * G);
  for (size_t i = 0; i < (m1 - m0) * G; i += 16)
    _mm512_storeu_ps(scratch.data() + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(scales16 + m0 * G + i))));
  const float* scales = scratch.data() - m0 * G;
  for (size_t m = m0; m < m1; m += 8) {
    __m512 acc[8]; for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    for (size_t s = 0; s < STEPS; s++)
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) {
        const uint8_t* p = codes + (m + i) * RB + s * 64;
        acc[i] = stepc(p, act[s], spread4(scales + (m + i) * G + s * 4), acc[i], pfrows > 0, p + pfrows * RB);
      }
    for (int i = 0; i < 8; i++) y[m + i] = _mm512_reduce_add_ps(acc[i]);
  }
}
// (b): tile t: for step s: 8 lines of 64 B codes (rows 0..7), then 8 x 4 float16 scales = 64 B. 576 B per step.
constexpr size_t TSTEP = 8 * 64 + 64, TBYTES = TSTEP * STEPS;
__attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))
void task_b(const uint8_t* packed, const Act* act, float* y, size_t m0, size_t m1, int pfbytes) {
  if (pfbytes < 0) {  // load only
    const __m512i* p = (const __m512i*)(packed + (m0 / 8) * TBYTES), *e = (const __m512i*)(packed + (m1 / 8) * TBYTES);
    __m512i x0 = _mm512_setzero_si512(), x1 = x0, x2 = x0, x3 = x0;
    for (; p + 4 <= e; p += 4) { x0 = _mm512_xor_si512(x0, _mm512_load_si512(p)); x1 = _mm512_xor_si512(x1, _mm512_load_si512(p+1)); x2 = _mm512_xor_si512(x2, _mm512_load_si512(p+2)); x3 = _mm512_xor_si512(x3, _mm512_load_si512(p+3)); }
    y[m0] = (float)_mm512_reduce_add_epi32(_mm512_xor_si512(_mm512_xor_si512(x0, x1), _mm512_xor_si512(x2, x3)));
    return;
  }
  for (size_t m = m0; m < m1; m += 8) {
    const uint8_t* t = packed + (m / 8) * TBYTES;
    __m512 acc[8]; for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    for (size_t s = 0; s < STEPS; s++) {
      const uint8_t* st = t + s * TSTEP;
      const uint16_t* sc = (const uint16_t*)(st + 512);
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) acc[i] = stepc(st + i * 64, act[s], spread4h(sc + 4 * i), acc[i], pfbytes > 0 && (i % 2 == 0), st + i * 64 + pfbytes);
    }
    for (int i = 0; i < 8; i++) y[m + i] = _mm512_reduce_add_ps(acc[i]);
  }
}
__attribute__((target("f16c"))) static uint16_t to_half(float v) { return (uint16_t)_cvtss_sh(v, 0); }
__attribute__((target("avx512f")))
void task_f(const float* w, const float* x, float* y, size_t m0, size_t m1) {
  for (size_t m = m0; m < m1; m += 8) {
    __m512 acc[8]; for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k += 16) {
      const __m512 xv = _mm512_load_ps(x + k);
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) acc[i] = _mm512_fmadd_ps(_mm512_load_ps(w + (m + i) * K + k), xv, acc[i]);
    }
    for (int i = 0; i < 8; i++) y[m + i] = _mm512_reduce_add_ps(acc[i]);
  }
}
int main(int argc, char** argv) {
  const int copies = 48, rounds = 15;
  const int pfa = argc > 1 ? atoi(argv[1]) : 8, pfb = argc > 2 ? atoi(argv[2]) : 0;
  std::vector<uint8_t*> A(copies), B(copies); std::vector<uint16_t*> S(copies);
  for (int c = 0; c < copies; c++) {
    A[c] = (uint8_t*)halloc(M * RB); S[c] = (uint16_t*)halloc(M * G * 2); B[c] = (uint8_t*)halloc(M / 8 * TBYTES);
    for (size_t i = 0; i < M * RB; i++) A[c][i] = (uint8_t)(i * 2654435761u >> 13);
    for (size_t i = 0; i < M * G; i++) S[c][i] = to_half(0.01f * ((i * 7) % 13 + 1));
    for (size_t m = 0; m < M; m += 8) for (size_t s = 0; s < STEPS; s++) {
      uint8_t* st = B[c] + (m / 8) * TBYTES + s * TSTEP;
      for (int i = 0; i < 8; i++) { memcpy(st + i * 64, A[c] + (m + i) * RB + s * 64, 64); memcpy(st + 512 + i * 8, S[c] + (m + i) * G + s * 4, 8); }
    }
  }
  const bool dense = getenv("DENSE") != nullptr;
  const int fcopies = 12;
  std::vector<float*> F(dense ? fcopies : 0);
  for (auto& f : F) { f = (float*)halloc(M * K * 4); for (size_t i = 0; i < M * K; i++) f[i] = 0.001f * (i % 7); }
  float* xf = (float*)aligned_alloc(64, K * 4); for (size_t k = 0; k < K; k++) xf[k] = 0.5f;
  Act* act = (Act*)aligned_alloc(64, sizeof(Act) * STEPS);
  for (size_t s = 0; s < STEPS; s++) { for (int j = 0; j < 128; j++) act[s].q[j] = (int8_t)((s * 31 + j * 7) % 200 - 100); for (int j = 0; j < 16; j++) { act[s].neg[j] = -8 * 10; act[s].sc[j] = 0.02f; } }
  std::vector<float> ya(M), yb(M);
  std::atomic<int> gen{0}, done{0}; std::atomic<bool> quit{false};
  std::function<void(size_t, size_t)> job;
  std::atomic<size_t> next{0};
  static size_t TR = getenv("TASK") ? atoi(getenv("TASK")) : 128; auto drain = [&] { for (;;) { size_t t = next.fetch_add(1); if (t >= M / TR) break; job(t * TR, t * TR + TR); } };
  std::thread helper([&] { int seen = 0; while (!quit.load()) { if (gen.load() != seen) { seen = gen.load(); drain(); done.fetch_add(1); } else _mm_pause(); } });
  auto run = [&](std::function<void(size_t, size_t)> fn) {
    job = fn; next.store(0); int d0 = done.load(); gen.fetch_add(1); drain(); while (done.load() == d0) _mm_pause();
  };
  task_a(A[0], S[0], act, ya.data(), 0, M, pfa); task_b(B[0], act, yb.data(), 0, M, pfb);
  double md = 0; for (size_t m = 0; m < M; m++) md = std::max(md, (double)std::abs(ya[m] - yb[m])); printf("max diff %g\n", md);
  for (int mode = 0; mode < 2; mode++) {
    std::vector<double> ta, tb;
    int c = 0;
    for (int r = 0; r < rounds; r++) {
      for (int rep = 0; rep < 2; rep++) {
        bool first_a = (r + rep) % 2 == 0;
        for (int w = 0; w < 2; w++) {
          bool doa = (w == 0) == first_a;
          int cc = mode == 0 ? (c++ % copies) : 0;
          auto t0 = std::chrono::steady_clock::now();
          if (doa) run([&](size_t a, size_t b) { task_a(A[cc], S[cc], act, ya.data(), a, b, pfa); });
          else if (dense) run([&](size_t a, size_t b) { task_f(F[mode == 0 ? cc % fcopies : 0], xf, yb.data(), a, b); });
          else run([&](size_t a, size_t b) { task_b(B[cc], act, yb.data(), a, b, pfb); });
          double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          (doa ? ta : tb).push_back(dt);
        }
      }
    }
    std::sort(ta.begin(), ta.end()); std::sort(tb.begin(), tb.end());
    printf("%s: row-major %.3f ms, %s %.3f ms, ratio %.2f (int4 bytes %.1f MB)\n", mode == 0 ? "cold" : "hot", ta[ta.size()/2], dense ? "dense f32 (67 MB)" : "tile-interleaved", tb[tb.size()/2], ta[ta.size()/2] / tb[tb.size()/2], (M * RB + M * G * 2) / 1e6);
  }
  quit.store(true); helper.join();
}

// Stream-pattern experiment for issue 4: what bounds int4 with int8
// activations at N = 1 cold (4096x4096 in groups of 32, float16 scales, as
// bench:quant's int4 g32), against dense float32 in the same harness. Two
// threads take tasks of 128 rows (256 KB of codes) from a counter as sparq's
// pool does; cold calls rotate over copies totalling more than 4x the 32 MiB
// L3; the variants alternate call by call and each prints its median call
// time over 40 calls and GB/s of the bytes it reads. Not part of the library
// or its build:
//   g++ -O2 -std=c++17 bench/layout/int4_stream_pattern.cc -o /tmp/int4-stream -lpthread && /tmp/int4-stream
// Needs AVX-512 VNNI. The variants:
//   f32 dense       dense float32 (64 MB), 8-row tiles, one FMA per 16 weights
//   load, 1 stream  the codes only, each task read as one sequential stream
//   load, 8 rows    the codes only, 8 rows of 2 KB side by side (a tile)
//   task convert    the VNNI loop of kernels/linear/quant_i8_avx512vnni.cc on
//                   8-row tiles, codes prefetched 8 rows ahead, each task's
//                   float16 scales converted to float32 first (sparq up to
//                   9276836)
//   tile convert    the same, each tile's scales converted just before it,
//                   the next tile's prefetched along its steps (a2c53f6)
//   f16 in loop     the same, each step reading its float16 scales as
//                   stored, the next tile's prefetched (52f6a43)
//   hot scales      the same loop with scales from a small L1-resident table:
//                   what the scales cost at best
//   stripes         hot scales, each tile taking one row from each of 8
//                   stripes of the task (8 long streams), no prefetch
//   stripes f16     stripes with float16 scales as stored (sparq from fed868f)
//   row lanes xT    another layout: per 16-row tile and group of 32, 256 B of
//                   codes with lane r of a line holding row r's codes, then
//                   the 16 float16 scales; one VPDPBUSD per 4 weights of 16
//                   rows against broadcast activations, one FMA per group of
//                   16 rows; T tiles (streams) in flight
// Measured here (2026-11-28, 5 runs of this file, dense f32 time / variant
// time, cold): load 8 rows 6.8-7.6x, load 1 stream 6.0-6.8x; task convert
// 3.5-4.0x, tile convert 3.9-5.0x, f16 in loop 5.0-5.7x, stripes f16
// 4.4-5.3x, hot scales 4.9-6.2x, stripes 5.7-5.9x; row lanes x4 2.4-3.2x, x8
// 5.1-6.2x. An earlier set of 5 runs, before stripes f16 was added, gave
// task convert 3.8-4.1x, tile convert 3.8-4.1x, f16 in loop 4.0-4.5x, hot
// scales 4.2-4.6x, stripes 4.8-6.1x, row lanes x4 3.6-4.8x and x8 3.9-4.8x:
// the machine drifts between sets, so compare variants within a run. So the
// codes alone stream 6.8-7.6x faster than dense f32 (their bytes allow 8x,
// with the scales 7.1x);
// converting a task's scales first costs most; what remains is compute that
// overlaps the stream only in part. Between f16 in loop and stripes f16 this
// harness does not decide; in the library, stripes won (bench/ab.js, commit
// fed868f). The row-lane layout, about half the instructions a weight, was
// not consistently faster.
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))

constexpr size_t M = 4096, K = 4096, RB = K / 2, STEPS = K / 128, G = K / 32, TASK = 128;

static void* alloc(size_t n) {
  n = (n + (2u << 20) - 1) / (2u << 20) * (2u << 20);
  void* p = aligned_alloc(2u << 20, n);
  madvise(p, n, MADV_NOHUGEPAGE);
  memset(p, 1, n);
  return p;
}

struct alignas(64) Act { int8_t q[128]; int32_t neg[16]; float sc[16]; };

VNNI static inline __m512 spread4(const float* t) {
  const __m512i idx = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(_mm_loadu_ps(t)));
}

VNNI static inline __m512 step(const uint8_t* p, const Act& a, __m512 ws, __m512 acc) {
  const __m512i b = _mm512_loadu_si512(p), nib = _mm512_set1_epi8(0x0F);
  const __m512i lo = _mm512_and_si512(b, nib), hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), nib);
  __m512i d = _mm512_dpbusd_epi32(_mm512_load_si512(a.neg), lo, _mm512_load_si512(a.q));
  d = _mm512_dpbusd_epi32(d, hi, _mm512_load_si512(a.q + 64));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(ws, _mm512_load_ps(a.sc)), acc);
}

VNNI static void convert(const uint16_t* src, size_t n, float* dst) {
  for (size_t i = 0; i < n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(src + i))));
}

alignas(64) static float hot_table[G * 8];

__attribute__((target("f16c"))) static uint16_t to_half(float v) { return (uint16_t)_cvtss_sh(v, 0); }

VNNI static inline __m512 spread4h(const uint16_t* t) {
  const __m512i idx = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i*)t))));
}

// One 8-row tile reading float16 scales in the loop (rows m + i * stride);
// with stride 1 prefetching the next tile's codes 8 rows ahead and its
// scales along the steps.
VNNI static void tile_f16(const uint8_t* codes, const uint16_t* s16, const Act* act, float* y, size_t m,
                          const char* next_scales, size_t stride = 1) {
  __m512 acc[8];
  for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
  for (size_t s = 0; s < STEPS; s++) {
    if (next_scales) _mm_prefetch(next_scales + s * 64, _MM_HINT_T0);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
      const uint8_t* p = codes + (m + i * stride) * RB + s * 64;
      if (stride == 1) _mm_prefetch((const char*)(p + 8 * RB), _MM_HINT_T1);
      acc[i] = step(p, act[s], spread4h(s16 + (m + i * stride) * G + s * 4), acc[i]);
    }
  }
  for (int i = 0; i < 8; i++) y[m + i * stride] = _mm512_reduce_add_ps(acc[i]);
}

// One 8-row tile: rows m + i * stride; scales of row i at srow[i]; optional
// prefetch of the code line `pf` bytes ahead and of the next tile's scales.
VNNI static void tile(const uint8_t* codes, const float* const* srow, const Act* act, float* y, size_t m,
                      size_t stride, size_t pf, const char* next_scales) {
  __m512 acc[8];
  for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
  for (size_t s = 0; s < STEPS; s++) {
    if (next_scales) _mm_prefetch(next_scales + s * 64, _MM_HINT_T0);  // 8 rows x 256 B = 32 lines = STEPS
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
      const uint8_t* p = codes + (m + i * stride) * RB + s * 64;
      if (pf) _mm_prefetch((const char*)(p + pf), _MM_HINT_T1);
      acc[i] = step(p, act[s], spread4(srow[i] + s * 4), acc[i]);
    }
  }
  for (int i = 0; i < 8; i++) y[m + i * stride] = _mm512_reduce_add_ps(acc[i]);
}

// Row-lane layout: per 16-row tile and group of 32, 256 B of codes (4 lines;
// line t: lane r's 4 bytes hold row r's codes 8t..8t+3 in low nibbles and
// 8t+4..8t+7 in high ones) then the 16 rows' float16 scales (32 B): one
// VPDPBUSD per 4 weights of 16 rows against broadcast activations, and one
// FMA per group of 16 rows.
constexpr size_t RL_GROUP = 256 + 32, RL_TILE = G * RL_GROUP;
struct RowLaneAct { int8_t q[K]; float scale[G]; int32_t neg[G]; };  // neg: -8 * code sum of each block

template <int T>
VNNI static void tile_rl(const uint8_t* packed, const RowLaneAct& a, float* y, size_t m) {
  const uint8_t* t0 = packed + (m / 16) * RL_TILE;
  __m512 facc[T];
  for (int t = 0; t < T; t++) facc[t] = _mm512_setzero_ps();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (size_t g = 0; g < G; g++) {
    const int32_t* q = reinterpret_cast<const int32_t*>(a.q + g * 32);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      const uint8_t* p = t0 + t * RL_TILE + g * RL_GROUP;
      __m512i acc = _mm512_set1_epi32(a.neg[g]), acc2 = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int l = 0; l < 4; l++) {
        const __m512i b = _mm512_load_si512(p + 64 * l);
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(b, nib), _mm512_set1_epi32(q[2 * l]));
        acc2 = _mm512_dpbusd_epi32(acc2, _mm512_and_si512(_mm512_srli_epi16(b, 4), nib), _mm512_set1_epi32(q[2 * l + 1]));
      }
      acc = _mm512_add_epi32(acc, acc2);
      const __m512 ws = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p + 256)));
      facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(ws, _mm512_set1_ps(a.scale[g])), facc[t]);
    }
  }
  for (int t = 0; t < T; t++) _mm512_storeu_ps(y + m + 16 * t, facc[t]);
}

enum Variant { kF32, kLoad1, kLoad8, kTaskConvert, kTileConvert, kF16InLoop, kHot, kStripes, kStripesF16, kRowLanes4, kRowLanes8, kVariants };
static const char* kNames[kVariants] = {"f32 dense", "load, 1 stream", "load, 8 rows", "task convert", "tile convert",
                                        "f16 in loop", "hot scales", "stripes", "stripes f16", "row lanes x4", "row lanes x8"};

struct Weights { uint8_t* codes; uint16_t* s16; uint8_t* rl; };
static RowLaneAct* rl_act;

VNNI static void task(Variant v, const Weights& w, const float* f32, const float* x, const Act* act, float* y,
                      size_t m0) {
  const size_t m1 = m0 + TASK;
  thread_local std::vector<float> scratch(TASK * G);
  if (v == kF32) {
    for (size_t m = m0; m < m1; m += 8) {
      __m512 acc[8];
      for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
      for (size_t k = 0; k < K; k += 16) {
        const __m512 xv = _mm512_load_ps(x + k);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) acc[i] = _mm512_fmadd_ps(_mm512_load_ps(f32 + (m + i) * K + k), xv, acc[i]);
      }
      for (int i = 0; i < 8; i++) y[m + i] = _mm512_reduce_add_ps(acc[i]);
    }
    return;
  }
  if (v == kLoad1 || v == kLoad8) {
    __m512i a[8];
    for (int i = 0; i < 8; i++) a[i] = _mm512_setzero_si512();
    if (v == kLoad1) {
      for (size_t b = m0 * RB; b < m1 * RB; b += 512)
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) a[i] = _mm512_xor_si512(a[i], _mm512_load_si512(w.codes + b + i * 64));
    } else {
      for (size_t m = m0; m < m1; m += 8)
        for (size_t b = 0; b < RB; b += 64)
#pragma GCC unroll 8
          for (int i = 0; i < 8; i++) a[i] = _mm512_xor_si512(a[i], _mm512_load_si512(w.codes + (m + i) * RB + b));
    }
    for (int i = 1; i < 8; i++) a[0] = _mm512_xor_si512(a[0], a[i]);
    y[m0] = (float)_mm512_reduce_add_epi32(a[0]);
    return;
  }
  const float* srow[8];
  if (v == kStripes) {
    for (int i = 0; i < 8; i++) srow[i] = hot_table + i * G;
    for (size_t j = 0; j < TASK / 8; j++) tile(w.codes, srow, act, y, m0 + j, TASK / 8, 0, nullptr);
    return;
  }
  if (v == kRowLanes4 || v == kRowLanes8) {
    for (size_t m = m0; m < m1; m += v == kRowLanes4 ? 64 : 128) {
      if (v == kRowLanes4) tile_rl<4>(w.rl, *rl_act, y, m);
      else tile_rl<8>(w.rl, *rl_act, y, m);
    }
    return;
  }
  if (v == kStripesF16) {
    for (size_t j = 0; j < TASK / 8; j++) tile_f16(w.codes, w.s16, act, y, m0 + j, nullptr, TASK / 8);
    return;
  }
  if (v == kF16InLoop) {
    for (size_t m = m0; m < m1; m += 8) tile_f16(w.codes, w.s16, act, y, m, m + 8 < m1 ? (const char*)(w.s16 + (m + 8) * G) : nullptr);
    return;
  }
  if (v == kTaskConvert) convert(w.s16 + m0 * G, TASK * G, scratch.data());
  for (size_t m = m0; m < m1; m += 8) {
    const char* next = nullptr;
    if (v == kTileConvert) {
      convert(w.s16 + m * G, 8 * G, scratch.data());
      if (m + 8 < m1) next = (const char*)(w.s16 + (m + 8) * G);
    }
    for (int i = 0; i < 8; i++) {
      srow[i] = v == kTaskConvert  ? scratch.data() + (m - m0 + i) * G
                : v == kTileConvert  ? scratch.data() + i * G
                                     : hot_table + i * G;
    }
    tile(w.codes, srow, act, y, m, 1, 8 * RB, next);
  }
}

int main() {
  const size_t copies = 48, fcopies = 3;  // 48 x 11.5 MB and 3 x 64 MB
  std::vector<Weights> W(copies);
  for (auto& w : W) {
    w.codes = (uint8_t*)alloc(M * RB + 16 * RB);
    for (size_t i = 0; i < M * RB; i++) w.codes[i] = (uint8_t)(i * 2654435761u >> 13);
    w.s16 = (uint16_t*)alloc(M * G * 2);
    for (size_t i = 0; i < M * G; i++) w.s16[i] = to_half(0.01f * (1 + i % 7));
    w.rl = (uint8_t*)alloc(M / 16 * RL_TILE);
    for (size_t i = 0; i < M / 16 * RL_TILE; i++) w.rl[i] = (uint8_t)(i * 2654435761u >> 13);
    for (size_t t = 0; t < M / 16; t++)
      for (size_t g = 0; g < G; g++)
        for (int r = 0; r < 16; r++) ((uint16_t*)(w.rl + t * RL_TILE + g * RL_GROUP + 256))[r] = w.s16[(t * 16 + r) * G + g];
  }
  rl_act = (RowLaneAct*)aligned_alloc(64, sizeof(RowLaneAct));
  for (size_t k = 0; k < K; k++) rl_act->q[k] = (int8_t)((k * 7) % 200 - 100);
  for (size_t g = 0; g < G; g++) { rl_act->scale[g] = 0.02f; rl_act->neg[g] = -80; }
  for (size_t i = 0; i < G * 8; i++) hot_table[i] = 0.01f * (1 + i % 7);
  std::vector<float*> F(fcopies);
  for (auto& f : F) { f = (float*)alloc(M * K * 4); for (size_t i = 0; i < M * K; i++) f[i] = 0.001f * (i % 7); }
  float* x = (float*)aligned_alloc(64, K * 4);
  for (size_t k = 0; k < K; k++) x[k] = 0.5f;
  Act* act = (Act*)aligned_alloc(64, sizeof(Act) * STEPS);
  for (size_t s = 0; s < STEPS; s++) {
    for (int j = 0; j < 128; j++) act[s].q[j] = (int8_t)((s * 31 + j * 7) % 200 - 100);
    for (int j = 0; j < 16; j++) { act[s].neg[j] = -80; act[s].sc[j] = 0.02f; }
  }
  std::vector<float> y(M);

  std::atomic<int> gen{0}, done{0};
  std::atomic<bool> quit{false};
  std::atomic<size_t> next{0};
  std::function<void(size_t)> job;
  auto drain = [&] { for (size_t t; (t = next.fetch_add(1)) < M / TASK;) job(t * TASK); };
  std::thread helper([&] {
    for (int seen = 0; !quit.load();) {
      if (gen.load() != seen) { seen = gen.load(); drain(); done.fetch_add(1); } else _mm_pause();
    }
  });
  auto run = [&](std::function<void(size_t)> fn) {
    job = std::move(fn); next.store(0);
    const int d0 = done.load();
    gen.fetch_add(1); drain();
    while (done.load() == d0) _mm_pause();
  };
  // Bytes each variant reads per call.
  const double codes = M * RB, halves = M * G * 2.0;
  const double bytes[kVariants] = {M * K * 4.0, codes, codes, codes + halves, codes + halves, codes + halves,
                                   codes, codes, codes + halves, codes + halves, codes + halves};
  for (int hot = 0; hot < 2; hot++) {
    std::vector<double> t[kVariants];
    size_t c = 0;
    for (int r = 0; r < 40; r++)
      for (int v = 0; v < kVariants; v++) {
        const Weights& w = W[hot ? 0 : c % copies];
        const float* f = F[hot ? 0 : c % fcopies];
        ++c;
        const auto t0 = std::chrono::steady_clock::now();
        run([&](size_t m0) { task((Variant)v, w, f, x, act, y.data(), m0); });
        t[v].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    for (int v = 0; v < kVariants; v++) {
      std::sort(t[v].begin(), t[v].end());
      const double ms = t[v][t[v].size() / 2];
      printf("%s %-15s %6.3f ms %6.1f GB/s\n", hot ? "hot " : "cold", kNames[v], ms, bytes[v] / ms / 1e6);
    }
  }
  quit.store(true);
  helper.join();
}

#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include <immintrin.h>

#include "half.h"
#include "kernels.h"
#include "thread_pool.h"

namespace sparq {
namespace {

inline double value_at(const void* p, WeightType t, size_t i) { return widen_scalar(p, t, i); }

// Order-preserving map of float bits to unsigned keys, and back.
inline uint32_t f32_key(uint32_t u) { return (u & 0x80000000u) ? ~u : (u | 0x80000000u); }
inline float key_f32(uint32_t k) { return bits_f32((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k); }

// LSD radix sort of 64-bit items on their upper 32 bits (3 passes of 11,
// 11, 10 bits); the lower 32 bits travel along.
void radix_sort_hi32(std::vector<uint64_t>& a) {
  const size_t n = a.size();
  std::vector<uint64_t> tmp(n);
  constexpr int kShift[3] = {32, 43, 54};
  constexpr uint32_t kMask[3] = {0x7FF, 0x7FF, 0x3FF};
  std::vector<size_t> hist(3 * 2048, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t v = a[i];
    for (int p = 0; p < 3; ++p) ++hist[p * 2048 + ((v >> kShift[p]) & kMask[p])];
  }
  uint64_t* src = a.data();
  uint64_t* dst = tmp.data();
  for (int p = 0; p < 3; ++p) {
    size_t* h = hist.data() + p * 2048;
    if (h[(src[0] >> kShift[p]) & kMask[p]] == n) continue;  // one bucket: already in order
    size_t sum = 0;
    for (size_t b = 0; b < 2048; ++b) {
      const size_t c = h[b];
      h[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t v = src[i];
      dst[h[(v >> kShift[p]) & kMask[p]]++] = v;
    }
    std::swap(src, dst);
  }
  if (src != a.data()) std::memcpy(a.data(), src, n * sizeof(uint64_t));
}

// Appends (x, w) to out, merging equal values.
inline void push_merge(WeightedValues* out, double x, double w) {
  if (!out->x.empty() && out->x.back() == x) out->w.back() += w;
  else {
    out->x.push_back(x);
    out->w.push_back(w);
  }
}

constexpr size_t kHistChunks = 8;  // fixed, so weighted sums do not depend on the thread count

int unique_half(const uint16_t* v, bool bf16, size_t n, const float* weights, WeightedValues* out,
                size_t* bad_index) {
  const size_t chunk = (n + kHistChunks - 1) / kHistChunks;
  std::vector<double> hist(kHistChunks * 65536, 0.0);
  parallel_for(kHistChunks, [&](size_t c) {
    double* h = hist.data() + c * 65536;
    const size_t i0 = std::min(n, c * chunk), i1 = std::min(n, i0 + chunk);
    if (weights == nullptr) {
      std::vector<uint32_t> cnt(65536, 0);
      for (size_t i = i0; i < i1; ++i) ++cnt[v[i]];
      for (size_t b = 0; b < 65536; ++b) h[b] = cnt[b];
    } else {
      for (size_t i = i0; i < i1; ++i) h[v[i]] += weights[i];
    }
  });
  for (size_t c = 1; c < kHistChunks; ++c)
    for (size_t b = 0; b < 65536; ++b) hist[b] += hist[c * 65536 + b];
  const uint16_t exp_mask = bf16 ? 0x7F80 : 0x7C00;
  std::vector<std::pair<double, uint32_t>> vals;
  for (uint32_t b = 0; b < 65536; ++b) {
    if ((b & exp_mask) == exp_mask) {
      bool present = hist[b] != 0;
      if (!present && weights != nullptr) {  // a zero-weight NaN still counts as bad input
        for (size_t i = 0; i < n; ++i)
          if (v[i] == b) { present = true; break; }
      }
      if (present) {
        for (size_t i = 0; i < n; ++i)
          if ((v[i] & exp_mask) == exp_mask) { *bad_index = i; return kKmeansNonFinite; }
      }
      continue;
    }
    if (hist[b] > 0) vals.emplace_back(bf16 ? bf16_to_f32_scalar(static_cast<uint16_t>(b)) : f16_to_f32_scalar(static_cast<uint16_t>(b)), b);
  }
  std::sort(vals.begin(), vals.end());
  out->x.reserve(vals.size());
  out->w.reserve(vals.size());
  for (const auto& p : vals) push_merge(out, p.first, hist[p.second]);
  return kKmeansOk;
}

int unique_f32(const float* v, size_t n, const float* weights, WeightedValues* out,
               size_t* bad_index) {
  std::vector<uint64_t> items(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t u = f32_bits(v[i]);
    if ((u & 0x7F800000u) == 0x7F800000u) {
      *bad_index = i;
      return kKmeansNonFinite;
    }
    const uint32_t wb = weights ? f32_bits(weights[i]) : 0;
    items[i] = (static_cast<uint64_t>(f32_key(u)) << 32) | wb;
  }
  if (n >= 4096) radix_sort_hi32(items);
  else std::sort(items.begin(), items.end());  // same order on the key (weights are >= 0)
  out->x.reserve(std::min<size_t>(n, 1 << 20));
  out->w.reserve(std::min<size_t>(n, 1 << 20));
  for (size_t i = 0; i < n;) {
    const uint32_t key = static_cast<uint32_t>(items[i] >> 32);
    double w = 0;
    size_t j = i;
    for (; j < n && static_cast<uint32_t>(items[j] >> 32) == key; ++j)
      w += weights ? static_cast<double>(bits_f32(static_cast<uint32_t>(items[j]))) : 1.0;
    if (w > 0) push_merge(out, key_f32(key), w);
    i = j;
  }
  return kKmeansOk;
}

// Prefix sums of w, w x and w x^2 (x shifted by a central value so clusters
// near it lose few digits to cancellation), interleaved with pv[i] = the
// previous DP layer's cost of values [0, i - 1] so that one evaluation
// touches two 32-byte records.
struct Prefix {
  struct Rec {
    double w, s1, s2, pv;
  };
  std::vector<Rec> r;
  Prefix(const double* x, const double* wt, size_t n) : r(n + 1) {
    const double shift = x[n / 2];
    r[0] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; ++i) {
      const double d = x[i] - shift;
      r[i + 1].w = r[i].w + wt[i];
      r[i + 1].s1 = r[i].s1 + wt[i] * d;
      r[i + 1].s2 = r[i].s2 + wt[i] * d * d;
    }
  }
  // Cost of one cluster holding values [i, j] (inclusive).
  double cost(size_t i, size_t j) const {
    const Rec& a = r[i];
    const Rec& b = r[j + 1];
    const double ww = b.w - a.w;
    const double s = b.s1 - a.s1;
    const double c = (b.s2 - a.s2) - s * s / ww;
    return c > 0 ? c : 0;
  }
  // prev[i - 1] + cost(i, j) (i >= 1).
  double value(size_t i, size_t j) const { return r[i].pv + cost(i, j); }
};

// Leftmost minimum of P.value(i, j) over i in [a, b] (4 at a time: the same
// operations in the same order per value as Prefix::value, so the same bits;
// no FMA). Returns the index, the value in *best.
__attribute__((target("avx2"))) size_t scan_avx2(const Prefix::Rec* r, size_t j, size_t a, size_t b, double* best_out) {
  const Prefix::Rec& e = r[j + 1];
  const __m256d bw = _mm256_set1_pd(e.w), bs1 = _mm256_set1_pd(e.s1), bs2 = _mm256_set1_pd(e.s2);
  const __m256d zero = _mm256_setzero_pd();
  __m256d best = _mm256_set1_pd(std::numeric_limits<double>::infinity());
  __m256d bidx = _mm256_setzero_pd();
  __m256d idx = _mm256_setr_pd(0, 1, 2, 3);
  const __m256d four = _mm256_set1_pd(4);
  size_t i = a;
  for (; i + 3 <= b; i += 4) {
    const __m256d r0 = _mm256_loadu_pd(&r[i].w), r1 = _mm256_loadu_pd(&r[i + 1].w);
    const __m256d r2 = _mm256_loadu_pd(&r[i + 2].w), r3 = _mm256_loadu_pd(&r[i + 3].w);
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);  // w0 w1 s2_0 s2_1 | s1_0 s1_1 pv0 pv1
    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    const __m256d w = _mm256_permute2f128_pd(t0, t2, 0x20), s2 = _mm256_permute2f128_pd(t0, t2, 0x31);
    const __m256d s1 = _mm256_permute2f128_pd(t1, t3, 0x20), pv = _mm256_permute2f128_pd(t1, t3, 0x31);
    const __m256d ww = _mm256_sub_pd(bw, w), s = _mm256_sub_pd(bs1, s1);
    const __m256d c = _mm256_sub_pd(_mm256_sub_pd(bs2, s2), _mm256_div_pd(_mm256_mul_pd(s, s), ww));
    const __m256d v = _mm256_add_pd(pv, _mm256_max_pd(c, zero));  // max(c, 0) = (c > 0 ? c : 0), -0 -> +0
    const __m256d lt = _mm256_cmp_pd(v, best, _CMP_LT_OQ);
    best = _mm256_blendv_pd(best, v, lt);
    bidx = _mm256_blendv_pd(bidx, idx, lt);
    idx = _mm256_add_pd(idx, four);
  }
  alignas(32) double bv[4], bi[4];
  _mm256_store_pd(bv, best);
  _mm256_store_pd(bi, bidx);
  double m = bv[0];
  size_t mi = static_cast<size_t>(bi[0]);
  for (int l = 1; l < 4; ++l) {
    const size_t li = static_cast<size_t>(bi[l]);
    if (bv[l] < m || (bv[l] == m && li < mi)) {
      m = bv[l];
      mi = li;
    }
  }
  mi += a;
  for (; i <= b; ++i) {
    const Prefix::Rec& q = r[i];
    const double ww = e.w - q.w, s = e.s1 - q.s1;
    const double c = (e.s2 - q.s2) - s * s / ww;
    const double v = q.pv + (c > 0 ? c : 0);
    if (v < m) {
      m = v;
      mi = i;
    }
  }
  *best_out = m;
  return mi;
}

// Column lists of SMAWK: a range [ilo, ...), or an array.
struct RangeCol {
  size_t ilo;
  uint32_t operator()(size_t t) const { return static_cast<uint32_t>(ilo + t); }
};
struct ListCol {
  const uint32_t* c;
  uint32_t operator()(size_t t) const { return c[t]; }
};

// One DP layer: cur[j] = min over i in [q, j] of prev[i - 1] + cost(i, j) and
// opt[j] = the leftmost minimising i, for rows j in a range. The cost is
// Monge, so the matrix M(j, i) (+inf for i > j) is totally monotone and its
// leftmost row minima are non-decreasing in j. Small layers use divide and
// conquer (O(n log n), few evaluations thanks to the previous layer's
// minimisers as lower bounds), large ones SMAWK (O(n)).
struct Layer {
  const Prefix& P;
  double* cur;
  uint32_t* opt;
  const uint32_t* opt_prev;  // previous layer's minimisers for rows <= prev_jhi (or null)
  size_t prev_jhi;
  bool simd;  // AVX2 scans (same results)

  double at(size_t j, size_t i) const {
    return i > j ? std::numeric_limits<double>::infinity() : P.value(i, j);
  }

  // With one more cluster the last one starts no earlier: opt[j] >= opt_prev[j].
  size_t lower(size_t j, size_t lo, size_t hi) const {
    return (opt_prev != nullptr && j <= prev_jhi) ? std::max<size_t>(lo, std::min<size_t>(opt_prev[j], hi)) : lo;
  }

  // Leftmost minimum of row j over columns [ilo, ihi] (ihi <= j) by a plain
  // scan; large ranges in fixed pieces on the pool (combined in order, so the
  // result does not depend on the thread count).
  size_t solve_one(size_t j, size_t ilo, size_t ihi) const {
    constexpr size_t kPiece = size_t{1} << 15;
    const auto scan = [&](size_t a, size_t b, double* best_out) {
      if (simd && b - a >= 8) return scan_avx2(P.r.data(), j, a, b, best_out);
      double best = std::numeric_limits<double>::infinity();
      size_t bi = a;
      for (size_t i = a; i <= b; ++i) {
        const double v = P.value(i, j);
        if (v < best) {
          best = v;
          bi = i;
        }
      }
      *best_out = best;
      return bi;
    };
    double best;
    size_t bi;
    if (ihi - ilo < 2 * kPiece) {
      bi = scan(ilo, ihi, &best);
    } else {
      const size_t pieces = (ihi - ilo + kPiece) / kPiece;
      std::vector<double> pb(pieces);
      std::vector<size_t> pi(pieces);
      parallel_for(pieces, [&](size_t p) {
        const size_t a = ilo + p * kPiece, b = std::min(ihi, a + kPiece - 1);
        pi[p] = scan(a, b, &pb[p]);
      });
      best = pb[0];
      bi = pi[0];
      for (size_t p = 1; p < pieces; ++p)
        if (pb[p] < best) {
          best = pb[p];
          bi = pi[p];
        }
    }
    cur[j] = best;
    opt[j] = static_cast<uint32_t>(bi);
    return bi;
  }

  // Divide and conquer over rows [jlo, jhi] with minimisers in [ilo, ihi].
  void rec(size_t jlo, size_t jhi, size_t ilo, size_t ihi) const {
    while (jlo <= jhi) {
      const size_t mid = jlo + (jhi - jlo) / 2;
      const size_t hi = std::min(ihi, mid);
      const size_t bi = solve_one(mid, lower(mid, ilo, hi), hi);
      // Recurse on the smaller half, loop on the other.
      if (mid - jlo < jhi - mid) {
        if (mid > jlo) rec(jlo, mid - 1, ilo, bi);
        jlo = mid + 1;
        ilo = bi;
      } else {
        if (mid < jhi) rec(mid + 1, jhi, bi, ihi);
        if (mid == jlo) break;
        jhi = mid - 1;
        ihi = bi;
      }
    }
  }

  // SMAWK on rows row0 + t * stride (t < nr) and the increasing columns
  // col(0..nc); scratch holds >= 2 nr + 64 columns and values.
  template <typename Col>
  void smawk(size_t row0, size_t stride, size_t nr, size_t nc, Col col, uint32_t* scratch, double* sval) const {
    // Reduce: keep at most nr columns that can hold a leftmost row minimum;
    // sval[m] caches M(row m, S[m]).
    uint32_t* S = scratch;
    size_t m = 0;
    for (size_t t = 0; t < nc; ++t) {
      const uint32_t c = col(t);
      while (m > 0) {
        if (sval[m - 1] <= at(row0 + (m - 1) * stride, c)) break;
        --m;
      }
      if (m < nr) {
        S[m] = c;
        sval[m] = at(row0 + m * stride, c);
        ++m;
      }
    }
    // Odd rows recursively, then each even row between its neighbours' minima.
    if (nr > 1) smawk(row0 + stride, 2 * stride, nr / 2, m, ListCol{S}, scratch + m, sval + m);
    size_t k = 0;
    for (size_t t = 0; t < nr; t += 2) {
      const size_t r = row0 + t * stride;
      const uint32_t last = t + 1 < nr ? opt[r + stride] : S[m - 1];
      double best = std::numeric_limits<double>::infinity();
      uint32_t bi = S[k];
      for (;;) {
        const double v = at(r, S[k]);
        if (v < best) {
          best = v;
          bi = S[k];
        }
        if (S[k] == last) break;
        ++k;
      }
      cur[r] = best;
      opt[r] = bi;
    }
  }

  // Rows [jlo, jhi], columns [ilo, ihi] (ihi <= jhi, ilo <= jlo).
  void smawk_range(size_t jlo, size_t jhi, size_t ilo, size_t ihi) const {
    if (jlo > jhi) return;
    const size_t nr = jhi - jlo + 1;
    std::vector<uint32_t> scratch(2 * nr + 64);
    std::vector<double> sval(2 * nr + 64);
    smawk(jlo, 1, nr, ihi - ilo + 1, RangeCol{ilo}, scratch.data(), sval.data());
  }
};

struct Task {
  size_t jlo, jhi, ilo, ihi;
};

// Rows [jlo, jhi] of a layer with candidate columns [ilo, ihi].
void solve_layer(const Layer& L, size_t jlo, size_t jhi, size_t ilo, size_t ihi) {
  constexpr size_t kSmall = size_t{1} << 16;
  if (jhi - jlo < kSmall) {
    L.rec(jlo, jhi, ilo, ihi);
    return;
  }
  // Large layers: a few levels of middle rows by scans split the rows into
  // a fixed number of independent ranges (fixed by the row count only, so
  // results do not depend on the thread count), solved by SMAWK on the pool.
  std::vector<Task> tasks{{jlo, jhi, ilo, ihi}};
  int levels = 0;  // up to 64 ranges of about 2^17 rows
  while (levels < 6 && ((jhi - jlo) >> levels) > (size_t{1} << 17)) ++levels;
  for (int level = 0; level < levels; ++level) {
    std::vector<size_t> bis(tasks.size());
    parallel_for(tasks.size(), [&](size_t t) {
      const Task& k = tasks[t];
      if (k.jlo > k.jhi) return;
      const size_t mid = k.jlo + (k.jhi - k.jlo) / 2, hi = std::min(k.ihi, mid);
      bis[t] = L.solve_one(mid, L.lower(mid, k.ilo, hi), hi);
    });
    std::vector<Task> next;
    for (size_t t = 0; t < tasks.size(); ++t) {
      const Task& k = tasks[t];
      if (k.jlo > k.jhi) continue;
      const size_t mid = k.jlo + (k.jhi - k.jlo) / 2;
      if (mid > k.jlo) next.push_back({k.jlo, mid - 1, k.ilo, bis[t]});
      if (mid < k.jhi) next.push_back({mid + 1, k.jhi, bis[t], k.ihi});
    }
    tasks.swap(next);
  }
  parallel_for(tasks.size(), [&](size_t t) {
    const Task& k = tasks[t];
    const size_t hi = std::min(k.ihi, k.jhi);
    L.smawk_range(k.jlo, k.jhi, L.lower(k.jlo, k.ilo, hi), hi);
  });
}

// The minimisers of one layer, non-decreasing in j, as a bit vector: row
// jlo + t sets bit t + (opt[jlo + t] - base), base = opt[jlo]. At most 2 bits
// per row (instead of 32).
struct Backtrack {
  size_t jlo = 0, base = 0;
  std::vector<uint64_t> bits;

  void encode(const uint32_t* opt, size_t lo, size_t hi) {
    jlo = lo;
    base = opt[lo];
    const size_t nbits = (hi - lo + 1) + (opt[hi] - base);
    bits.assign(nbits / 64 + 1, 0);
    constexpr size_t kChunk = size_t{1} << 16;
    const size_t rows = hi - lo + 1, chunks = (rows + kChunk - 1) / kChunk;
    uint64_t* b = bits.data();
    const auto one = [&](size_t c) {
      uint64_t acc = 0;
      size_t word = SIZE_MAX;
      for (size_t t = c * kChunk; t < std::min(rows, (c + 1) * kChunk); ++t) {
        const size_t p = t + (opt[lo + t] - base);
        if ((p >> 6) != word) {
          if (word != SIZE_MAX) __atomic_fetch_or(b + word, acc, __ATOMIC_RELAXED);
          word = p >> 6;
          acc = 0;
        }
        acc |= uint64_t{1} << (p & 63);
      }
      if (word != SIZE_MAX) __atomic_fetch_or(b + word, acc, __ATOMIC_RELAXED);
    };
    if (chunks == 1) one(0);
    else parallel_for(chunks, one);
  }

  // opt[j]: the position of set bit number j - jlo.
  size_t decode(size_t j) const {
    size_t need = j - jlo;  // set bits to skip
    for (size_t w = 0;; ++w) {
      uint64_t v = bits[w];
      const size_t c = static_cast<size_t>(__builtin_popcountll(v));
      if (need < c) {
        for (; need > 0; --need) v &= v - 1;
        const size_t p = w * 64 + static_cast<size_t>(__builtin_ctzll(v));
        return base + p - (j - jlo);
      }
      need -= c;
    }
  }
};

}  // namespace

int unique_weighted(const void* values, WeightType t, size_t n, const float* weights,
                    WeightedValues* out, size_t* bad_index) {
  out->x.clear();
  out->w.clear();
  if (t != WeightType::kF32 && n >= 65536)
    return unique_half(static_cast<const uint16_t*>(values), t == WeightType::kBF16, n, weights, out, bad_index);
  if (t == WeightType::kF32) return unique_f32(static_cast<const float*>(values), n, weights, out, bad_index);
  // Small 16-bit inputs: sort (value, weight) pairs.
  std::vector<std::pair<double, double>> p;
  p.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const double v = value_at(values, t, i);
    if (!std::isfinite(v)) {
      *bad_index = i;
      return kKmeansNonFinite;
    }
    const double w = weights ? weights[i] : 1.0;
    if (w > 0) p.emplace_back(v, w);
  }
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& e : p) push_merge(out, e.first, e.second);
  return kKmeansOk;
}

size_t kmeans1d_sorted(const double* x, const double* w, size_t n, size_t k,
                       std::vector<size_t>* starts, std::vector<double>* centroids,
                       double* inertia) {
  const size_t kk = std::min(k, n);
  starts->assign(kk + 1, 0);
  (*starts)[kk] = n;
  if (kk == n) {
    for (size_t i = 0; i < n; ++i) (*starts)[i] = i;
  } else if (kk > 1) {
    Prefix P(x, w, n);
    const bool simd = kernels().isa != Isa::kScalar;
    std::vector<double> cur(n);
    constexpr size_t kChunk = size_t{1} << 16;
    const size_t chunks = (n + kChunk - 1) / kChunk;
    // pv[i] = cost of values [0, i - 1] (one cluster).
    parallel_for(chunks, [&](size_t c) {
      for (size_t j = c * kChunk; j < std::min(n, (c + 1) * kChunk); ++j) P.r[j + 1].pv = P.cost(0, j);
    });
    // Minimisers of the current and previous layer (uint32), and compact
    // copies of every layer but the last for the backtrack.
    std::vector<uint32_t> opt(n), opt_prev(n);
    std::vector<Backtrack> track(kk - 1);
    size_t prev_jhi = 0, last_opt = 0;
    for (size_t q = 1; q < kk; ++q) {
      // Layer q (q + 1 clusters) is needed for j <= n - kk + q only; the last
      // layer only at j = n - 1.
      const size_t jhi = n - kk + q;
      const Layer L{P, cur.data(), opt.data(), q >= 2 ? opt_prev.data() : nullptr, prev_jhi, simd};
      if (q == kk - 1) {
        last_opt = L.solve_one(jhi, q, jhi);
        break;
      }
      solve_layer(L, q, jhi, q, jhi);
      track[q].encode(opt.data(), q, jhi);
      prev_jhi = jhi;
      // The next layer reads pv[i] = cur[i - 1] for i in [q + 1, jhi + 1].
      parallel_for((jhi - q + kChunk) / kChunk, [&](size_t c) {
        for (size_t j = q + c * kChunk; j <= std::min(jhi, q + (c + 1) * kChunk - 1); ++j) P.r[j + 1].pv = cur[j];
      });
      std::swap(opt, opt_prev);
    }
    (*starts)[kk - 1] = last_opt;
    size_t j = last_opt - 1;
    for (size_t q = kk - 2; q >= 1; --q) {
      const size_t i = track[q].decode(j);
      (*starts)[q] = i;
      j = i - 1;
    }
  }
  centroids->assign(kk, 0);
  double total = 0;
  for (size_t c = 0; c < kk; ++c) {
    double sw = 0, swx = 0;
    for (size_t i = (*starts)[c]; i < (*starts)[c + 1]; ++i) {
      sw += w[i];
      swx += w[i] * x[i];
    }
    double mean = swx / sw;
    // Clamp into the cluster's range (rounding could leave it by an ulp).
    mean = std::min(std::max(mean, x[(*starts)[c]]), x[(*starts)[c + 1] - 1]);
    (*centroids)[c] = mean;
    for (size_t i = (*starts)[c]; i < (*starts)[c + 1]; ++i) total += w[i] * (x[i] - mean) * (x[i] - mean);
  }
  *inertia = total;
  return kk;
}

size_t nearest_sorted(const double* c, size_t k, double v) {
  // First centroid >= v, then compare with its left neighbour.
  const size_t hi = static_cast<size_t>(std::lower_bound(c, c + k, v) - c);
  if (hi == 0) return 0;
  if (hi == k) return k - 1;
  return (v - c[hi - 1] <= c[hi] - v) ? hi - 1 : hi;
}

int kmeans1d(const void* values, WeightType t, size_t n, const float* weights, size_t k,
             std::vector<double>* centroids, int32_t* assignments, double* inertia,
             size_t* bad_index) {
  WeightedValues u;
  const int status = unique_weighted(values, t, n, weights, &u, bad_index);
  if (status != kKmeansOk) return status;
  if (u.x.empty()) return kKmeansNoWeight;
  if (!kmeans1d_fits(k, u.x.size())) return kKmeansTooLarge;
  std::vector<size_t> starts;
  const size_t kk = kmeans1d_sorted(u.x.data(), u.w.data(), u.x.size(), k, &starts, centroids, inertia);
  if (assignments != nullptr) {
    // Cluster c holds the values in [lower[c], upper[c]]; a value between two
    // clusters (possible only with zero weight) goes to the nearer centroid.
    std::vector<double> upper(kk), lower(kk);
    for (size_t c = 0; c < kk; ++c) {
      lower[c] = u.x[starts[c]];
      upper[c] = u.x[starts[c + 1] - 1];
    }
    const auto cluster_of = [&](double v) {
      size_t c = static_cast<size_t>(std::lower_bound(upper.begin(), upper.end(), v) - upper.begin());
      if (c == kk) c = kk - 1;
      else if (c > 0 && v < lower[c]) c = (v - (*centroids)[c - 1] <= (*centroids)[c] - v) ? c - 1 : c;
      return static_cast<int32_t>(c);
    };
    constexpr size_t kChunk = 1 << 16;
    if (t != WeightType::kF32 && n >= 65536) {
      // 16-bit values: one table lookup per value (every pattern is finite here).
      std::vector<int32_t> lut(65536);
      for (uint32_t b = 0; b < 65536; ++b) {
        const double v = t == WeightType::kBF16 ? bf16_to_f32_scalar(static_cast<uint16_t>(b)) : f16_to_f32_scalar(static_cast<uint16_t>(b));
        lut[b] = std::isfinite(v) ? cluster_of(v) : 0;
      }
      const uint16_t* h = static_cast<const uint16_t*>(values);
      parallel_for((n + kChunk - 1) / kChunk, [&](size_t ch) {
        for (size_t i = ch * kChunk; i < std::min(n, (ch + 1) * kChunk); ++i) assignments[i] = lut[h[i]];
      });
    } else {
      parallel_for((n + kChunk - 1) / kChunk, [&](size_t ch) {
        for (size_t i = ch * kChunk; i < std::min(n, (ch + 1) * kChunk); ++i) assignments[i] = cluster_of(value_at(values, t, i));
      });
    }
  }
  return kKmeansOk;
}

// ---------------------------------------------------------------- Lloyd

namespace {

struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

constexpr size_t kPointChunk = 4096;

inline float dist2(const float* a, const float* b, size_t dim) {
  float s = 0;
  for (size_t d = 0; d < dim; ++d) {
    const float t = a[d] - b[d];
    s = std::fmaf(t, t, s);
  }
  return s;
}

// The index i with prefix(i) <= r < prefix(i + 1) over values v(i) >= 0
// summed in chunks (chunk_sum in chunk order). Falls back to the last index
// with a positive value (rounding at the top end).
template <typename V>
size_t pick(const std::vector<double>& chunk_sum, size_t n, double r, V v) {
  size_t c = 0;
  for (; c + 1 < chunk_sum.size() && r >= chunk_sum[c]; ++c) r -= chunk_sum[c];
  size_t last = SIZE_MAX;
  for (size_t i = c * kPointChunk; i < std::min(n, (c + 1) * kPointChunk); ++i) {
    const double x = v(i);
    if (x > 0) {
      last = i;
      if (r < x) return i;
      r -= x;
    }
  }
  if (last != SIZE_MAX) return last;
  for (size_t i = n; i-- > 0;)
    if (v(i) > 0) return i;
  return 0;
}

}  // namespace

LloydResult kmeans_lloyd(const float* points, size_t n, size_t dim, const float* weights,
                         const LloydOptions& opt, float* centroids, int32_t* assignments) {
  LloydResult res{0, 0, 0, {}};
  if (n == 0 || opt.k == 0) return res;
  const size_t chunks = (n + kPointChunk - 1) / kPointChunk;
  const auto wt = [&](size_t i) -> double { return weights ? weights[i] : 1.0; };
  SplitMix64 rng{opt.seed};
  std::vector<double> chunk_sum(chunks);

  // k-means++ seeding.
  std::vector<float> mind(n);
  parallel_for(chunks, [&](size_t c) {
    double s = 0;
    for (size_t i = c * kPointChunk; i < std::min(n, (c + 1) * kPointChunk); ++i) s += wt(i);
    chunk_sum[c] = s;
  });
  double total = 0;
  for (double s : chunk_sum) total += s;
  size_t first = pick(chunk_sum, n, rng.uniform() * total, wt);
  std::memcpy(centroids, points + first * dim, dim * sizeof(float));
  size_t kc = 1;
  parallel_for(chunks, [&](size_t c) {
    for (size_t i = c * kPointChunk; i < std::min(n, (c + 1) * kPointChunk); ++i)
      mind[i] = dist2(points + i * dim, centroids, dim);
  });
  while (kc < opt.k) {
    parallel_for(chunks, [&](size_t c) {
      double s = 0;
      for (size_t i = c * kPointChunk; i < std::min(n, (c + 1) * kPointChunk); ++i) s += wt(i) * mind[i];
      chunk_sum[c] = s;
    });
    total = 0;
    for (double s : chunk_sum) total += s;
    if (!(total > 0)) break;  // every point sits on a centroid: fewer distinct points than k
    const size_t next = pick(chunk_sum, n, rng.uniform() * total, [&](size_t i) { return wt(i) * mind[i]; });
    float* c_new = centroids + kc * dim;
    std::memcpy(c_new, points + next * dim, dim * sizeof(float));
    ++kc;
    parallel_for(chunks, [&](size_t c) {
      for (size_t i = c * kPointChunk; i < std::min(n, (c + 1) * kPointChunk); ++i)
        mind[i] = std::min(mind[i], dist2(points + i * dim, c_new, dim));
    });
  }
  res.clusters = kc;

  // Lloyd.
  const size_t kp = (kc + 15) / 16 * 16;
  std::vector<float> ct(dim * kp);
  std::vector<float> dist(n);
  std::vector<double> part(chunks * kc * (dim + 1));
  std::vector<uint8_t> chunk_changed(chunks);
  const KmeansAssignKernel assign_kernel = kernels().kmeans_assign;
  const auto assign = [&](bool first_pass) {
    for (size_t d = 0; d < dim; ++d)
      for (size_t c = 0; c < kp; ++c)
        ct[d * kp + c] = c < kc ? centroids[c * dim + d] : std::numeric_limits<float>::quiet_NaN();
    parallel_for(chunks, [&](size_t c) {
      const size_t i0 = c * kPointChunk, i1 = std::min(n, i0 + kPointChunk);
      int32_t before[kPointChunk];
      if (!first_pass) std::memcpy(before, assignments + i0, (i1 - i0) * sizeof(int32_t));
      assign_kernel(points + i0 * dim, i1 - i0, dim, ct.data(), kc, kp, assignments + i0, dist.data() + i0);
      double s = 0;
      for (size_t i = i0; i < i1; ++i) s += wt(i) * dist[i];
      chunk_sum[c] = s;
      chunk_changed[c] = first_pass || std::memcmp(before, assignments + i0, (i1 - i0) * sizeof(int32_t)) != 0;
    });
    double t = 0;
    bool changed = false;
    for (size_t c = 0; c < chunks; ++c) {
      t += chunk_sum[c];
      changed = changed || chunk_changed[c];
    }
    return std::make_pair(t, changed);
  };
  double inertia = assign(true).first;
  res.history.push_back(inertia);
  for (size_t it = 1; it <= opt.max_iter; ++it) {
    // Update: weighted means, partial sums per chunk reduced in chunk order.
    parallel_for(chunks, [&](size_t c) {
      double* p = part.data() + c * kc * (dim + 1);
      std::fill(p, p + kc * (dim + 1), 0.0);
      for (size_t i = c * kPointChunk; i < std::min(n, (c + 1) * kPointChunk); ++i) {
        const double w = wt(i);
        double* q = p + static_cast<size_t>(assignments[i]) * (dim + 1);
        q[dim] += w;
        for (size_t d = 0; d < dim; ++d) q[d] += w * points[i * dim + d];
      }
    });
    for (size_t c = 1; c < chunks; ++c) {
      const double* p = part.data() + c * kc * (dim + 1);
      for (size_t j = 0; j < kc * (dim + 1); ++j) part[j] += p[j];
    }
    for (size_t c = 0; c < kc; ++c) {
      const double* q = part.data() + c * (dim + 1);
      if (q[dim] > 0)
        for (size_t d = 0; d < dim; ++d) centroids[c * dim + d] = static_cast<float>(q[d] / q[dim]);
    }
    const auto [next, changed] = assign(false);
    res.iterations = it;
    res.history.push_back(next);
    const double prev = inertia;
    inertia = next;
    if (!changed || prev - next <= opt.tolerance * prev) break;
  }
  res.inertia = inertia;
  return res;
}

}  // namespace sparq

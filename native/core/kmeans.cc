#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "half.h"
#include "kernels.h"
#include "kernels/kmeans/dp.h"
#include "large_buffer.h"
#include "target.h"
#include "thread_pool.h"

namespace sparq {
namespace {

inline double value_at(const void* p, WeightType t, size_t i) { return widen_scalar(p, t, i); }

// Order-preserving map of float bits to unsigned keys, and back.
inline uint32_t f32_key(uint32_t u) { return (u & 0x80000000u) ? ~u : (u | 0x80000000u); }
inline float key_f32(uint32_t k) { return bits_f32((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k); }

// LSD radix sort of n items on their 32-bit key: the item itself (uint32_t)
// or its upper half (uint64_t, the lower half travels along). 3 passes of
// 11, 11 and 10 bits. Stable, so equal keys keep their input order. Each
// pass splits the items into a fixed number of parts on the pool
// (histograms, then scatters at offsets in part order: the same permutation
// whatever the thread count).
template <typename Item>
void radix_sort_key32(Item* a, size_t n) {
  constexpr int kBase = sizeof(Item) == 8 ? 32 : 0;
  LargeArray<Item> tmp(n);
  constexpr int kShift[3] = {kBase, kBase + 11, kBase + 22};
  constexpr uint32_t kMask[3] = {0x7FF, 0x7FF, 0x3FF};
  constexpr size_t kParts = 16, kBuckets = 2048;
  const size_t part = (n + kParts - 1) / kParts;
  std::vector<size_t> hist(kParts * kBuckets);
  Item* src = a;
  Item* dst = tmp.p;
  for (int p = 0; p < 3; ++p) {
    const int sh = kShift[p];
    const uint32_t mask = kMask[p];
    parallel_for(kParts, [&](size_t c) {
      size_t* h = hist.data() + c * kBuckets;
      std::fill(h, h + kBuckets, size_t{0});
      for (size_t i = c * part; i < std::min(n, (c + 1) * part); ++i) ++h[(src[i] >> sh) & mask];
    });
    // Offsets: bucket by bucket, parts in order within a bucket.
    size_t sum = 0;
    bool one_bucket = false;
    for (size_t b = 0; b < kBuckets; ++b) {
      const size_t start = sum;
      for (size_t c = 0; c < kParts; ++c) {
        const size_t cnt = hist[c * kBuckets + b];
        hist[c * kBuckets + b] = sum;
        sum += cnt;
      }
      if (sum - start == n) one_bucket = true;
    }
    if (one_bucket) continue;  // already in order on this digit
    parallel_for(kParts, [&](size_t c) {
      size_t* h = hist.data() + c * kBuckets;
      for (size_t i = c * part; i < std::min(n, (c + 1) * part); ++i) {
        const Item v = src[i];
        dst[h[(v >> sh) & mask]++] = v;
      }
    });
    std::swap(src, dst);
  }
  if (src != a) std::memcpy(a, src, n * sizeof(Item));
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
  LargeVector<double> hist(kHistChunks * 65536, 0.0);
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

// Distinct f32 values: the order-preserving keys (with the weights' bits
// in the lower half of each item when weighted) radix-sorted, then the runs
// of equal values emitted in fixed parts on the pool: each part counts the
// runs starting in it (those of positive weight), then writes them at its
// offset. A run's weight is summed in input order (the sort is stable), so
// the result does not depend on the thread count.
template <typename Item>
void emit_runs(const Item* items, size_t n, WeightedValues* out) {
  constexpr bool kWeighted = sizeof(Item) == 8;
  const auto key = [&](size_t i) { return static_cast<uint32_t>(kWeighted ? static_cast<uint64_t>(items[i]) >> 32 : items[i]); };
  // -0 (key 0x7FFFFFFF) and +0 (0x80000000) are one value.
  const auto starts_run = [&](size_t i) {
    if (i == 0) return true;
    const uint32_t a = key(i - 1), b = key(i);
    return a != b && !(a == 0x7FFFFFFFu && b == 0x80000000u);
  };
  const auto weight_of = [&](size_t i) {
    return kWeighted ? static_cast<double>(bits_f32(static_cast<uint32_t>(items[i]))) : 1.0;
  };
  // The run starting at i: its end and total weight.
  const auto run = [&](size_t i, double* w) {
    double s = weight_of(i);
    size_t j = i + 1;
    for (; j < n && !starts_run(j); ++j) s += weight_of(j);
    *w = s;
    return j;
  };
  constexpr size_t kParts = 64;
  const size_t part = (n + kParts - 1) / kParts;
  std::vector<size_t> count(kParts + 1, 0);
  parallel_for(kParts, [&](size_t c) {
    size_t m = 0;
    const size_t end = std::min(n, (c + 1) * part);
    for (size_t i = c * part; i < end; ++i) {
      if (!starts_run(i)) continue;
      if (!kWeighted) {
        ++m;
        continue;
      }
      double w;
      const size_t j = run(i, &w);
      m += w > 0;
      i = j - 1;
    }
    count[c + 1] = m;
  });
  for (size_t c = 0; c < kParts; ++c) count[c + 1] += count[c];
  out->x.resize(count[kParts]);
  out->w.resize(count[kParts]);
  parallel_for(kParts, [&](size_t c) {
    size_t o = count[c];
    const size_t end = std::min(n, (c + 1) * part);
    for (size_t i = c * part; i < end; ++i) {
      if (!starts_run(i)) continue;
      double w;
      const size_t j = run(i, &w);
      if (w > 0) {
        out->x[o] = key_f32(key(i));
        out->w[o] = w;
        ++o;
      }
      i = j - 1;
    }
  });
}

template <typename Item>
int unique_f32_items(const float* v, size_t n, const float* weights, WeightedValues* out, size_t* bad_index) {
  LargeArray<Item> items(n);
  constexpr size_t kParts = 16;
  const size_t part = (n + kParts - 1) / kParts;
  std::vector<size_t> bad(kParts, SIZE_MAX);  // first non-finite value per part
  parallel_for(kParts, [&](size_t c) {
    for (size_t i = c * part; i < std::min(n, (c + 1) * part); ++i) {
      const uint32_t u = f32_bits(v[i]);
      if ((u & 0x7F800000u) == 0x7F800000u) {
        bad[c] = i;
        return;
      }
      if constexpr (sizeof(Item) == 8) items.p[i] = (static_cast<uint64_t>(f32_key(u)) << 32) | f32_bits(weights[i]);
      else items.p[i] = f32_key(u);
    }
  });
  for (size_t c = 0; c < kParts; ++c)
    if (bad[c] != SIZE_MAX) {
      *bad_index = bad[c];
      return kKmeansNonFinite;
    }
  if (n >= 4096) {
    radix_sort_key32(items.p, n);
  } else {  // same order (stable on the key)
    std::stable_sort(items.p, items.p + n, [](Item a, Item b) {
      return (sizeof(Item) == 8 ? static_cast<uint64_t>(a) >> 32 : a) < (sizeof(Item) == 8 ? static_cast<uint64_t>(b) >> 32 : b);
    });
  }
  emit_runs(items.p, n, out);
  return kKmeansOk;
}

int unique_f32(const float* v, size_t n, const float* weights, WeightedValues* out, size_t* bad_index) {
  return weights ? unique_f32_items<uint64_t>(v, n, weights, out, bad_index)
                 : unique_f32_items<uint32_t>(v, n, weights, out, bad_index);
}

// Prefix sums of w, w x and w x^2 (x shifted by a central value so clusters
// near it lose few digits to cancellation), as separate arrays so that SIMD
// scans load 4 or 8 consecutive candidates per instruction.
struct Prefix {
  LargeArray<double> W, S1, S2;
  Prefix(const double* x, const double* wt, size_t n) : W(n + 1), S1(n + 1), S2(n + 1) {
    const double shift = x[n / 2];
    // The sums run in order, once without stores to find each chunk's
    // starting values, then per chunk on the pool (the same additions, so
    // the same bits; the arrays' pages are first touched in parallel).
    constexpr size_t kChunk = size_t{1} << 18;
    const size_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> start(3 * chunks);
    double w = 0, s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; ++i) {
      if (i % kChunk == 0) {
        start[3 * (i / kChunk)] = w;
        start[3 * (i / kChunk) + 1] = s1;
        start[3 * (i / kChunk) + 2] = s2;
      }
      const double d = x[i] - shift;
      w += wt[i];
      s1 += wt[i] * d;
      s2 += wt[i] * d * d;
    }
    W.p[0] = S1.p[0] = S2.p[0] = 0;
    parallel_for(chunks, [&](size_t c) {
      double cw = start[3 * c], cs1 = start[3 * c + 1], cs2 = start[3 * c + 2];
      for (size_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) {
        const double d = x[i] - shift;
        cw += wt[i];
        cs1 += wt[i] * d;
        cs2 += wt[i] * d * d;
        W.p[i + 1] = cw;
        S1.p[i + 1] = cs1;
        S2.p[i + 1] = cs2;
      }
    });
  }
  // Cost of one cluster holding values [i, j] (inclusive).
  double cost(size_t i, size_t j) const {
    const double ww = W.p[j + 1] - W.p[i];
    const double s = S1.p[j + 1] - S1.p[i];
    const double c = (S2.p[j + 1] - S2.p[i]) - s * s / ww;
    return c > 0 ? c : 0;
  }
};

using namespace dp1d;  // the row-minimum kernels (kernels/kmeans/dp_*.cc)

// The sweep's probes right of a batch's window (b + probe_offset(t)).
constexpr size_t kProbes = 5;
inline size_t probe_offset(size_t t) { return (size_t{32} << t) - 16; }  // 16, 48, 112, 240, 496

// One DP layer: for rows j, cur[j + 1] = min over i in [q, j] of pv[i] +
// cost(i, j) and opt[j] = the leftmost minimising i. The cost is Monge, so the
// leftmost row minima are non-decreasing in j. Two ways to find them: divide
// and conquer over the rows (rec: each middle row scanned, SIMD, between its
// neighbours' minimisers; small layers and the fallback), and the batched
// sweep (sweep: large layers, fewer evaluations per row).
struct Layer {
  Cols cols;
  double* cur;  // written at j + 1 (the next layer's pv)
  uint32_t* opt;
  const uint32_t* opt_prev;  // previous layer's minimisers for rows <= prev_jhi (or null)
  size_t prev_jhi;
  Isa isa;
  static constexpr size_t kLeafCols = 24;

  // With one more cluster the last one starts no earlier: opt[j] >= opt_prev[j].
  size_t lower(size_t j, size_t lo, size_t hi) const {
    return (opt_prev != nullptr && j <= prev_jhi) ? std::max<size_t>(lo, std::min<size_t>(opt_prev[j], hi)) : lo;
  }

  size_t scan(size_t j, size_t a, size_t b, double* best) const {
    const RowEnd e = row_end(cols, j);
    if (isa == Isa::kAvx512 && b - a >= 15) return scan_avx512(cols, e, a, b, best);
    if (isa != Isa::kScalar && b - a >= 7) return scan_avx2(cols, e, a, b, best);
    return scan_ref(cols, e, a, b, best);
  }

  // Leftmost minimum of row j over columns [ilo, ihi] (ihi <= j); large
  // ranges in fixed pieces on the pool (combined in order, so the result
  // does not depend on the thread count).
  size_t solve_one(size_t j, size_t ilo, size_t ihi) const {
    constexpr size_t kPiece = size_t{1} << 15;
    double best;
    size_t bi;
    if (ihi - ilo < 2 * kPiece) {
      bi = scan(j, ilo, ihi, &best);
    } else {
      const size_t pieces = (ihi - ilo + kPiece) / kPiece;
      std::vector<double> pb(pieces);
      std::vector<size_t> pi(pieces);
      parallel_for(pieces, [&](size_t p) {
        const size_t a = ilo + p * kPiece, b = std::min(ihi, a + kPiece - 1);
        pi[p] = scan(j, a, b, &pb[p]);
      });
      best = pb[0];
      bi = pi[0];
      for (size_t p = 1; p < pieces; ++p)
        if (pb[p] < best) {
          best = pb[p];
          bi = pi[p];
        }
    }
    cur[j + 1] = best;
    opt[j] = static_cast<uint32_t>(bi);
    return bi;
  }

  // Divide and conquer over rows [jlo, jhi] with minimisers in [ilo, ihi].
  // Blocks of at most kLeafRows rows with few candidate columns: all their
  // rows at once (leaf_*).
  void rec(size_t jlo, size_t jhi, size_t ilo, size_t ihi) const {
    while (jlo <= jhi) {
      if (jhi - jlo < kLeafRows && ihi - ilo < kLeafCols) {
        const size_t nr = jhi - jlo + 1;
        if (isa == Isa::kAvx512) leaf_avx512(cols, jlo, nr, ilo, ihi, cur, opt);
        else if (isa == Isa::kAvx2) leaf_avx2(cols, jlo, nr, ilo, ihi, cur, opt);
        else leaf_ref(cols, jlo, nr, ilo, ihi, cur, opt);
        return;
      }
      const size_t mid = jlo + (jhi - jlo) / 2;
      const size_t hi = std::min(ihi, mid);
      double best;
      const size_t bi = scan(mid, lower(mid, ilo, hi), hi, &best);
      cur[mid + 1] = best;
      opt[mid] = static_cast<uint32_t>(bi);
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
  size_t batch(size_t j0, size_t nr, size_t a, size_t ihi, size_t end) const {
    if (isa == Isa::kAvx512) return batch_avx512(cols, j0, nr, a, ihi, end, cur, opt);
    if (isa == Isa::kAvx2) return batch_avx2(cols, j0, nr, a, ihi, end, cur, opt);
    return batch_ref(cols, j0, nr, a, ihi, end, cur, opt);
  }

  // Rows [jlo, jhi] whose minimisers lie in [ilo, ihi], ilo and ihi being
  // the minimisers of rows jlo - 1 and jhi + 1 (or the layer's bounds).
  // Sweeps the rows in batches, each over a short window of columns from the
  // previous batch's last minimiser. The result is exact once every row j's
  // columns seen include [opt[j - 1], opt[j + 1]] (with opt[jlo - 1] = ilo,
  // opt[jhi + 1] = ihi) and opt is non-decreasing: each opt[j] is then the
  // leftmost minimum of row j between its neighbours' minimisers, which for
  // a Monge matrix makes it the leftmost minimum of the whole row (were some
  // column right of opt[j + 1] better for row j, then by the Monge
  // inequality some column right of opt[j + 2] would be better for row
  // j + 1, and so on up to row jhi, whose window ends at ihi; the same
  // leftwards). Rows inside a batch meet this by construction; a batch's
  // last row whose window stopped short of the next row's minimiser is
  // extended (and, if its minimiser moves, the row before it, and so on).
  // Non-monotone minimisers (floating-point ties): divide and conquer.
  void sweep(size_t jlo, size_t jhi, size_t ilo, size_t ihi) const {
    std::vector<uint32_t> ends((jhi - jlo) / 8 + 1);  // each batch's window end (before extensions)
    size_t a = ilo;
    for (size_t j0 = jlo; j0 <= jhi; j0 += 8) {
      const size_t nr = std::min<size_t>(8, jhi - j0 + 1);
      const size_t jl = j0 + nr - 1, lim = std::min(ihi, jl);
      size_t b = batch(j0, nr, a, ihi, jl == jhi ? ihi : a + kBatchCols - 1);
      // Probes further right on the last row (b + probe_offset): a
      // better column there means the window stopped in a local minimum;
      // redo the batch past the first such probe.
      const RowEnd el = row_end(cols, jl);
      for (;;) {
        double pv[kProbes];
        size_t np = 0;
        while (np < kProbes && b + probe_offset(np) <= lim) ++np;
        for (size_t t = 0; t < np; ++t) pv[t] = value_scalar(cols, el, b + probe_offset(t));
        size_t t = 0;
        while (t < np && !(pv[t] < cur[jl + 1])) ++t;
        if (t == np) break;
        b = batch(j0, nr, a, ihi, b + probe_offset(t) + kBatchSlack);
      }
      ends[(j0 - jlo) / 8] = static_cast<uint32_t>(b);
      for (size_t j = j0 + 1; j < j0 + nr; ++j)
        if (opt[j] < opt[j - 1]) return rec(jlo, jhi, ilo, ihi);
      // Rows before j0 must have seen columns up to the next row's minimiser.
      for (size_t j = j0 - 1; j0 > jlo; --j) {
        const size_t need = std::min<size_t>(opt[j + 1], j), seen = std::min<size_t>(ends[(j - jlo) / 8], j);
        if (need <= seen) break;
        double best;
        const size_t bi = scan(j, seen + 1, need, &best);
        if (!(best < cur[j + 1])) break;  // row j's minimiser stands
        cur[j + 1] = best;
        opt[j] = static_cast<uint32_t>(bi);
        if (j == jlo) break;
      }
      a = opt[j0 + nr - 1];
    }
  }
};

// The minimisers of one layer, non-decreasing in j, as a bit vector: row
// jlo + t sets bit t + (opt[jlo + t] - base), base = opt[jlo]. At most 2 bits
// per row (instead of 32).
struct Backtrack {
  size_t jlo = 0, base = 0;
  LargeVector<uint64_t> bits;

  // Rows [lo, hi] whose minimisers lie in [lo, hi] (row lo has the single
  // candidate lo, so base = lo): all bits clear, room for 2 per row.
  void init(size_t lo, size_t hi) {
    jlo = lo;
    base = lo;
    bits.assign((2 * (hi - lo) + 1) / 64 + 1, 0);
  }

  // Sets the bits of rows [a, b] (atomic ORs: ranges may share words).
  void encode_rows(const uint32_t* opt, size_t a, size_t b) {
    uint64_t* w = bits.data();
    uint64_t acc = 0;
    size_t word = SIZE_MAX;
    for (size_t j = a; j <= b; ++j) {
      const size_t p = (j - jlo) + (opt[j] - base);
      if ((p >> 6) != word) {
        if (word != SIZE_MAX) __atomic_fetch_or(w + word, acc, __ATOMIC_RELAXED);
        word = p >> 6;
        acc = 0;
      }
      acc |= uint64_t{1} << (p & 63);
    }
    if (word != SIZE_MAX) __atomic_fetch_or(w + word, acc, __ATOMIC_RELAXED);
  }

  // All rows [jlo, hi], in fixed chunks on the pool.
  void encode(const uint32_t* opt, size_t hi) {
    constexpr size_t kChunk = size_t{1} << 16;
    const size_t rows = hi - jlo + 1, chunks = (rows + kChunk - 1) / kChunk;
    const auto one = [&](size_t c) { encode_rows(opt, jlo + c * kChunk, jlo + std::min(rows, (c + 1) * kChunk) - 1); };
    if (chunks == 1) one(0);
    else parallel_for(chunks, one);
  }

  // opt[j]: the position of set bit number j - jlo (popcnt: with the
  // POPCNT instruction rather than the generic builtin).
  size_t decode(size_t j, bool popcnt) const {
    size_t need = j - jlo;  // set bits to skip
    const size_t w = popcnt ? skip_words_popcnt(bits.data(), &need) : skip_words(bits.data(), &need);
    uint64_t v = bits[w];
    for (; need > 0; --need) v &= v - 1;
    const size_t p = w * 64 + static_cast<size_t>(__builtin_ctzll(v));
    return base + p - (j - jlo);
  }

  // The word holding set bit number *need (counted from bits[0]); *need
  // becomes its rank within that word.
  static size_t skip_words(const uint64_t* b, size_t* need) {
    for (size_t w = 0;; ++w) {
      const size_t c = static_cast<size_t>(__builtin_popcountll(b[w]));
      if (*need < c) return w;
      *need -= c;
    }
  }
  SPARQ_TARGET_AVX2 static size_t skip_words_popcnt(const uint64_t* b, size_t* need) {
    for (size_t w = 0;; ++w) {
      const size_t c = static_cast<size_t>(__builtin_popcountll(b[w]));
      if (*need < c) return w;
      *need -= c;
    }
  }
};

struct Task {
  size_t jlo, jhi, ilo, ihi;
};

// Rows [jlo, jhi] of a layer with candidate columns [ilo, ihi]; their
// minimisers go to *track (initialised for the rows).
void solve_layer(const Layer& L, size_t jlo, size_t jhi, size_t ilo, size_t ihi, Backtrack* track) {
  constexpr size_t kSmall = size_t{1} << 16;
  if (jhi - jlo < kSmall) {
    L.rec(jlo, jhi, ilo, ihi);
    track->encode(L.opt, jhi);
    return;
  }
  // Large layers: two levels of middle rows (exact, by scans split on the
  // pool) cut the rows into 4 independent ranges (fixed by the row count
  // only, so results do not depend on the thread count), each swept on the
  // pool. More ranges would cost another scan of most columns per level.
  std::vector<Task> tasks{{jlo, jhi, ilo, ihi}};
  int levels = 0;
  while (levels < 2 && ((jhi - jlo) >> levels) > (size_t{1} << 17)) ++levels;
  for (int level = 0; level < levels; ++level) {
    std::vector<size_t> bis(tasks.size());
    parallel_for(tasks.size(), [&](size_t t) {
      const Task& k = tasks[t];
      if (k.jlo > k.jhi) return;
      const size_t mid = k.jlo + (k.jhi - k.jlo) / 2, hi = std::min(k.ihi, mid);
      bis[t] = L.solve_one(mid, L.lower(mid, k.ilo, hi), hi);
      track->encode_rows(L.opt, mid, mid);
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
    L.sweep(k.jlo, k.jhi, k.ilo, k.ihi);
    track->encode_rows(L.opt, k.jlo, k.jhi);  // while its minimisers are fresh in cache
  });
}

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
    const Isa isa = kernels().isa;
    // pv[i] = the previous layer's cost of values [0, i - 1]: one cluster
    // first; each layer writes the next one's into nv.
    LargeArray<double> pv_buf(n + 1), nv_buf(n + 1);
    double* pv = pv_buf.p;
    double* nv = nv_buf.p;
    constexpr size_t kChunk = size_t{1} << 16;
    const size_t chunks = (n + kChunk - 1) / kChunk;
    pv[0] = 0;
    parallel_for(chunks, [&](size_t c) {
      for (size_t j = c * kChunk; j < std::min(n, (c + 1) * kChunk); ++j) pv[j + 1] = P.cost(0, j);
    });
    // Minimisers of the current and previous layer (uint32), and compact
    // copies of every layer but the last for the backtrack.
    LargeArray<uint32_t> opt_a(n), opt_b(n);
    uint32_t* opt = opt_a.p;
    uint32_t* opt_prev = opt_b.p;
    std::vector<Backtrack> track(kk - 1);
    size_t prev_jhi = 0, last_opt = 0;
    for (size_t q = 1; q < kk; ++q) {
      // Layer q (q + 1 clusters) is needed for j <= n - kk + q only; the last
      // layer only at j = n - 1.
      const size_t jhi = n - kk + q;
      const Layer L{Cols{P.W.p, P.S1.p, P.S2.p, pv}, nv, opt, q >= 2 ? opt_prev : nullptr, prev_jhi, isa};
      if (q == kk - 1) {
        last_opt = L.solve_one(jhi, q, jhi);
        break;
      }
      track[q].init(q, jhi);
      solve_layer(L, q, jhi, q, jhi, &track[q]);
      prev_jhi = jhi;
      std::swap(pv, nv);
      std::swap(opt, opt_prev);
    }
    (*starts)[kk - 1] = last_opt;
    size_t j = last_opt - 1;
    for (size_t q = kk - 2; q >= 1; --q) {
      const size_t i = track[q].decode(j, isa != Isa::kScalar);
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

namespace {

// The first b in [0, n) where right(b) fails, right being true below some
// index and false from it on: a branch-free binary search.
template <typename Right>
size_t first_not_right(size_t n, Right right) {
  size_t first = 0, len = n;
  while (len > 0) {
    const size_t half = len >> 1, b = first + half;
    const bool r = right(b);
    first = r ? b + 1 : first;
    len = r ? len - half - 1 : half;
  }
  return first;
}

}  // namespace

size_t nearest_sorted(const double* c, size_t k, double v) {
  // v belongs right of boundary b (between c[b] and c[b + 1]) when it is
  // strictly nearer c[b + 1]; for sorted c that holds for b below the answer
  // and fails from it on (the two differences are monotone in b). The
  // comparison at the answer is the one a lower_bound then a compare with
  // the left neighbour would make, so the same result, ties to the lower
  // index.
  return first_not_right(k - 1, [&](size_t b) { return v - c[b] > c[b + 1] - v; });
}

namespace {

// thr[b] = the smallest finite float v with index_of(v) > b, for b < k - 1
// (+inf if none), for a non-decreasing index_of from floats to [0, k):
// then index_of(v) is the number of thresholds <= v.
template <typename IndexOf>
void monotone_thresholds(IndexOf index_of, size_t k, float* thr) {
  const uint32_t lo_key = f32_key(f32_bits(-std::numeric_limits<float>::max()));
  const uint32_t hi_key = f32_key(f32_bits(std::numeric_limits<float>::max()));
  for (size_t b = 0; b + 1 < k; ++b) {
    const auto right = [&](uint32_t key) { return static_cast<size_t>(index_of(static_cast<double>(key_f32(key)))) > b; };
    if (!right(hi_key)) {
      thr[b] = std::numeric_limits<float>::infinity();
      continue;
    }
    uint32_t lo = lo_key, hi = hi_key;  // right(hi); the first such key in [lo, hi]
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if (right(mid)) hi = mid;
      else lo = mid + 1;
    }
    thr[b] = key_f32(lo);
  }
}

}  // namespace

void nearest_thresholds(const double* c, size_t k, float* thr) {
  monotone_thresholds([&](double v) { return nearest_sorted(c, k, v); }, k, thr);
}

template <typename Index>
void count_thresholds(const void* values, WeightType t, size_t i0, size_t n, const float* thr, size_t k, Index* out) {
  // Blocks of values (widened to float unless float32 already); for small k
  // one vectorisable pass per threshold, else a search per value.
  constexpr size_t kBlock = 256;
  float wide[kBlock];
  uint32_t cnt[kBlock];
  for (size_t o = 0; o < n; o += kBlock) {
    const size_t len = std::min(kBlock, n - o);
    const float* v = wide;
    if (t == WeightType::kF32) v = static_cast<const float*>(values) + i0 + o;
    else
      for (size_t i = 0; i < len; ++i) wide[i] = static_cast<float>(value_at(values, t, i0 + o + i));
    if (k <= 16) {
      std::fill(cnt, cnt + len, 0u);
      for (size_t b = 0; b + 1 < k; ++b) {
        const float th = thr[b];
        for (size_t i = 0; i < len; ++i) cnt[i] += v[i] >= th ? 1u : 0u;
      }
      for (size_t i = 0; i < len; ++i) out[o + i] = static_cast<Index>(cnt[i]);
    } else {
      for (size_t i = 0; i < len; ++i)
        out[o + i] = static_cast<Index>(first_not_right(k - 1, [&](size_t b) { return v[i] >= thr[b]; }));
    }
  }
}
template void count_thresholds<uint8_t>(const void*, WeightType, size_t, size_t, const float*, size_t, uint8_t*);
template void count_thresholds<int32_t>(const void*, WeightType, size_t, size_t, const float*, size_t, int32_t*);

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
      // cluster_of is non-decreasing: count its float thresholds.
      std::vector<float> thr(kk - 1);
      monotone_thresholds(cluster_of, kk, thr.data());
      parallel_for((n + kChunk - 1) / kChunk, [&](size_t ch) {
        const size_t i0 = ch * kChunk;
        count_thresholds(values, t, i0, std::min(n, i0 + kChunk) - i0, thr.data(), kk, assignments + i0);
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

#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "half.h"
#include "kernels.h"
#include "thread_pool.h"

namespace sparq {
namespace {

inline double value_at(const void* p, ValueType t, size_t i) {
  switch (t) {
    case ValueType::kF16: return f16_to_f32_scalar(static_cast<const uint16_t*>(p)[i]);
    case ValueType::kBF16: return bf16_to_f32_scalar(static_cast<const uint16_t*>(p)[i]);
    case ValueType::kF32: break;
  }
  return static_cast<const float*>(p)[i];
}

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
// near it lose few digits to cancellation).
struct Prefix {
  std::vector<double> w, s1, s2;
  Prefix(const double* x, const double* wt, size_t n) : w(n + 1), s1(n + 1), s2(n + 1) {
    const double shift = x[n / 2];
    w[0] = s1[0] = s2[0] = 0;
    for (size_t i = 0; i < n; ++i) {
      const double d = x[i] - shift;
      w[i + 1] = w[i] + wt[i];
      s1[i + 1] = s1[i] + wt[i] * d;
      s2[i + 1] = s2[i] + wt[i] * d * d;
    }
  }
  // Cost of one cluster holding values [i, j] (inclusive).
  double cost(size_t i, size_t j) const {
    const double ww = w[j + 1] - w[i];
    const double s = s1[j + 1] - s1[i];
    const double c = (s2[j + 1] - s2[i]) - s * s / ww;
    return c > 0 ? c : 0;
  }
};

// One DP layer by divide and conquer: cur[j] = min over i in [ilo, min(ihi, j)]
// of prev[i - 1] + cost(i, j); opt[j] = the leftmost minimising i. The
// leftmost minimiser is non-decreasing in j (the cost is Monge).
struct Layer {
  const Prefix& P;
  const double* prev;
  double* cur;
  uint32_t* opt;
  const uint32_t* opt_prev;  // the previous layer's minimisers (null for the first)

  size_t solve_one(size_t j, size_t ilo, size_t ihi) const {
    const size_t hi = std::min(ihi, j);
    // With one more cluster the last one starts no earlier: opt[q][j] >= opt[q-1][j].
    if (opt_prev != nullptr) ilo = std::max<size_t>(ilo, std::min<size_t>(opt_prev[j], hi));
    double best = std::numeric_limits<double>::infinity();
    size_t bi = ilo;
    for (size_t i = ilo; i <= hi; ++i) {
      const double v = prev[i - 1] + P.cost(i, j);
      if (v < best) {
        best = v;
        bi = i;
      }
    }
    cur[j] = best;
    opt[j] = static_cast<uint32_t>(bi);
    return bi;
  }

  void rec(size_t jlo, size_t jhi, size_t ilo, size_t ihi) const {
    while (jlo <= jhi) {
      const size_t mid = jlo + (jhi - jlo) / 2;
      const size_t bi = solve_one(mid, ilo, ihi);
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
};

struct Task {
  size_t jlo, jhi, ilo, ihi;
};

void solve_layer(const Layer& L, size_t jlo, size_t jhi, size_t ilo, size_t ihi) {
  if (jhi - jlo < 8192) {
    L.rec(jlo, jhi, ilo, ihi);
    return;
  }
  // Expand the top of the recursion breadth-first, then solve the
  // independent sub-ranges on the pool (results do not depend on the split).
  std::vector<Task> tasks{{jlo, jhi, ilo, ihi}};
  for (int level = 0; level < 5; ++level) {
    std::vector<Task> next;
    for (const Task& t : tasks) {
      if (t.jlo > t.jhi) continue;
      const size_t mid = t.jlo + (t.jhi - t.jlo) / 2;
      const size_t bi = L.solve_one(mid, t.ilo, t.ihi);
      if (mid > t.jlo) next.push_back({t.jlo, mid - 1, t.ilo, bi});
      if (mid < t.jhi) next.push_back({mid + 1, t.jhi, bi, t.ihi});
    }
    tasks.swap(next);
  }
  parallel_for(tasks.size(), [&](size_t i) { L.rec(tasks[i].jlo, tasks[i].jhi, tasks[i].ilo, tasks[i].ihi); });
}

}  // namespace

int unique_weighted(const void* values, ValueType t, size_t n, const float* weights,
                    WeightedValues* out, size_t* bad_index) {
  out->x.clear();
  out->w.clear();
  if (t != ValueType::kF32 && n >= 65536)
    return unique_half(static_cast<const uint16_t*>(values), t == ValueType::kBF16, n, weights, out, bad_index);
  if (t == ValueType::kF32) return unique_f32(static_cast<const float*>(values), n, weights, out, bad_index);
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
    const Prefix P(x, w, n);
    std::vector<double> prev(n), cur(n);
    for (size_t j = 0; j < n; ++j) prev[j] = P.cost(0, j);
    std::vector<uint32_t> opt((kk - 1) * n);
    for (size_t q = 1; q < kk; ++q) {
      // Layer q (q + 1 clusters) is needed for j <= n - kk + q only; the last
      // layer only at j = n - 1.
      const size_t jhi = n - kk + q;
      const size_t jlo = q == kk - 1 ? n - 1 : q;
      const Layer L{P, prev.data(), cur.data(), opt.data() + (q - 1) * n, q >= 2 ? opt.data() + (q - 2) * n : nullptr};
      solve_layer(L, jlo, jhi, q, jhi);
      std::swap(prev, cur);
    }
    size_t j = n - 1;
    for (size_t q = kk - 1; q >= 1; --q) {
      const size_t i = opt[(q - 1) * n + j];
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

int kmeans1d(const void* values, ValueType t, size_t n, const float* weights, size_t k,
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
    if (t != ValueType::kF32 && n >= 65536) {
      // 16-bit values: one table lookup per value (every pattern is finite here).
      std::vector<int32_t> lut(65536);
      for (uint32_t b = 0; b < 65536; ++b) {
        const double v = t == ValueType::kBF16 ? bf16_to_f32_scalar(static_cast<uint16_t>(b)) : f16_to_f32_scalar(static_cast<uint16_t>(b));
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

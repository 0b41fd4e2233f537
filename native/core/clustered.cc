#include "clustered.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "half.h"
#include "kernels.h"
#include "kernels/linear/clustered.h"
#include "thread_pool.h"

namespace sparq {

void clustered_pack_row(const uint8_t* idx, size_t count, unsigned bits, uint8_t* row) {
  const size_t unit = clustered_superblocks(bits) ? 128 : 32;
  std::memset(row, 0, (count + unit - 1) / unit * unit / 32 * bits * 4);
  size_t i = 0;
  if (bits == 4) {  // whole superblocks: byte 4 l + h holds indices 32 h + l (low nibble) and 32 h + 16 + l
    for (; i + 128 <= count; i += 128) {
      uint8_t* s = row + (i >> 7) * 64;
      const uint8_t* v = idx + i;
      for (unsigned l = 0; l < 16; ++l)
        for (unsigned h = 0; h < 4; ++h)
          s[4 * l + h] = static_cast<uint8_t>((v[32 * h + l] & 0xF) | (v[32 * h + 16 + l] & 0xF) << 4);
    }
  }
  for (; i < count; ++i) {  // as clustered_index
    unsigned v = idx[i];
    if (clustered_superblocks(bits)) {
      uint8_t* s = row + (i >> 7) * bits * 16;
      const unsigned t = static_cast<unsigned>(i & 127), g = t >> 4, l = t & 15u, j = t & 31u, q = t >> 5;
      s[4 * l + g / 2] |= static_cast<uint8_t>((v & 0xF) << (4 * (g & 1u)));
      v >>= 4;
      uint8_t* b = s + 64;
      if (bits & 2) {
        b[8 * q + 4 * (j & 1u) + ((j >> 2) & 3u)] |= static_cast<uint8_t>((v & 3) << (2 * (2 * ((j >> 1) & 1u) + (j >> 4))));
        v >>= 2;
        b += 32;
      }
      if (bits & 1) b[4 * q + (j >> 3)] |= static_cast<uint8_t>((v & 1) << (j & 7));
      continue;
    }
    uint8_t* b = row + (i >> 5) * bits * 4;
    const unsigned j = static_cast<unsigned>(i & 31);
    if (bits == 8) {
      b[j] = static_cast<uint8_t>(v);
      continue;
    }
    if (bits & 2) {
      b[4 * (j & 1u) + ((j >> 2) & 3u)] |= static_cast<uint8_t>((v & 3) << (2 * (2 * ((j >> 1) & 1u) + (j >> 4))));
      v >>= 2;
      b += 8;
    }
    if (bits & 1) b[j >> 3] |= static_cast<uint8_t>((v & 1) << (j & 7));
  }
}

void dequantize_clustered(const ClusteredWeights& w, size_t M, size_t K, float* out) {
  constexpr size_t kRows = 64;
  parallel_for((M + kRows - 1) / kRows, [&](size_t t) {
    for (size_t m = t * kRows; m < std::min(M, (t + 1) * kRows); ++m)
      clustered_decode_row_ref(w, K, m, out + m * K);
  });
}

void clustered_i8_books(const ClusteredWeights& w, size_t books, uint8_t* tables, float* scales) {
  std::vector<float> entries;
  const float* e = clustered_books_f32(w, 0, books * w.rows_per_book, 16, entries);
  for (size_t b = 0; b < books; ++b, e += 16) {
    float amax = 0;
    bool finite = true;
    for (size_t i = 0; i < 16; ++i) {
      finite = finite && std::isfinite(e[i]);
      amax = std::max(amax, std::fabs(e[i]));
    }
    const float s = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
    for (size_t i = 0; i < 16; ++i) tables[16 * b + i] = static_cast<uint8_t>((finite ? int8_code(e[i], s) : 0) + 128);
    scales[b] = s;
  }
}

namespace {

float round_to(ScaleType t, double v) {
  const float f = static_cast<float>(v);
  return t == ScaleType::kF16 ? f16_to_f32_scalar(f32_to_f16_scalar(f)) : f;
}

void store_entry(void* codebook, ScaleType t, size_t i, float v) {
  if (t == ScaleType::kF16) static_cast<uint16_t*>(codebook)[i] = f32_to_f16_scalar(v);
  else static_cast<float*>(codebook)[i] = v;
}

inline double value_at(const void* p, WeightType t, size_t i) { return widen_scalar(p, t, i); }

struct BookResult {
  int status = kKmeansOk;
  size_t bad = 0;
};

// Rows [r0, r1) with 1-D entries.
BookResult cluster_book_1d(const void* w, WeightType vt, size_t r0, size_t r1, size_t K,
                           const float* importance, const ClusterOptions& opt, void* codebook,
                           size_t book, uint8_t* indices, size_t row_bytes) {
  BookResult r;
  const size_t E = size_t{1} << opt.bits;
  const size_t off = r0 * K, n = (r1 - r0) * K;
  const size_t elem = vt == WeightType::kF32 ? 4 : 2;
  const void* vals = static_cast<const uint8_t*>(w) + off * elem;
  WeightedValues u;
  r.status = unique_weighted(vals, vt, n, importance ? importance + off : nullptr, &u, &r.bad);
  if (r.status != kKmeansOk) {
    r.bad += off;
    return r;
  }
  if (u.x.empty()) unique_weighted(vals, vt, n, nullptr, &u, &r.bad);  // every importance zero
  if (!kmeans1d_fits(E, u.x.size())) {
    r.status = kKmeansTooLarge;
    return r;
  }
  std::vector<size_t> starts;
  std::vector<double> cent;
  double inertia;
  const size_t kk = kmeans1d_sorted(u.x.data(), u.w.data(), u.x.size(), E, &starts, &cent, &inertia);
  std::vector<double> stored(E);
  for (size_t c = 0; c < E; ++c) {
    const float v = round_to(opt.codebook_type, cent[std::min(c, kk - 1)]);
    stored[c] = v;
    store_entry(codebook, opt.codebook_type, book * E + c, v);
  }
  // Nearest stored entry: a table over all 16-bit patterns when the book is
  // large, else the entries' float thresholds (nearest_thresholds,
  // count_thresholds). Rows in parallel (inline when this book already runs
  // on the pool).
  std::vector<uint8_t> lut;
  std::vector<float> thr(E - 1);
  if (vt != WeightType::kF32 && n >= 65536) {
    lut.resize(65536);
    for (uint32_t b = 0; b < 65536; ++b) {
      const uint16_t pattern = static_cast<uint16_t>(b);
      const double v = vt == WeightType::kBF16 ? bf16_to_f32_scalar(pattern) : f16_to_f32_scalar(pattern);
      lut[b] = std::isfinite(v) ? static_cast<uint8_t>(nearest_sorted(stored.data(), E, v)) : 0;
    }
  } else {
    nearest_thresholds(stored.data(), E, thr.data());
  }
  constexpr size_t kRows = 16;
  parallel_for((r1 - r0 + kRows - 1) / kRows, [&](size_t task) {
    std::vector<uint8_t> idx(K);
    for (size_t m = r0 + task * kRows; m < std::min(r1, r0 + (task + 1) * kRows); ++m) {
      const size_t base = (m - r0) * K;
      if (!lut.empty()) {
        const uint16_t* h = static_cast<const uint16_t*>(vals) + base;
        for (size_t k = 0; k < K; ++k) idx[k] = lut[h[k]];
      } else {
        count_thresholds(vals, vt, base, K, thr.data(), E, idx.data());
      }
      clustered_pack_row(idx.data(), K, opt.bits, indices + m * row_bytes);
    }
  });
  return r;
}

// Rows [r0, r1) with vector entries of opt.dim floats (wf: float32 weights).
BookResult cluster_book_vec(const float* wf, size_t r0, size_t r1, size_t K,
                            const float* importance, const ClusterOptions& opt, void* codebook,
                            size_t book, uint8_t* indices, size_t row_bytes) {
  BookResult r;
  const size_t E = size_t{1} << opt.bits, dim = opt.dim;
  const size_t off = r0 * K, n = (r1 - r0) * K, nv = n / dim;
  const float* pts = wf + off;
  std::vector<float> vw;
  if (importance != nullptr) {
    vw.resize(nv);
    double total = 0;
    for (size_t v = 0; v < nv; ++v) {
      float s = 0;
      for (size_t d = 0; d < dim; ++d) s += importance[off + v * dim + d];
      vw[v] = s;
      total += s;
    }
    if (!(total > 0)) vw.clear();
  }
  std::vector<float> cent(E * dim);
  std::vector<int32_t> assign(nv);
  const LloydOptions lo{E, opt.max_iter, opt.tolerance, opt.seed + book};
  const LloydResult res = kmeans_lloyd(pts, nv, dim, vw.empty() ? nullptr : vw.data(), lo, cent.data(), assign.data());
  for (size_t c = 0; c < E; ++c) {
    const size_t src = std::min(c, res.clusters - 1);
    for (size_t d = 0; d < dim; ++d) {
      const float v = round_to(opt.codebook_type, cent[src * dim + d]);
      cent[c * dim + d] = v;
      store_entry(codebook, opt.codebook_type, (book * E + c) * dim + d, v);
    }
  }
  // Nearest stored centroid (distinct entries only, so ties go to the first).
  const size_t kp = (E + 15) / 16 * 16;
  std::vector<float> ct(dim * kp);
  for (size_t d = 0; d < dim; ++d)
    for (size_t c = 0; c < kp; ++c)
      ct[d * kp + c] = c < E ? cent[c * dim + d] : std::numeric_limits<float>::quiet_NaN();
  std::vector<float> dist(nv);
  kernels().kmeans_assign(pts, nv, dim, ct.data(), E, kp, assign.data(), dist.data());
  const size_t per_row = K / dim;
  std::vector<uint8_t> idx(per_row);
  for (size_t m = r0; m < r1; ++m) {
    for (size_t v = 0; v < per_row; ++v) idx[v] = static_cast<uint8_t>(assign[(m - r0) * per_row + v]);
    clustered_pack_row(idx.data(), per_row, opt.bits, indices + m * row_bytes);
  }
  return r;
}

}  // namespace

int cluster_weights(const void* w, WeightType vt, size_t M, size_t K, const float* importance,
                    const ClusterOptions& opt, void* codebook, uint8_t* indices, size_t* bad_index) {
  if (M == 0 || K == 0) return kKmeansOk;
  const size_t books = clustered_books(M, opt.rows_per_book);
  const size_t row_bytes = clustered_row_bytes(K, opt.dim, opt.bits);
  std::vector<float> wf;
  if (opt.dim > 1) {
    wf.resize(M * K);
    for (size_t i = 0; i < M * K; ++i) {
      const double v = value_at(w, vt, i);
      if (!std::isfinite(v)) {
        *bad_index = i;
        return kKmeansNonFinite;
      }
      wf[i] = static_cast<float>(v);
    }
  }
  std::vector<BookResult> results(books);
  const auto one = [&](size_t g) {
    const size_t r0 = g * opt.rows_per_book, r1 = std::min(M, r0 + opt.rows_per_book);
    results[g] = opt.dim == 1
                     ? cluster_book_1d(w, vt, r0, r1, K, importance, opt, codebook, g, indices, row_bytes)
                     : cluster_book_vec(wf.data(), r0, r1, K, importance, opt, codebook, g, indices, row_bytes);
  };
  if (books == 1) one(0);  // lets the book use the whole pool
  else parallel_for(books, one);
  for (const BookResult& r : results) {
    if (r.status != kKmeansOk) {
      *bad_index = r.bad;
      return r.status;
    }
  }
  return kKmeansOk;
}

}  // namespace sparq

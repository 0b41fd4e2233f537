// AVX2 row-minimum kernels of the exact 1-D DP: scans take 4 candidates per
// vector (two running minima), leaves and batches 4 rows per vector (two
// vectors for 8 rows). The same operations as the scalar reference.
#include <immintrin.h>

#include <limits>

#include "../../target.h"
#include "dp.h"

namespace sparq {
namespace dp1d {

SPARQ_TARGET_AVX2 static inline __m256d value_avx2(const Cols& c, __m256d bw, __m256d bs1, __m256d bs2, size_t i) {
  const __m256d ww = _mm256_sub_pd(bw, _mm256_loadu_pd(c.w + i)), s = _mm256_sub_pd(bs1, _mm256_loadu_pd(c.s1 + i));
  const __m256d v = _mm256_sub_pd(_mm256_sub_pd(bs2, _mm256_loadu_pd(c.s2 + i)), _mm256_div_pd(_mm256_mul_pd(s, s), ww));
  // max(v, 0) = (v > 0 ? v : 0), -0 -> +0
  return _mm256_add_pd(_mm256_loadu_pd(c.pv + i), _mm256_max_pd(v, _mm256_setzero_pd()));
}

// As scan_ref, 4 candidates at a time (two independent 4-lane minima).
SPARQ_TARGET_AVX2 size_t scan_avx2(const Cols& c, const RowEnd& e, size_t a, size_t b, double* best_out) {
  const __m256d bw = _mm256_set1_pd(e.w), bs1 = _mm256_set1_pd(e.s1), bs2 = _mm256_set1_pd(e.s2);
  const __m256d inf = _mm256_set1_pd(std::numeric_limits<double>::infinity());
  __m256d best0 = inf, best1 = inf, bidx0 = _mm256_setzero_pd(), bidx1 = _mm256_setzero_pd();
  __m256d idx0 = _mm256_setr_pd(0, 1, 2, 3), idx1 = _mm256_setr_pd(4, 5, 6, 7);
  const __m256d eight = _mm256_set1_pd(8);
  size_t i = a;
  for (; i + 7 <= b; i += 8) {
    const __m256d v0 = value_avx2(c, bw, bs1, bs2, i), v1 = value_avx2(c, bw, bs1, bs2, i + 4);
    const __m256d lt0 = _mm256_cmp_pd(v0, best0, _CMP_LT_OQ), lt1 = _mm256_cmp_pd(v1, best1, _CMP_LT_OQ);
    best0 = _mm256_blendv_pd(best0, v0, lt0);
    bidx0 = _mm256_blendv_pd(bidx0, idx0, lt0);
    best1 = _mm256_blendv_pd(best1, v1, lt1);
    bidx1 = _mm256_blendv_pd(bidx1, idx1, lt1);
    idx0 = _mm256_add_pd(idx0, eight);
    idx1 = _mm256_add_pd(idx1, eight);
  }
  alignas(32) double bv[8], bi[8];
  _mm256_store_pd(bv, best0);
  _mm256_store_pd(bv + 4, best1);
  _mm256_store_pd(bi, bidx0);
  _mm256_store_pd(bi + 4, bidx1);
  double m = std::numeric_limits<double>::infinity();
  size_t mi = a;
  for (int l = 0; l < 8; ++l) {
    const size_t li = a + static_cast<size_t>(bi[l]);
    if (bv[l] < m || (bv[l] == m && li < mi)) {
      m = bv[l];
      mi = li;
    }
  }
  for (; i <= b; ++i) {
    const double v = value_scalar(c, e, i);
    if (v < m) {
      m = v;
      mi = i;
    }
  }
  *best_out = m;
  return mi;
}

// Eight consecutive rows [j0, j0 + 8) in two vectors of four lanes, with
// each lane's running (leftmost) minimum; lanes past nr rows repeat the last
// row (their results are dropped).
struct RowLanes {
  __m256d bw[2], bs1[2], bs2[2], jv[2], best[2], bi[2];

  SPARQ_TARGET_AVX2 RowLanes(const Cols& c, size_t j0, size_t nr, size_t first) {
    alignas(32) double ew[8], es1[8], es2[8], jr[8];
    for (size_t r = 0; r < 8; ++r) {
      const size_t j = j0 + std::min(r, nr - 1);
      ew[r] = c.w[j + 1];
      es1[r] = c.s1[j + 1];
      es2[r] = c.s2[j + 1];
      jr[r] = static_cast<double>(j);
    }
    for (int h = 0; h < 2; ++h) {
      bw[h] = _mm256_load_pd(ew + 4 * h);
      bs1[h] = _mm256_load_pd(es1 + 4 * h);
      bs2[h] = _mm256_load_pd(es2 + 4 * h);
      jv[h] = _mm256_load_pd(jr + 4 * h);
      best[h] = _mm256_set1_pd(std::numeric_limits<double>::infinity());
      bi[h] = _mm256_set1_pd(static_cast<double>(first));
    }
  }

  // Column i for every row j >= i: taken where strictly smaller.
  SPARQ_TARGET_AVX2 void column(const Cols& c, size_t i) {
    const __m256d cw = _mm256_broadcast_sd(c.w + i), cs1 = _mm256_broadcast_sd(c.s1 + i);
    const __m256d cs2 = _mm256_broadcast_sd(c.s2 + i), cpv = _mm256_broadcast_sd(c.pv + i);
    const __m256d iv = _mm256_set1_pd(static_cast<double>(i));
    for (int h = 0; h < 2; ++h) {
      const __m256d ww = _mm256_sub_pd(bw[h], cw), s = _mm256_sub_pd(bs1[h], cs1);
      const __m256d v = _mm256_add_pd(cpv, _mm256_max_pd(_mm256_sub_pd(_mm256_sub_pd(bs2[h], cs2), _mm256_div_pd(_mm256_mul_pd(s, s), ww)), _mm256_setzero_pd()));
      const __m256d lt = _mm256_and_pd(_mm256_cmp_pd(iv, jv[h], _CMP_LE_OQ), _mm256_cmp_pd(v, best[h], _CMP_LT_OQ));
      best[h] = _mm256_blendv_pd(best[h], v, lt);
      bi[h] = _mm256_blendv_pd(bi[h], iv, lt);
    }
  }

  // Row r's minimiser so far.
  SPARQ_TARGET_AVX2 size_t argmin(size_t r) const {
    alignas(32) double bx[8];
    _mm256_store_pd(bx, bi[0]);
    _mm256_store_pd(bx + 4, bi[1]);
    return static_cast<size_t>(bx[r]);
  }

  SPARQ_TARGET_AVX2 void store(size_t j0, size_t nr, double* cur, uint32_t* opt) const {
    alignas(32) double bv[8], bx[8];
    for (int h = 0; h < 2; ++h) {
      _mm256_store_pd(bv + 4 * h, best[h]);
      _mm256_store_pd(bx + 4 * h, bi[h]);
    }
    for (size_t r = 0; r < nr; ++r) {
      cur[j0 + r + 1] = bv[r];
      opt[j0 + r] = static_cast<uint32_t>(bx[r]);
    }
  }
};

SPARQ_TARGET_AVX2 void leaf_avx2(const Cols& c, size_t j0, size_t nr, size_t a, size_t b, double* cur, uint32_t* opt) {
  RowLanes rows(c, j0, nr, 0);
  const size_t hi = std::min(b, j0 + nr - 1);
  for (size_t i = a; i <= hi; ++i) rows.column(c, i);
  rows.store(j0, nr, cur, opt);
}

SPARQ_TARGET_AVX2 size_t batch_avx2(const Cols& c, size_t j0, size_t nr, size_t a, size_t ihi, size_t end, double* cur, uint32_t* opt) {
  const size_t hi = std::min(ihi, j0 + nr - 1);
  size_t b = batch_first_end(a, hi, end);
  RowLanes rows(c, j0, nr, a);
  for (size_t i = a;;) {
    for (; i <= b; ++i) rows.column(c, i);
    if (b >= hi || rows.argmin(nr - 1) + kBatchSlack <= b) break;
    b = std::min(b + kBatchStep, hi);
  }
  rows.store(j0, nr, cur, opt);
  return b;
}

}  // namespace dp1d
}  // namespace sparq

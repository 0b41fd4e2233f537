// AVX-512 row-minimum kernels of the exact 1-D DP: scans take 8 candidates
// per vector (two running minima, masked tails), leaves and batches 8 rows
// per vector. The same operations as the scalar reference.
#include <immintrin.h>

#include <limits>

#include "../../target.h"
#include "dp.h"

namespace sparq {
namespace dp1d {

SPARQ_TARGET_AVX512 static inline __m512d value_avx512(const Cols& c, __m512d bw, __m512d bs1, __m512d bs2, size_t i) {
  const __m512d ww = _mm512_sub_pd(bw, _mm512_loadu_pd(c.w + i)), s = _mm512_sub_pd(bs1, _mm512_loadu_pd(c.s1 + i));
  const __m512d v = _mm512_sub_pd(_mm512_sub_pd(bs2, _mm512_loadu_pd(c.s2 + i)), _mm512_div_pd(_mm512_mul_pd(s, s), ww));
  return _mm512_add_pd(_mm512_loadu_pd(c.pv + i), _mm512_max_pd(v, _mm512_setzero_pd()));
}

// As scan_ref, 8 candidates at a time (two independent 8-lane minima).
SPARQ_TARGET_AVX512 size_t scan_avx512(const Cols& c, const RowEnd& e, size_t a, size_t b, double* best_out) {
  const __m512d bw = _mm512_set1_pd(e.w), bs1 = _mm512_set1_pd(e.s1), bs2 = _mm512_set1_pd(e.s2);
  const __m512d inf = _mm512_set1_pd(std::numeric_limits<double>::infinity());
  __m512d best0 = inf, best1 = inf;
  __m512i bidx0 = _mm512_setzero_si512(), bidx1 = _mm512_setzero_si512();
  __m512i idx0 = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(a)), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  __m512i idx1 = _mm512_add_epi64(idx0, _mm512_set1_epi64(8));
  const __m512i sixteen = _mm512_set1_epi64(16);
  size_t i = a;
  for (; i + 15 <= b; i += 16) {
    const __m512d v0 = value_avx512(c, bw, bs1, bs2, i), v1 = value_avx512(c, bw, bs1, bs2, i + 8);
    const __mmask8 lt0 = _mm512_cmp_pd_mask(v0, best0, _CMP_LT_OQ), lt1 = _mm512_cmp_pd_mask(v1, best1, _CMP_LT_OQ);
    best0 = _mm512_mask_mov_pd(best0, lt0, v0);
    bidx0 = _mm512_mask_mov_epi64(bidx0, lt0, idx0);
    best1 = _mm512_mask_mov_pd(best1, lt1, v1);
    bidx1 = _mm512_mask_mov_epi64(bidx1, lt1, idx1);
    idx0 = _mm512_add_epi64(idx0, sixteen);
    idx1 = _mm512_add_epi64(idx1, sixteen);
  }
  // The last 1 to 15 candidates, masked (lanes past b stay +inf).
  for (; i <= b; i += 8) {
    const size_t left = b - i + 1;
    const __mmask8 in = left >= 8 ? __mmask8(0xFF) : static_cast<__mmask8>((1u << left) - 1);
    const __m512d ww = _mm512_sub_pd(bw, _mm512_maskz_loadu_pd(in, c.w + i));
    const __m512d s = _mm512_sub_pd(bs1, _mm512_maskz_loadu_pd(in, c.s1 + i));
    const __m512d v = _mm512_sub_pd(_mm512_sub_pd(bs2, _mm512_maskz_loadu_pd(in, c.s2 + i)), _mm512_div_pd(_mm512_mul_pd(s, s), ww));
    const __m512d val = _mm512_add_pd(_mm512_maskz_loadu_pd(in, c.pv + i), _mm512_max_pd(v, _mm512_setzero_pd()));
    const __mmask8 lt = _mm512_cmp_pd_mask(val, best0, _CMP_LT_OQ) & in;
    best0 = _mm512_mask_mov_pd(best0, lt, val);
    bidx0 = _mm512_mask_mov_epi64(bidx0, lt, idx0);
    idx0 = _mm512_add_epi64(idx0, _mm512_set1_epi64(8));
  }
  // Leftmost of the lanes' minima: the smallest value, then the smallest index.
  const double m = _mm512_reduce_min_pd(_mm512_min_pd(best0, best1));
  const __m512d vm = _mm512_set1_pd(m);
  const __mmask8 e0 = _mm512_cmp_pd_mask(best0, vm, _CMP_EQ_OQ), e1 = _mm512_cmp_pd_mask(best1, vm, _CMP_EQ_OQ);
  const __m512i big = _mm512_set1_epi64(-1);
  const __m512i cand = _mm512_min_epu64(_mm512_mask_mov_epi64(big, e0, bidx0), _mm512_mask_mov_epi64(big, e1, bidx1));
  *best_out = m;
  return static_cast<size_t>(_mm512_reduce_min_epu64(cand));
}

SPARQ_TARGET_AVX512 void leaf_avx512(const Cols& c, size_t j0, size_t nr, size_t a, size_t b, double* cur, uint32_t* opt) {
  const __mmask8 in = static_cast<__mmask8>((1u << nr) - 1);
  const __m512d bw = _mm512_maskz_loadu_pd(in, c.w + j0 + 1), bs1 = _mm512_maskz_loadu_pd(in, c.s1 + j0 + 1);
  const __m512d bs2 = _mm512_maskz_loadu_pd(in, c.s2 + j0 + 1);
  const __m512i jv = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(j0)), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  const __m512d zero = _mm512_setzero_pd();
  __m512d best = _mm512_set1_pd(std::numeric_limits<double>::infinity());
  __m512i bi = _mm512_setzero_si512();
  const size_t hi = std::min(b, j0 + nr - 1);
  for (size_t i = a; i <= hi; ++i) {
    const __m512i iv = _mm512_set1_epi64(static_cast<long long>(i));
    const __m512d ww = _mm512_sub_pd(bw, _mm512_set1_pd(c.w[i])), s = _mm512_sub_pd(bs1, _mm512_set1_pd(c.s1[i]));
    const __m512d v = _mm512_add_pd(_mm512_set1_pd(c.pv[i]), _mm512_max_pd(_mm512_sub_pd(_mm512_sub_pd(bs2, _mm512_set1_pd(c.s2[i])), _mm512_div_pd(_mm512_mul_pd(s, s), ww)), zero));
    // rows j >= i in the block, strictly smaller
    const __mmask8 ok = _mm512_mask_cmple_epi64_mask(in, iv, jv);
    const __mmask8 lt = _mm512_mask_cmp_pd_mask(ok, v, best, _CMP_LT_OQ);
    best = _mm512_mask_mov_pd(best, lt, v);
    bi = _mm512_mask_mov_epi64(bi, lt, iv);
  }
  _mm512_mask_storeu_pd(cur + j0 + 1, in, best);
  _mm256_mask_storeu_epi32(opt + j0, in, _mm512_cvtepi64_epi32(bi));
}

// The values of column i for the rows (bw, bs1, bs2) in the lanes.
SPARQ_TARGET_AVX512 static inline __m512d column_avx512(const double* cw, const double* cs1, const double* cs2, const double* cpv,
                                                 __m512d bw, __m512d bs1, __m512d bs2, size_t i) {
  const __m512d ww = _mm512_sub_pd(bw, _mm512_set1_pd(cw[i])), s = _mm512_sub_pd(bs1, _mm512_set1_pd(cs1[i]));
  const __m512d v = _mm512_sub_pd(_mm512_sub_pd(bs2, _mm512_set1_pd(cs2[i])), _mm512_div_pd(_mm512_mul_pd(s, s), ww));
  return _mm512_add_pd(_mm512_set1_pd(cpv[i]), _mm512_max_pd(v, _mm512_setzero_pd()));
}

SPARQ_TARGET_AVX512 size_t batch_avx512(const Cols& c, size_t j0, size_t nr, size_t a, size_t ihi, size_t end, double* cur, uint32_t* opt) {
  const double* const cw = c.w;
  const double* const cs1 = c.s1;
  const double* const cs2 = c.s2;
  const double* const cpv = c.pv;
  const size_t hi = std::min(ihi, j0 + nr - 1);
  size_t b = batch_first_end(a, hi, end);
  const __mmask8 in = static_cast<__mmask8>((1u << nr) - 1);
  const __m512d bw = _mm512_maskz_loadu_pd(in, c.w + j0 + 1), bs1 = _mm512_maskz_loadu_pd(in, c.s1 + j0 + 1);
  const __m512d bs2 = _mm512_maskz_loadu_pd(in, c.s2 + j0 + 1);
  const __m512i jv = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(j0)), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  // Even and odd columns in two running minima (merged leftmost at the end).
  __m512d best0 = _mm512_set1_pd(std::numeric_limits<double>::infinity()), best1 = best0;
  __m512i bi0 = _mm512_set1_epi64(static_cast<long long>(a)), bi1 = bi0;
  size_t i = a;
  for (;;) {
    for (; i + 1 <= b; i += 2) {
      const __m512i iv0 = _mm512_set1_epi64(static_cast<long long>(i)), iv1 = _mm512_set1_epi64(static_cast<long long>(i + 1));
      const __m512d v0 = column_avx512(cw, cs1, cs2, cpv, bw, bs1, bs2, i), v1 = column_avx512(cw, cs1, cs2, cpv, bw, bs1, bs2, i + 1);
      // rows j >= i in the batch, strictly smaller
      const __mmask8 lt0 = _mm512_mask_cmp_pd_mask(_mm512_mask_cmple_epi64_mask(in, iv0, jv), v0, best0, _CMP_LT_OQ);
      const __mmask8 lt1 = _mm512_mask_cmp_pd_mask(_mm512_mask_cmple_epi64_mask(in, iv1, jv), v1, best1, _CMP_LT_OQ);
      best0 = _mm512_mask_mov_pd(best0, lt0, v0);
      bi0 = _mm512_mask_mov_epi64(bi0, lt0, iv0);
      best1 = _mm512_mask_mov_pd(best1, lt1, v1);
      bi1 = _mm512_mask_mov_epi64(bi1, lt1, iv1);
    }
    if (i == b) {
      const __m512i iv0 = _mm512_set1_epi64(static_cast<long long>(i));
      const __m512d v0 = column_avx512(cw, cs1, cs2, cpv, bw, bs1, bs2, i);
      const __mmask8 lt0 = _mm512_mask_cmp_pd_mask(_mm512_mask_cmple_epi64_mask(in, iv0, jv), v0, best0, _CMP_LT_OQ);
      best0 = _mm512_mask_mov_pd(best0, lt0, v0);
      bi0 = _mm512_mask_mov_epi64(bi0, lt0, iv0);
      ++i;
    }
    if (b >= hi) break;
    // The last row's minimiser so far: the smaller value, the lower index on ties.
    const __mmask8 take1 = _mm512_cmp_pd_mask(best1, best0, _CMP_LT_OQ) |
                           (_mm512_cmp_pd_mask(best1, best0, _CMP_EQ_OQ) & _mm512_cmp_epu64_mask(bi1, bi0, _MM_CMPINT_LT));
    alignas(64) uint64_t bx[8];
    _mm512_store_si512(bx, _mm512_mask_mov_epi64(bi0, take1, bi1));
    if (bx[nr - 1] + kBatchSlack <= b) break;
    b = std::min(b + kBatchStep, hi);
  }
  const __mmask8 take1 = _mm512_cmp_pd_mask(best1, best0, _CMP_LT_OQ) |
                         (_mm512_cmp_pd_mask(best1, best0, _CMP_EQ_OQ) & _mm512_cmp_epu64_mask(bi1, bi0, _MM_CMPINT_LT));
  _mm512_mask_storeu_pd(cur + j0 + 1, in, _mm512_mask_mov_pd(best0, take1, best1));
  _mm256_mask_storeu_epi32(opt + j0, in, _mm512_cvtepi64_epi32(_mm512_mask_mov_epi64(bi0, take1, bi1)));
  return b;
}

}  // namespace dp1d
}  // namespace sparq

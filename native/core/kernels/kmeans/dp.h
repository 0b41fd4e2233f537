// Row-minimum kernels of the exact 1-D k-means DP (kmeans.cc: each layer's
// rows j take the leftmost minimum over cluster starts i of
// pv[i] + cost(i, j)), one file per ISA level. Every level computes the same
// operations in the same order (no FMA) and makes the same decisions, so all
// levels give the same bits.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace sparq {
namespace dp1d {

// One candidate of a DP row: the row's end is (w, s1, s2) = the prefix sums
// (of weights, weighted values and weighted squares) at j + 1, the candidate
// cluster start i; pv[i] is the previous layer's cost of values [0, i - 1].
// The columns' prefix arrays are the rows' too.
struct RowEnd {
  double w, s1, s2;
};
struct Cols {
  const double* w;
  const double* s1;
  const double* s2;
  const double* pv;
};
inline RowEnd row_end(const Cols& c, size_t j) { return RowEnd{c.w[j + 1], c.s1[j + 1], c.s2[j + 1]}; }
inline double value_scalar(const Cols& c, const RowEnd& e, size_t i) {
  const double ww = e.w - c.w[i], s = e.s1 - c.s1[i];
  const double v = (e.s2 - c.s2[i]) - s * s / ww;
  return c.pv[i] + (v > 0 ? v : 0);
}

// Leftmost minimum of row e's values over candidates i in [a, b]: returns
// the index, the value in *best. (The AVX2 level wants b - a >= 7, AVX-512
// b - a >= 15.)
size_t scan_ref(const Cols& c, const RowEnd& e, size_t a, size_t b, double* best);
size_t scan_avx2(const Cols& c, const RowEnd& e, size_t a, size_t b, double* best);
size_t scan_avx512(const Cols& c, const RowEnd& e, size_t a, size_t b, double* best);

// Row minima of a block of at most kLeafRows consecutive rows [j0, j0 + nr):
// row j takes the leftmost minimum over columns [a, min(b, j)] (a <= j0),
// written to cur[j + 1] and opt[j]. Rows ride in the SIMD lanes, columns go
// by one at a time.
constexpr size_t kLeafRows = 8;
void leaf_ref(const Cols& c, size_t j0, size_t nr, size_t a, size_t b, double* cur, uint32_t* opt);
void leaf_avx2(const Cols& c, size_t j0, size_t nr, size_t a, size_t b, double* cur, uint32_t* opt);
void leaf_avx512(const Cols& c, size_t j0, size_t nr, size_t a, size_t b, double* cur, uint32_t* opt);

// Row minima of a batch of nr <= 8 consecutive rows [j0, j0 + nr) over one
// shared window of columns [a, b] (row j sees [a, min(b, j)]): b starts at
// end (the sweep passes a + kBatchCols - 1, or further) and grows by
// kBatchStep while the last row's minimiser lies within kBatchSlack of it,
// up to hi = min(ihi, j0 + nr - 1). Writes the rows' cur / opt; returns b.
// The first window's width trades batch columns (one division per column
// for 8 rows) against single-row extension scans after a batch: 16 columns
// beat 6 and 4 on the AMD VM of earlier runs (1.72-1.77 s against
// 1.92-2.01 s a call), 10 beats 16 on the Intel VM of the latest runs
// (`node bench/kmeans-time.js --calls 7 --ab <build with 16>`, 16.7M distinct float32 values, k = 16: 2349 against 2513 ms,
// 1.07x; 1.04-1.07x for 8, 9, 12 and steps of 4 or 6, 0.94x for 20; k = 4:
// 1.07x).
constexpr size_t kBatchCols = 10, kBatchStep = 8, kBatchSlack = 2;
inline size_t batch_first_end(size_t a, size_t hi, size_t end) { return std::min(std::max(end, a), hi); }
size_t batch_ref(const Cols& c, size_t j0, size_t nr, size_t a, size_t ihi, size_t end, double* cur, uint32_t* opt);
size_t batch_avx2(const Cols& c, size_t j0, size_t nr, size_t a, size_t ihi, size_t end, double* cur, uint32_t* opt);
size_t batch_avx512(const Cols& c, size_t j0, size_t nr, size_t a, size_t ihi, size_t end, double* cur, uint32_t* opt);

}  // namespace dp1d
}  // namespace sparq

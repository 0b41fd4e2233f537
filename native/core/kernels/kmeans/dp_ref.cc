// Scalar row-minimum kernels of the exact 1-D DP: the reference the SIMD
// levels match bit for bit.
#include <limits>

#include "dp.h"

namespace sparq {
namespace dp1d {

size_t scan_ref(const Cols& c, const RowEnd& e, size_t a, size_t b, double* best_out) {
  double best = std::numeric_limits<double>::infinity();
  size_t bi = a;
  for (size_t i = a; i <= b; ++i) {
    const double v = value_scalar(c, e, i);
    if (v < best) {
      best = v;
      bi = i;
    }
  }
  *best_out = best;
  return bi;
}

void leaf_ref(const Cols& c, size_t j0, size_t nr, size_t a, size_t b, double* cur, uint32_t* opt) {
  for (size_t r = 0; r < nr; ++r) {
    const size_t j = j0 + r;
    const RowEnd e{c.w[j + 1], c.s1[j + 1], c.s2[j + 1]};
    double best;
    opt[j] = static_cast<uint32_t>(scan_ref(c, e, a, std::min(b, j), &best));
    cur[j + 1] = best;
  }
}

size_t batch_ref(const Cols& c, size_t j0, size_t nr, size_t a, size_t ihi, size_t end, double* cur, uint32_t* opt) {
  const size_t hi = std::min(ihi, j0 + nr - 1);
  size_t b = batch_first_end(a, hi, end);
  double best[8];
  size_t bi[8];
  RowEnd e[8];
  for (size_t r = 0; r < nr; ++r) {
    best[r] = std::numeric_limits<double>::infinity();
    bi[r] = a;
    e[r] = RowEnd{c.w[j0 + r + 1], c.s1[j0 + r + 1], c.s2[j0 + r + 1]};
  }
  for (size_t i = a;;) {
    for (; i <= b; ++i)
      for (size_t r = i > j0 ? i - j0 : 0; r < nr; ++r) {
        const double v = value_scalar(c, e[r], i);
        if (v < best[r]) {
          best[r] = v;
          bi[r] = i;
        }
      }
    if (b >= hi || bi[nr - 1] + kBatchSlack <= b) break;
    b = std::min(b + kBatchStep, hi);
  }
  for (size_t r = 0; r < nr; ++r) {
    cur[j0 + r + 1] = best[r];
    opt[j0 + r] = static_cast<uint32_t>(bi[r]);
  }
  return b;
}

}  // namespace dp1d
}  // namespace sparq

#include "quant_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "thread_pool.h"

namespace sparq {

const float kNf4Levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f};

namespace {

// Plain float64 arithmetic, compiled for baseline x86-64 (no FMA contraction),
// so every product and sum rounds as in JavaScript.

// Candidates per side of the grid: factors 1 + s * spread / kSteps, s in -kSteps..kSteps.
constexpr int kSteps = 20;

inline double clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

// clamp(nearest integer to x, lo, hi) for integers lo < hi, halves toward
// +infinity as JavaScript's Math.round. x is clamped to [lo - 1, hi + 1]
// first (same result), so truncating to int32 is exact and no libm call.
inline double round_clamp(double x, double lo, double hi) {
  const double c = clamp(x, lo - 1, hi + 1);
  const double t = static_cast<double>(static_cast<int32_t>(c));  // toward zero
  const double f = t - static_cast<double>(c < t);                 // floor (no branch: halves are unpredictable)
  return clamp(f + static_cast<double>(c - f >= 0.5), lo, hi);
}

struct Fit {
  double scale, min;
};

Fit fit_symmetric(const float* w, size_t n, double qmin, double qmax, bool search) {
  double amax = 0;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(static_cast<double>(w[i])));
  if (amax == 0) return {0, 0};
  Fit best{amax / qmax, 0};
  if (!search) return best;
  double best_err = std::numeric_limits<double>::infinity();
  for (int s = -kSteps; s <= kSteps; ++s) {
    const double iscale = (qmax * (1 + (s * 0.5) / kSteps)) / amax;  // s = 0: absmax
    double swq = 0, sqq = 0;
    for (size_t i = 0; i < n; ++i) {
      const double q = round_clamp(w[i] * iscale, qmin, qmax);
      swq += w[i] * q;
      sqq += q * q;
    }
    if (sqq == 0) continue;
    const double d = swq / sqq;
    double err = 0;
    for (size_t i = 0; i < n; ++i) {
      const double q = round_clamp(w[i] / d, qmin, qmax);
      const double e = w[i] - d * q;
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best = {d, 0};
    }
  }
  return best;
}

Fit fit_asymmetric(const float* w, size_t n, double nmax, bool search) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, static_cast<double>(w[i]));
    hi = std::max(hi, static_cast<double>(w[i]));
  }
  if (hi == lo) return {0, lo};
  Fit best{(hi - lo) / nmax, lo};
  if (!search) return best;
  const double count = static_cast<double>(n);
  double best_err = std::numeric_limits<double>::infinity();
  for (int s = -kSteps; s <= kSteps; ++s) {
    const double iscale = (nmax * (1 + (s * 0.25) / kSteps)) / (hi - lo);  // s = 0: min/max
    double sq = 0, sqq = 0, sw = 0, swq = 0;
    for (size_t i = 0; i < n; ++i) {
      const double q = round_clamp((w[i] - lo) * iscale, 0, nmax);
      sq += q;
      sqq += q * q;
      sw += w[i];
      swq += w[i] * q;
    }
    const double det = count * sqq - sq * sq;
    if (det <= 0) continue;
    const double d = (count * swq - sq * sw) / det;
    const double m = (sqq * sw - sq * swq) / det;
    if (!(d > 0)) continue;
    double err = 0;
    for (size_t i = 0; i < n; ++i) {
      const double q = round_clamp((w[i] - m) / d, 0, nmax);
      const double e = w[i] - (d * q + m);
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best = {d, m};
    }
  }
  return best;
}

Fit fit_nf4(const float* w, size_t n, bool search) {
  double amax = 0;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(static_cast<double>(w[i])));
  if (amax == 0) return {0, 0};
  Fit best{amax, 0};
  if (!search) return best;
  double best_err = std::numeric_limits<double>::infinity();
  for (int s = -kSteps; s <= kSteps; ++s) {
    const double d0 = amax * (1 + (s * 0.3) / kSteps);  // s = 0: absmax
    double swt = 0, stt = 0;
    for (size_t i = 0; i < n; ++i) {
      const double t = kNf4Levels[nearest_nf4(w[i] / d0)];
      swt += w[i] * t;
      stt += t * t;
    }
    if (stt == 0) continue;
    const double d = swt / stt;
    if (!(d > 0)) continue;
    double err = 0;
    for (size_t i = 0; i < n; ++i) {
      const double e = w[i] - d * kNf4Levels[nearest_nf4(w[i] / d)];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best = {d, 0};
    }
  }
  return best;
}

}  // namespace

unsigned nearest_nf4(double t) {
  // The last level <= t (level 0 when none), counted without branches.
  unsigned lo = 0;
  for (unsigned j = 1; j < 15; ++j) lo += static_cast<unsigned>(kNf4Levels[j] <= t);
  return lo + static_cast<unsigned>(t - kNf4Levels[lo] > kNf4Levels[lo + 1] - t);
}

void fit_quant_groups(const float* w, const uint32_t* off, size_t size, size_t groups,
                      QuantScheme scheme, unsigned bits, bool search, double* out) {
  constexpr size_t kChunk = 64;  // groups per task
  const double qmax = bits == 8 ? 127 : 7, qmin = bits == 8 ? -128 : -8, nmax = bits == 8 ? 255 : 15;
  parallel_for((groups + kChunk - 1) / kChunk, [&](size_t t) {
    for (size_t g = t * kChunk; g < std::min(groups, (t + 1) * kChunk); ++g) {
      const size_t a = off != nullptr ? off[g] : g * size, b = off != nullptr ? off[g + 1] : (g + 1) * size;
      const Fit f = a == b                                 ? Fit{0, 0}
                    : scheme == QuantScheme::kSymmetric    ? fit_symmetric(w + a, b - a, qmin, qmax, search)
                    : scheme == QuantScheme::kAsymmetric ? fit_asymmetric(w + a, b - a, nmax, search)
                                                         : fit_nf4(w + a, b - a, search);
      out[2 * g] = f.scale;
      out[2 * g + 1] = f.min;
    }
  });
}

}  // namespace sparq

// Choosing the scale (and min) of each quantization group: absmax (or
// min/max), or with `search` a grid of candidate scales around it, each
// refit by least squares, keeping the one with the least squared error. The
// arithmetic is float64, in the order lib/quantize.ts documents, so results
// do not depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {

enum class QuantScheme : int {
  kSymmetric = 0,   // value = scale * q, q in [qmin, qmax]
  kAsymmetric = 1,  // value = scale * q + min, q in [0, 2^bits - 1]
  kNf4 = 2,         // value = scale * kNf4Levels[q]
};

// The 16 NF4 levels (QLoRA / bitsandbytes), as float32 (lib/quantize.ts NF4_LEVELS).
extern const float kNf4Levels[16];

// Index of the NF4 level nearest to t (ties to the lower level).
unsigned nearest_nf4(double t);

// Fits `groups` groups of float32 weights (finite): group g is w[off[g] ..
// off[g + 1]) when off is not null, else w[g * size .. (g + 1) * size).
// Writes scale and min of group g to out[2 g] and out[2 g + 1]. An empty or
// all-zero group (or, asymmetric, a constant one) gets scale 0 (and min = its
// value, 0 when empty). Groups run in parallel on the thread pool.
void fit_quant_groups(const float* w, const uint32_t* off, size_t size, size_t groups,
                      QuantScheme scheme, unsigned bits, bool search, double* out);

}  // namespace sparq

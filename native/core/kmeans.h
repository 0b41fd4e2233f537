// k-means: exact 1-D clustering (sorted unique values with weights, then the
// dynamic program of Ckmeans.1d.dp / Grønlund et al. 2017, whose layers' row
// minima are monotone: on layers of more than 65,536 rows a batched sweep
// with short SIMD windows, certified exact by a neighbour test and repaired
// where it fails; divide and conquer with SIMD scans below) and vector
// k-means (Lloyd with k-means++ seeding).
//
// Determinism: every result depends only on the inputs and the seed, never on
// the thread count (work is split in fixed chunks and reduced in chunk order).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "large_buffer.h"
#include "weight_type.h"

namespace sparq {

// Values being clustered are float32, float16 or bfloat16 (WeightType).

// Status codes of the clustering functions (0 = ok). A bad value's index is
// reported through *bad_index.
enum KmeansStatus : int {
  kKmeansOk = 0,
  kKmeansNonFinite = 1,   // a NaN or Inf value
  kKmeansNoWeight = 2,    // every weight is zero
  kKmeansTooLarge = 3,    // (min(k, distinct) - 1) * distinct > kKmeansMaxDpCells
};

// Largest DP (cells: layers x distinct values) the exact 1-D clustering
// attempts. The backtrack keeps at most 2 bits per cell (512 MiB at the cap),
// plus 5 x 8 + 2 x 4 = 48 bytes per distinct value of working arrays (prefix
// sums, two layers of costs, two of minimisers).
constexpr size_t kKmeansMaxDpCells = size_t{1} << 31;

inline bool kmeans1d_fits(size_t k, size_t distinct) {
  const size_t kk = k < distinct ? k : distinct;
  return kk <= 1 || (kk - 1) <= kKmeansMaxDpCells / distinct;
}

// Sorted distinct values with their total weights (all > 0).
struct WeightedValues {
  LargeVector<double> x;
  LargeVector<double> w;
};

// Collects the distinct values of values[0, n) (of type t) with summed
// weights (1 per value when weights is null; zero-weight values are dropped;
// -0 and +0 merge). Large inputs: a histogram of 16-bit patterns for
// f16 / bf16 (at most 65,536 distinct values), an LSD radix sort for f32.
// Returns kKmeansNonFinite (and *bad_index) for NaN / Inf values.
int unique_weighted(const void* values, WeightType t, size_t n, const float* weights,
                    WeightedValues* out, size_t* bad_index);

// Exact 1-D k-means on sorted distinct values x with weights w (n >= 1):
// minimises sum w (x - centroid)^2 over partitions into at most k contiguous
// clusters (min(k, n) clusters, all non-empty). starts receives the first
// value index of each cluster plus n at the end (clusters + 1 entries);
// centroids the weighted means. Returns the number of clusters and sets
// *inertia to the optimal cost (computed directly from the means).
size_t kmeans1d_sorted(const double* x, const double* w, size_t n, size_t k,
                       std::vector<size_t>* starts, std::vector<double>* centroids,
                       double* inertia);

// 1-D k-means of raw values (see unique_weighted). centroids gets the sorted
// cluster means (<= k); assignments (may be null) the cluster of each value
// (zero-weight values go to the nearest centroid). Returns a KmeansStatus.
int kmeans1d(const void* values, WeightType t, size_t n, const float* weights, size_t k,
             std::vector<double>* centroids, int32_t* assignments, double* inertia,
             size_t* bad_index);

struct LloydOptions {
  size_t k;
  size_t max_iter;   // Lloyd iterations after seeding (0: seeding only)
  double tolerance;  // stop when the inertia drops by <= tolerance * inertia
  uint64_t seed;     // k-means++ seeding PRNG
};

struct LloydResult {
  size_t clusters;              // <= k (fewer when there are fewer distinct points)
  size_t iterations;            // Lloyd iterations run
  double inertia;               // sum w * |p - c(p)|^2 for the final centroids and assignments
  std::vector<double> history;  // inertia after seeding and after each iteration
};

// Vector k-means of points [n, dim] (float32, finite) with optional weights
// (>= 0, not all zero): k-means++ seeding (D^2 sampling with a splitmix64
// PRNG), then Lloyd iterations with SIMD distances (KernelTable::kmeans_assign).
// An empty cluster keeps its centroid, so the inertia never increases.
// centroids: [k, dim] (the first `clusters` rows are set); assignments: [n].
LloydResult kmeans_lloyd(const float* points, size_t n, size_t dim, const float* weights,
                         const LloydOptions& opt, float* centroids, int32_t* assignments);

// Index of the centroid nearest to v among sorted centroids c[0, k) (ties to
// the lower index).
size_t nearest_sorted(const double* c, size_t k, double v);

// The same as float thresholds, for k >= 1: thr[b] (b < k - 1) is the
// smallest finite float whose nearest centroid lies right of c[b] (+inf if
// none), so for a finite float v nearest_sorted(c, k, v) is the number of
// thresholds <= v (they are non-decreasing).
void nearest_thresholds(const double* c, size_t k, float* thr);

// out[i] = the number of thresholds thr[0, k - 1) <= value i0 + i of values
// (of type t, finite; thr non-decreasing, as nearest_thresholds gives): the
// index of that value's entry, for i < n. Index: uint8_t or int32_t.
template <typename Index>
void count_thresholds(const void* values, WeightType t, size_t i0, size_t n, const float* thr, size_t k,
                      Index* out);

}  // namespace sparq

// A persistent pool of worker threads for data-parallel kernels.
#pragma once
#include <cstddef>
#include <functional>

namespace sparq {

// Splits [0, n_tasks) over the pool's threads (the calling thread included) and
// returns when every task has run. Tasks are claimed dynamically, so kernels must
// make each task's result independent of which thread runs it (split over output
// rows, never reduce across tasks): results are then bit-identical for any
// thread count.
//
// Calls made while the pool is busy (from another thread, or nested inside a
// task) run inline on the calling thread instead of waiting.
void parallel_for(size_t n_tasks, const std::function<void(size_t task)>& fn);

// Number of threads parallel_for uses, the caller included (>= 1).
int num_threads();

// Resizes the pool. n >= 1. Blocks until running work has finished.
void set_num_threads(int n);

// Cores this process may run on (sched_getaffinity), >= 1.
int available_cores();

}  // namespace sparq

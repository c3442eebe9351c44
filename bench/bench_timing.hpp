// Timing shared by the benchmarks: the best of a few rounds, so that a round disturbed by another
// process on a shared machine does not count.
#pragma once
#include <algorithm>
#include <chrono>

namespace cc::bench {

// Seconds per call of f: the best of `rounds` rounds, each calling f once, or repeatedly until
// `min_seconds` have passed (short calls) and dividing by the number of calls.
template <class F>
double best_seconds(F&& f, int rounds = 5, double min_seconds = 0.0) {
  using Clock = std::chrono::steady_clock;
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    int calls = 0;
    const auto t0 = Clock::now();
    double elapsed = 0;
    do {
      f();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (elapsed < min_seconds);
    best = std::min(best, elapsed / calls);
  }
  return best;
}

}  // namespace cc::bench

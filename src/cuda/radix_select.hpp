// The host side of the GPU's BatchTopK selection (cuda_step.cu), in plain C++ so that the CPU tests
// check it: non-negative floats order like their bit patterns, so the K-th largest score is found
// from two 65536-bin histograms, of the high 16 bits and then of the low 16 bits of the scores whose
// high bits are the chosen bin's.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace cc::cuda {

// Walks a 65536-bin histogram from the top bin down: returns the bin holding the want-th largest
// entry (1-based) and the count of entries in the bins above it plus `above` (those already known
// to be larger). Bin 0 when want exceeds everything counted.
inline std::pair<unsigned, unsigned long long> radix_walk(const std::vector<unsigned long long>& hist, unsigned long long want,
                                                          unsigned long long above) {
  int b = 65535;
  for (; b > 0 && above + hist[size_t(b)] < want; --b) above += hist[size_t(b)];
  return {unsigned(b), above};
}

}  // namespace cc::cuda

// The GPU BatchTopK's threshold search (cuda/radix_select.hpp), run here on the histograms the GPU
// kernels would build: it finds the K-th largest score (or the smallest, when at most K are
// active), the count above it and the ties at it, exactly as a sort does, ties and zeros included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>

#include "cuda/radix_select.hpp"

namespace cc {
namespace {

unsigned bits_of(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(RadixSelect, FindsTheKthLargestScoreWithItsTies) {
  std::mt19937 r{5};
  std::exponential_distribution<float> e(1.f);
  for (const auto& [n, K, tie_every, zero_every] : {std::tuple{5000, 100, 0, 3}, std::tuple{5000, 1000, 7, 2}, std::tuple{300, 400, 0, 2},
                                                    std::tuple{4096, 256, 1, 0}, std::tuple{20000, 17, 3, 5}, std::tuple{64, 1, 0, 0}}) {
    std::vector<float> s(static_cast<size_t>(n));
    for (size_t i = 0; i < s.size(); ++i) {
      s[i] = tie_every && i % size_t(tie_every) == 0 ? 0.375f : e(r) * (i % 11 == 0 ? 1e-3f : 1.f);  // several exponents
      if (zero_every && i % size_t(zero_every) == 0) s[i] = 0.f;  // inactive: never counted
    }
    std::vector<unsigned long long> h(65536, 0);
    unsigned long long active = 0;
    for (float v : s)
      if (v > 0) ++h[bits_of(v) >> 16], ++active;
    ASSERT_GT(active, 0u);
    const unsigned long long want = std::min<unsigned long long>(K, active);
    const auto [hb, above_bin] = cuda::radix_walk(h, want, 0);
    std::fill(h.begin(), h.end(), 0);
    for (float v : s)
      if (v > 0 && (bits_of(v) >> 16) == hb) ++h[bits_of(v) & 0xffffu];
    const auto [lb, above] = cuda::radix_walk(h, want, above_bin);
    const unsigned thr_bits = (hb << 16) | lb;
    float thr;
    std::memcpy(&thr, &thr_bits, sizeof thr);

    std::vector<float> act;
    for (float v : s)
      if (v > 0) act.push_back(v);
    std::sort(act.begin(), act.end(), std::greater<float>());
    EXPECT_EQ(thr, act[size_t(want - 1)]) << "n " << n << " K " << K;
    EXPECT_EQ(above, (unsigned long long)std::count_if(act.begin(), act.end(), [&](float v) { return v > thr; }));
    EXPECT_EQ(h[lb], (unsigned long long)std::count(act.begin(), act.end(), thr));
    EXPECT_LE(above, want - 1);
    EXPECT_GE(above + h[lb], want);
  }
}

}  // namespace
}  // namespace cc

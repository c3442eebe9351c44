// The thread pool behind parallel_for: coverage, exceptions, nesting and resizing.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/parallel.hpp"

namespace cc {
namespace {

void expect_covers_once(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++hits[size_t(i)];
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "index " << i << " of " << n;
}

TEST(Parallel, EveryIndexExactlyOnce) {
  set_num_threads(3);
  for (int64_t n : {1, 2, 3, 7, 100, 1001}) expect_covers_once(n, 1);
  expect_covers_once(1000, 400);
  set_num_threads(0);
}

// Workers created by a resize used to replay the previous job, whose function was gone (a crash
// seen only when a test changed the thread count after other tests had used the pool).
TEST(Parallel, ResizingAfterUseRunsOnlyNewJobs) {
  for (int round = 0; round < 50; ++round) {
    set_num_threads(2 + round % 3);
    expect_covers_once(64, 1);
    set_num_threads(1);
    expect_covers_once(64, 1);
  }
  set_num_threads(0);
}

TEST(Parallel, ExceptionsReachTheCaller) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(100, 1,
                            [](int64_t b, int64_t) {
                              if (b > 0) throw std::runtime_error("worker");
                            }),
               std::runtime_error);
  expect_covers_once(100, 1);  // the pool still works afterwards
  set_num_threads(0);
}

TEST(Parallel, NestedCallsRunSerially) {
  set_num_threads(2);
  std::atomic<int64_t> total{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) parallel_for(10, 1, [&](int64_t bb, int64_t ee) { total += ee - bb; });
  });
  EXPECT_EQ(total.load(), 80);
  set_num_threads(0);
}

}  // namespace
}  // namespace cc

// The thread pool behind parallel_for: coverage, exceptions, nesting and resizing.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/parallel.hpp"

#include <cblas.h>

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

// parallel_for_blas: OpenBLAS single-threaded inside the chunks, its thread count restored after,
// also when a chunk throws; BLAS calls from both chunks at once give the serial result.
TEST(Parallel, BlasChunksRunSingleThreadedAndRestoreTheCount) {
  set_num_threads(2);
  const int before = openblas_get_num_threads();
  ASSERT_EQ(before, 2);
  std::atomic<int> max_inside{0};
  const int n = 64;
  std::vector<float> a(size_t(n * n)), b(size_t(n * n)), c(size_t(8 * n * n)), ref(size_t(n * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) - 3.f, b[i] = float(i % 5) * 0.5f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, ref.data(), n);
  parallel_for_blas(8, 1, [&](int64_t u0, int64_t u1) {
    max_inside = std::max(max_inside.load(), openblas_get_num_threads());
    for (int64_t u = u0; u < u1; ++u)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f,
                  c.data() + u * n * n, n);
  });
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(openblas_get_num_threads(), before);
  for (int u = 0; u < 8; ++u)
    for (int i = 0; i < n * n; ++i) ASSERT_EQ(c[size_t(u * n * n + i)], ref[size_t(i)]) << "unit " << u << " element " << i;
  EXPECT_THROW(parallel_for_blas(4, 1, [](int64_t, int64_t) { throw std::runtime_error("chunk"); }), std::runtime_error);
  EXPECT_EQ(openblas_get_num_threads(), before);
  set_num_threads(0);
}

// Ranks sharing a machine divide its cores: 0 threads then means this rank's share.
TEST(Parallel, ThreadShareDividesTheDefault) {
  set_num_threads(0);
  const int all = num_threads();
  set_thread_share(2);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), std::max(1, all / 2));
  set_thread_share(1);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), all);
}

}  // namespace
}  // namespace cc

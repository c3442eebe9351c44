// Linear kernels (OpenBLAS f32, bf16 GEMV, vdpbf16ps GEMV, bf16 panel GEMM) against the naive loop,
// and the row-gather kernel of the sparse crosscoder step against its plain loop.
#include <atomic>
#include <cstring>
#include <random>

#include "core/dot.hpp"
#include "core/parallel.hpp"
#include "model/gemm_bf16.hpp"
#include "model/linear.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

TEST(Linear, AllPathsMatchNaive) {
  set_num_threads(2);  // small weights: rows split over the pool (M 33, 200); 1100 x 1000: OpenBLAS's threads
  std::mt19937 r(1);
  std::normal_distribution<float> n(0, 1);
  for (DType dt : {DType::F32, DType::BF16}) {
    for (int64_t M : {1, 3, 7, 8, 33, 200}) {
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{5, 7}, {70, 33}, {300, 200}, {700, 300}, {1100, 1000}}) {
        std::vector<float> wf(size_t(rows * cols)), x(size_t(M * cols)), b(static_cast<size_t>(rows));
        for (auto& v : wf) v = n(r);
        for (auto& v : x) v = n(r);
        for (auto& v : b) v = n(r);
        std::vector<uint16_t> wb(wf.size());
        convert_f32_to_bf16(wf.data(), wb.data(), wf.size());
        WeightMatrix W{dt, dt == DType::F32 ? static_cast<const void*>(wf.data()) : wb.data(), rows, cols};
        std::vector<float> y(size_t(M * rows)), want(y.size());
        linear_forward(y.data(), rows, x.data(), cols, M, W, b.data());
        linear_forward_naive(want.data(), x.data(), M, W, b.data());
        for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-4 * std::sqrt(double(cols))) << "M=" << M;
        // accumulate adds onto what is there
        std::vector<float> acc(y.size(), 1.f);
        linear_forward(acc.data(), rows, x.data(), cols, M, W, nullptr, true);
        linear_forward_naive(want.data(), x.data(), M, W, nullptr);
        for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(acc[i], want[i] + 1.f, 1e-4 * std::sqrt(double(cols)));
      }
    }
  }
}

// bf16-act: x is rounded to BF16, then multiplied exactly and summed in f32. On both paths (oneDNN
// where the CPU has AVX512-BF16, and the sgemm fallback forced) y equals the naive product of the
// *rounded* x, and differs from the product of the unrounded x by more than that tolerance (so the
// first check would fail if the rounding were skipped).
TEST(Linear, Bf16InputsRoundThenMultiplyOnEveryPath) {
  set_num_threads(2);
  std::mt19937 r(2);
  std::normal_distribution<float> n(0, 1);
  for (Bf16GemmPath path : {Bf16GemmPath::Auto, Bf16GemmPath::Fallback}) {
    set_bf16_gemm_path(path);
    SCOPED_TRACE(bf16_gemm_path_name());
    for (int64_t M : {1, 7, 8, 33, 130}) {
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{70, 33}, {300, 200}, {700, 300}}) {
        std::vector<float> wf(size_t(rows * cols)), x(size_t(M * cols)), b(static_cast<size_t>(rows));
        for (auto& v : wf) v = n(r);
        for (auto& v : x) v = n(r);
        for (auto& v : b) v = n(r);
        std::vector<uint16_t> wb(wf.size()), xb(x.size());
        convert_f32_to_bf16(wf.data(), wb.data(), wf.size());
        convert_f32_to_bf16(x.data(), xb.data(), x.size());
        std::vector<float> x_rounded(x.size());
        convert_to_f32(DType::BF16, xb.data(), x_rounded.data(), x.size());
        WeightMatrix W{DType::BF16, wb.data(), rows, cols, /*bf16_inputs=*/true};
        std::vector<float> y(size_t(M * rows)), want(y.size()), unrounded(y.size());
        linear_forward(y.data(), rows, x.data(), cols, M, W, b.data());
        linear_forward_naive(want.data(), x_rounded.data(), M, W, b.data());
        linear_forward_naive(unrounded.data(), x.data(), M, W, b.data());
        const double tol = 1e-4 * std::sqrt(double(cols));
        double off_unrounded = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], want[i], tol) << "M=" << M << " rows=" << rows;
          off_unrounded = std::max(off_unrounded, double(std::abs(y[i] - unrounded[i])));
        }
        EXPECT_GT(off_unrounded, 10 * tol) << "M=" << M << ": the inputs were not rounded";
        std::vector<float> acc(y.size(), 1.f);
        linear_forward(acc.data(), rows, x.data(), cols, M, W, nullptr, true);
        linear_forward_naive(want.data(), x_rounded.data(), M, W, nullptr);
        for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(acc[i], want[i] + 1.f, tol) << "accumulate, M=" << M;
      }
    }
  }
  set_bf16_gemm_path(Bf16GemmPath::Auto);
}

// The few-row kernels (decode) must give each input row exactly what it gets alone, whichever rows
// share its call: that is what makes a batched decode equal single-run decodes. Checked bit for
// bit on every weight type and bf16-act path, with widths that leave whole chunks and a tail.
TEST(Linear, FewRowProductsGiveEachRowWhatItGetsAlone) {
  set_num_threads(2);
  std::mt19937 r(3);
  std::normal_distribution<float> n(0, 1);
  const int64_t rows = 70, M = kGemvRows - 1;
  for (int64_t cols : {33, 200, 300}) {
    std::vector<float> wf(size_t(rows * cols)), x(size_t(M * cols));
    for (auto& v : wf) v = n(r);
    for (auto& v : x) v = n(r);
    std::vector<uint16_t> wb(wf.size());
    convert_f32_to_bf16(wf.data(), wb.data(), wf.size());
    struct Case {
      const char* name;
      WeightMatrix W;
      Bf16GemmPath path;
    };
    const std::vector<Case> cases = {{"f32", {DType::F32, wf.data(), rows, cols}, Bf16GemmPath::Auto},
                                     {"bf16", {DType::BF16, wb.data(), rows, cols}, Bf16GemmPath::Auto},
                                     {"bf16-act", {DType::BF16, wb.data(), rows, cols, true}, Bf16GemmPath::Auto},
                                     {"bf16-act fallback", {DType::BF16, wb.data(), rows, cols, true}, Bf16GemmPath::Fallback}};
    for (const Case& c : cases) {
      set_bf16_gemm_path(c.path);
      std::vector<float> all(static_cast<size_t>(M * rows)), one(static_cast<size_t>(rows));
      linear_forward(all.data(), rows, x.data(), cols, M, c.W, nullptr);
      for (int64_t m = 0; m < M; ++m) {
        linear_forward(one.data(), rows, x.data() + m * cols, cols, 1, c.W, nullptr);
        EXPECT_EQ(0, std::memcmp(one.data(), all.data() + m * rows, one.size() * sizeof(float)))
            << c.name << " (" << bf16_gemm_path_name() << "), cols " << cols << ", row " << m;
      }
    }
  }
  set_bf16_gemm_path(Bf16GemmPath::Auto);
}

// The sparse step's gather loops hold a block of the output row in registers; each element must
// still see exactly the plain loop's multiply-adds, in row order (widths with and without a
// remainder past the 128-float blocks, and no rows at all).
TEST(Dot, AddScaledRowsEqualsThePlainLoopBitForBit) {
  std::mt19937 r(4);
  std::normal_distribution<float> n(0, 1);
  for (int64_t width : {16, 128, 300, 512}) {
    for (int64_t rows : {0, 1, 7}) {
      std::vector<float> src(size_t(rows * width)), v(static_cast<size_t>(rows)), fast(static_cast<size_t>(width));
      for (auto& x : src) x = n(r);
      for (auto& x : v) x = n(r);
      for (auto& x : fast) x = n(r);
      std::vector<float> plain = fast;
      for (int64_t e = 0; e < rows; ++e)
        for (int64_t q = 0; q < width; ++q) plain[size_t(q)] += v[size_t(e)] * src[size_t(e * width + q)];
      add_scaled_rows(fast.data(), width, rows, [&](int64_t e) { return std::pair{v[size_t(e)], src.data() + e * width}; });
      EXPECT_EQ(0, std::memcmp(fast.data(), plain.data(), fast.size() * sizeof(float))) << "width " << width << ", rows " << rows;
    }
  }
}

TEST(Linear, Bf16RoundingIsNearestEvenAndKeepsNaN) {
  // The vectorised converter against the scalar rule, on the cases that differ: ties, NaN, inf.
  const std::vector<float> x = {1.0f, 1.00390625f /*tie: stays even*/, 1.01171875f /*tie: rounds up*/,
                                -3.3f, 1e-40f, INFINITY, -INFINITY, NAN, 3.4e38f};
  std::vector<uint16_t> got(x.size());
  convert_f32_to_bf16(x.data(), got.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], f32_to_bf16(x[i])) << x[i];
  EXPECT_EQ(got[1], 0x3f80);
  EXPECT_EQ(got[2], 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(got[7])));
}

TEST(Parallel, CoversRangeOnceAndPropagatesErrors) {
  set_num_threads(2);
  std::vector<int> hit(1000, 0);
  parallel_for(1000, 10, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hit[size_t(i)]++;
  });
  for (int h : hit) ASSERT_EQ(h, 1);
  EXPECT_THROW(parallel_for(100, 1, [](int64_t b, int64_t) {
                 if (b == 0) throw std::runtime_error("x");
               }),
               std::runtime_error);
  // Nested calls run serially instead of deadlocking, and still cover their whole range: each outer
  // chunk counts the inner items it saw (inside the nested call, not in a separate one).
  std::atomic<int> inner_items{0}, outer_chunks{0};
  parallel_for(2, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      outer_chunks += 1;
      parallel_for(3, 1, [&](int64_t ib, int64_t ie) { inner_items += int(ie - ib); });
    }
  });
  EXPECT_EQ(outer_chunks.load(), 2);
  EXPECT_EQ(inner_items.load(), 2 * 3);
}

}  // namespace
}  // namespace cc

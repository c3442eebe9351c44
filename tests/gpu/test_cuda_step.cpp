// The CUDA crosscoder step against the CPU dense reference (crosscoder_step_dense), for L1 and
// BatchTopK (its auxiliary loss included), at a size where the GPU's summation order matters, and
// with BatchTopK ties that must be broken in index order. Labelled `gpu`: each test is skipped,
// saying why, in a build without CUDA or on a machine without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "crosscoder/step.hpp"
#include "device/device.hpp"
#include "step_fixture.hpp"

namespace cc {
namespace {

#define REQUIRE_GPU()                                                                      \
  do {                                                                                     \
    if (!cuda_built()) GTEST_SKIP() << "built without CUDA (-DCROSSCODER_CUDA=ON)";        \
    if (!device_unavailable(Device::Cuda).empty())                                         \
      GTEST_SKIP() << device_unavailable(Device::Cuda);                                    \
  } while (0)

using Instance = test::StepInstance;
using test::max_rel;

void expect_equal_steps(const Instance& I) {
  CrosscoderParams gc, gd;
  gc.resize(I.c.d_in, I.c.dict_size);
  gd.resize(I.c.d_in, I.c.dict_size);
  const StepResult rc = crosscoder_step_cuda(I.p, I.c, I.input(), gc);
  const StepResult rd = crosscoder_step_dense(I.p, I.c, I.input(), gd);
  EXPECT_NEAR(rc.loss, rd.loss, 1e-4 * std::abs(rd.loss));
  EXPECT_NEAR(rc.l2, rd.l2, 1e-4 * std::abs(rd.l2));
  EXPECT_NEAR(rc.l1, rd.l1, 1e-4 * std::abs(rd.l1));
  EXPECT_NEAR(rc.aux, rd.aux, 1e-4 * std::max(1.0, std::abs(rd.aux)));
  EXPECT_EQ(rc.l0, rd.l0);  // the same active set
  EXPECT_EQ(rc.fired, rd.fired);
  EXPECT_NEAR(rc.min_kept_score, rd.min_kept_score, 1e-6 * std::max(1.0, rd.min_kept_score));
  EXPECT_LT(max_rel(gc.W_encT, gd.W_encT), 1e-4);
  EXPECT_LT(max_rel(gc.W_dec, gd.W_dec), 1e-4);
  EXPECT_LT(max_rel(gc.b_enc, gd.b_enc), 1e-4);
  EXPECT_LT(max_rel(gc.b_dec, gd.b_dec), 1e-4);
}

TEST(CudaStep, L1EqualsTheDenseReference) {
  REQUIRE_GPU();
  expect_equal_steps(Instance("l1", 64, 1024, 256, 3, 8));
}

TEST(CudaStep, BatchTopKEqualsTheDenseReference) {
  REQUIRE_GPU();
  const Instance I("batchtopk", 64, 1024, 256, 5, 8);
  expect_equal_steps(I);
}

// Every score equal (W_enc = 0, one bias, equal decoder norms): the k·B kept are the first in
// row-major order, as on the CPU, which needs the GPU's tie-breaking to be exact.
TEST(CudaStep, BatchTopKBreaksTiesInIndexOrder) {
  REQUIRE_GPU();
  Instance I("batchtopk", 16, 128, 32, 7, 8);
  std::fill(I.p.W_encT.begin(), I.p.W_encT.end(), 0.f);
  std::fill(I.p.b_enc.begin(), I.p.b_enc.end(), 0.5f);
  for (int64_t j = 0; j < I.c.dict_size; ++j)
    for (int64_t q = 0; q < 2 * I.c.d_in; ++q) I.p.W_dec[size_t(j * 2 * I.c.d_in + q)] = q % 2 ? 0.25f : -0.25f;
  expect_equal_steps(I);
}

}  // namespace
}  // namespace cc

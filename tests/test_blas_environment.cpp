// Which OpenBLAS kernels the binary asks for (core/blas_environment.cpp): the choice for each CPU,
// a user's setting kept, and the binary really running the wider kernels where the CPU has them.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/blas_environment.hpp"
#include "kill_harness.hpp"

namespace cc {
namespace {

TEST(BlasEnvironment, CoreForCpu) {
  EXPECT_EQ(blas_core_for(true, true), "SkylakeX");
  EXPECT_EQ(blas_core_for(false, true), "Haswell");
  EXPECT_EQ(blas_core_for(false, false), "");
}

TEST(BlasEnvironment, OlderDetectionIsOverridden) {
  // Debian's OpenBLAS 0.3.21 loaded Prescott kernels on an Intel Xeon with AVX-512 and AMX.
  EXPECT_FALSE(blas_core_suffices("Haswell", "SkylakeX"));
  EXPECT_FALSE(blas_core_suffices("Prescott", "SkylakeX"));
  EXPECT_FALSE(blas_core_suffices("Prescott", "Haswell"));
  EXPECT_FALSE(blas_core_suffices("Sandybridge", "Haswell"));
  EXPECT_TRUE(blas_core_suffices("Zen", "Haswell"));
  EXPECT_TRUE(blas_core_suffices("Cooperlake", "SkylakeX"));
  EXPECT_TRUE(blas_core_suffices("SkylakeX", "Haswell"));
  EXPECT_TRUE(blas_core_suffices("Prescott", ""));  // a CPU without AVX2: OpenBLAS's choice stands
}

TEST(BlasEnvironment, ChangesKeepWhatTheUserSet) {
  using Changes = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(blas_environment_changes(false, false, "Haswell", "SkylakeX"),
            (Changes{{"OPENBLAS_THREAD_TIMEOUT", "4"}, {"OPENBLAS_CORETYPE", "SkylakeX"}}));
  EXPECT_EQ(blas_environment_changes(true, true, "Prescott", "SkylakeX"), Changes{});
  EXPECT_EQ(blas_environment_changes(true, false, "SkylakeX", "SkylakeX"), Changes{});
  EXPECT_EQ(blas_environment_changes(true, false, "Prescott", "Haswell"), (Changes{{"OPENBLAS_CORETYPE", "Haswell"}}));
  EXPECT_EQ(malloc_environment_changes(false), (Changes{{"GLIBC_TUNABLES", "glibc.malloc.hugetlb=1"}}));
  EXPECT_EQ(malloc_environment_changes(true), Changes{});  // the user's tunables are kept
}

// The binary reports the core it runs in --version: with the environment clean it runs what the
// CPU's features call for (or better), and a core set by the user is kept.
TEST(BlasEnvironment, BinaryRunsTheChosenCore) {
  const std::string bin = CROSSCODER_BIN;
  auto run_capture = [](const std::string& cmd) {
    std::string out;
    EXPECT_EQ(test::run_shell(cmd, &out), 0) << cmd << ": " << out;
    return out;
  };
  const std::string clean = run_capture("env -u OPENBLAS_CORETYPE -u OPENBLAS_THREAD_TIMEOUT " + bin + " --version");
  const auto at = clean.find("OpenBLAS core ");
  ASSERT_NE(at, std::string::npos) << clean;
  const std::string core = clean.substr(at + 14, clean.find(';', at) - at - 14);
  EXPECT_TRUE(blas_core_suffices(core, blas_core_for_this_cpu())) << clean;
  if (!blas_core_for_this_cpu().empty()) {  // the CPU runs Haswell kernels
    const std::string kept = run_capture("env OPENBLAS_CORETYPE=Haswell " + bin + " --version");
    EXPECT_NE(kept.find("OpenBLAS core Haswell;"), std::string::npos) << kept;
  }
}

}  // namespace
}  // namespace cc

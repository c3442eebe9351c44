// Two OpenBLAS defaults cost this project's runs time on its machines:
// - Idle workers spin (sched_yield) for 2^28 cycles after every call before they sleep; on a 2-core
//   machine that competes with our own pool between GEMMs (a calibration-sized L1 training run: 6.3 s
//   system time against 22 s user; with a 2^4-cycle timeout 1.9 s and 6% less wall time).
// - Debian 12's OpenBLAS 0.3.21 picks its kernels by CPU model, and on a model it does not know it
//   can fall back to narrower ones: on an Intel Xeon with AVX-512 and AMX it loaded "Prescott" (SSE3),
//   whose sgemm ran at 31-41 GFLOP/s against 190 with "SkylakeX" forced (docs/PERFORMANCE.md). So
//   where the CPU has AVX-512 (or AVX2 + FMA) and the loaded core is narrower, the binary asks for
//   the wider one. A core the user set in OPENBLAS_CORETYPE is kept, whatever it is.
// And one glibc default: buffers above 32 MB (a forward pass's logits, the crosscoder's features) are
// fresh mmaps in 4 KB pages, and in this project's VMs every first touch is a costly fault (121k of
// them in the demo's 5-second spliced-loss stage). glibc.malloc.hugetlb=1 makes malloc ask for
// transparent huge pages (madvise mode, Debian's default): 121k faults became 9.5k and the stage
// 4.8 s → 4.0 s (docs/PERFORMANCE.md). GLIBC_TUNABLES the user set is kept.
// All are read from the environment when the libraries load, so the binary sets them and re-executes
// itself once. The kernel set changes how a GEMM rounds, not what it computes: results move by float
// rounding, as they already do between machines.
#include "core/blas_environment.hpp"

#include <unistd.h>

#include <cstdlib>

extern "C" char* openblas_get_corename(void);

namespace cc {

std::string blas_core_for(bool avx512, bool avx2_fma) {
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

std::string blas_core_for_this_cpu() {
  __builtin_cpu_init();
  // __builtin_cpu_supports checks the OS saves the registers too (XCR0), not only CPUID.
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return blas_core_for(avx512, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
}

bool blas_core_suffices(const std::string& loaded, const std::string& wanted) {
  // OpenBLAS core names (case as openblas_get_corename prints them) by the widest sgemm kernel.
  static const std::vector<std::string> avx512 = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const std::vector<std::string> avx2 = {"Haswell", "Zen"};
  auto in = [&](const std::vector<std::string>& set) {
    for (const auto& c : set)
      if (c == loaded) return true;
    return false;
  };
  if (wanted.empty() || in(avx512)) return true;
  if (wanted == "Haswell") return in(avx2);
  return false;
}

std::vector<std::pair<std::string, std::string>> blas_environment_changes(bool timeout_set, bool coretype_set,
                                                                          const std::string& loaded,
                                                                          const std::string& wanted) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!timeout_set) out.emplace_back("OPENBLAS_THREAD_TIMEOUT", "4");
  if (!coretype_set && !blas_core_suffices(loaded, wanted)) out.emplace_back("OPENBLAS_CORETYPE", wanted);
  return out;
}

std::vector<std::pair<std::string, std::string>> malloc_environment_changes(bool tunables_set) {
  if (tunables_set) return {};
  return {{"GLIBC_TUNABLES", "glibc.malloc.hugetlb=1"}};
}

void reexec_with_blas_environment(char** argv) {
  auto changes = blas_environment_changes(std::getenv("OPENBLAS_THREAD_TIMEOUT") != nullptr,
                                          std::getenv("OPENBLAS_CORETYPE") != nullptr, blas_core_name(), blas_core_for_this_cpu());
  for (auto& c : malloc_environment_changes(std::getenv("GLIBC_TUNABLES") != nullptr)) changes.push_back(c);
  if (changes.empty()) return;
  for (const auto& [name, value] : changes) setenv(name.c_str(), value.c_str(), 1);
  execv("/proc/self/exe", argv);
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

}  // namespace cc

// The environment OpenBLAS reads once, when it loads (before main): its idle-thread timeout and the
// kernel set ("core") it runs. Binaries that do their arithmetic in OpenBLAS call
// reexec_with_blas_environment first thing in main.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cc {

// The OpenBLAS core whose sgemm kernels fit a CPU with these features: "SkylakeX" (AVX-512 F, BW,
// DQ, VL), "Haswell" (AVX2 + FMA), or "" (leave OpenBLAS's own choice).
std::string blas_core_for(bool avx512, bool avx2_fma);

// blas_core_for with this CPU's features (the OS saving the registers included).
std::string blas_core_for_this_cpu();

// Whether OpenBLAS's own choice `loaded` already uses kernels at least as wide as `wanted`.
bool blas_core_suffices(const std::string& loaded, const std::string& wanted);

// The variables to set, given what the environment already holds (a value the user set is kept),
// the core OpenBLAS loaded and the core the CPU calls for. Empty when nothing needs to change.
std::vector<std::pair<std::string, std::string>> blas_environment_changes(bool timeout_set, bool coretype_set,
                                                                          const std::string& loaded,
                                                                          const std::string& wanted);

// glibc's malloc tunables to set: huge pages for large buffers, unless the user set GLIBC_TUNABLES.
std::vector<std::pair<std::string, std::string>> malloc_environment_changes(bool tunables_set);

// Sets blas_environment_changes and malloc_environment_changes for this process and CPU and re-executes the binary (argv kept) so
// that OpenBLAS loads with them; returns when nothing needs to change or the re-exec fails (the run
// then goes on with OpenBLAS's defaults).
void reexec_with_blas_environment(char** argv);

// The core OpenBLAS runs ("Haswell", "SkylakeX", ...), for benchmark records.
std::string blas_core_name();

}  // namespace cc

// The CUDA side of the backend seam, in plain C++ types so that the library's C++ code (built by the
// host compiler) calls it without CUDA headers. Built only with -DCROSSCODER_CUDA=ON; the rest of
// the library reaches it through device/device.hpp and crosscoder/step.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cc::cuda {

// What the CUDA runtime sees: devices == 0 with the runtime's own words in `error` when there is
// no GPU or no driver (e.g. "CUDA driver version is insufficient for CUDA runtime version").
struct Status {
  int devices = 0;
  std::string error, name;
  int major = 0, minor = 0;
  size_t memory = 0;
};
Status status();

// One dense crosscoder training step on the GPU, the same computation as crosscoder_step_dense
// (crosscoder/step_dense.cpp) for its products, ReLU, BatchTopK selection (ties kept in index order)
// and L1 term; explained variance and the BatchTopK auxiliary loss stay with the caller, which gets
// x̂ and the pre-activations for them. All pointers are host memory; row-major shapes:
//   x [B, 2d]; W_encT, W_dec [F, 2d]; b_enc [F]; b_dec [2d]; norms [F, 2] (decoder norms)
//   out: g_* like their parameters; xh [B, 2d] (with b_dec); pre [B, F] (with b_enc; may be null);
//   fired [F] (1 = active somewhere in the batch)
struct StepShape {
  int64_t B = 0, d = 0, F = 0;
  int64_t k = 0;      // BatchTopK's k (0: L1, no selection)
  double lam = 0;     // the L1 coefficient at this step (0 for BatchTopK)
};
struct StepSums {
  double l2 = 0, l1 = 0, l0 = 0, min_kept_score = 0;
};
StepSums dense_step(const StepShape& s, const float* x, const float* W_encT, const float* b_enc, const float* W_dec, const float* b_dec,
                    const float* norms, float* g_W_encT, float* g_b_enc, float* g_W_dec, float* g_b_dec, float* xh, float* pre,
                    uint8_t* fired);

// cuBLAS's BF16 GEMM (f32 accumulation, tensor cores) on M×N×K, timed over `reps` calls after a
// warm-up: the peak the GPU benchmarks report against. Returns TFLOP/s.
double bf16_gemm_tflops(int64_t M, int64_t N, int64_t K, int reps);

}  // namespace cc::cuda

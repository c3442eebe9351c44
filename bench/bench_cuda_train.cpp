// The CUDA crosscoder step (crosscoder_step_cuda) at the paper's size (d 1536, F 32768, batch 4096)
// for both architectures, beside cuBLAS's own BF16 GEMM peak measured in the same run on the
// encoder product's shape. Built only with -DCROSSCODER_CUDA=ON (scripts/gpu-check.sh runs it).
// The step as it stands uploads the parameters and downloads the gradients every step, so its time
// includes those transfers: the figure to beat once parameters stay on the GPU (docs/GPU.md).
// Prints one JSON line per architecture and one for the peak.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "crosscoder/step.hpp"
#include "cuda/cuda_step.hpp"
#include "device/device.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"CUDA crosscoder step benchmark"};
  int64_t d = 1536, F = 32768, B = 4096;
  int steps = 3;
  app.add_option("--d", d)->capture_default_str();
  app.add_option("--dict-size", F)->capture_default_str();
  app.add_option("--batch", B)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    require_device(Device::Cuda, "bench_cuda_train");
    const double peak = cuda::bf16_gemm_tflops(B, F, 2 * d, 10);
    std::printf("{\"what\": \"cublas_bf16_gemm_peak\", \"device\": \"%s\", \"M\": %lld, \"N\": %lld, \"K\": %lld, \"tflops\": %.1f}\n",
                describe_device(Device::Cuda).c_str(), (long long)B, (long long)F, (long long)(2 * d), peak);
    for (Arch arch : {Arch::L1, Arch::BatchTopK}) {
      CrosscoderConfig c;
      c.architecture = arch;
      c.d_in = d;
      c.dict_size = F;
      c.k = 100;
      CrosscoderParams p, g;
      crosscoder_init(p, d, F, 0.1, 1);
      g.resize(d, F);
      std::vector<float> x(size_t(B * 2 * d));
      std::mt19937 r{2};
      std::normal_distribution<float> n(0.f, 1.f);
      for (auto& v : x) v = n(r);
      std::vector<uint8_t> dead(size_t(F), 0);
      const StepInput in{x.data(), B, 0.5, arch == Arch::BatchTopK ? &dead : nullptr};
      crosscoder_step_cuda(p, c, in, g);  // warm-up (cuBLAS handles, allocations)
      const auto t0 = Clock::now();
      for (int i = 0; i < steps; ++i) crosscoder_step_cuda(p, c, in, g);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
      const double gemm_flops = 4.0 * 2.0 * double(B) * double(F) * double(2 * d);  // four dense products
      std::printf("{\"what\": \"cuda_step\", \"arch\": \"%s\", \"d\": %lld, \"F\": %lld, \"B\": %lld, \"step_s\": %.4f, \"tok_per_s\": %.0f, "
                  "\"gemm_tflops_f32\": %.1f, \"ratio_to_bf16_peak\": %.3f}\n",
                  arch == Arch::L1 ? "l1" : "batchtopk", (long long)d, (long long)F, (long long)B, s, double(B) / s,
                  gemm_flops / s / 1e12, gemm_flops / s / 1e12 / peak);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_train: %s\n", e.what());
    return 1;
  }
  return 0;
}

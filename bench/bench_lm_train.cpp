// Organism LM training-step benchmark: forward + backward + clipping + AdamW of TrainModel (what
// `crosscoder organism build` runs) at the organism's shape, random tokens, F32; and OpenBLAS sgemm
// on the step's largest matrix product (tokens × MLP × d) in the same run as the peak it is
// compared to. bench/torch_lm_train.py is the PyTorch peer (run_lm_train_bench.sh runs both).
// Prints one JSON line.
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/blas_environment.hpp"
#include "core/json_file.hpp"
#include "core/parallel.hpp"
#include "organism/adamw.hpp"
#include "organism/train_model.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;
static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  cc::reexec_with_blas_environment(argv);  // the kernels and thread timeout the crosscoder binary runs
  CLI::App app{"organism LM training-step benchmark"};
  Qwen2Config c;
  c.vocab_size = 4103;
  c.hidden_size = 256;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 2;
  c.intermediate_size = 640;
  c.max_position_embeddings = 4096;
  int64_t B = 16, T = 256;
  int steps = 8, threads = 0;
  app.add_option("--vocab", c.vocab_size)->capture_default_str();
  app.add_option("--d-model", c.hidden_size)->capture_default_str();
  app.add_option("--layers", c.num_hidden_layers)->capture_default_str();
  app.add_option("--heads", c.num_attention_heads)->capture_default_str();
  app.add_option("--kv-heads", c.num_key_value_heads)->capture_default_str();
  app.add_option("--d-mlp", c.intermediate_size)->capture_default_str();
  app.add_option("--batch", B)->capture_default_str();
  app.add_option("--seq", T)->capture_default_str();
  app.add_option("--steps", steps, "Timed steps (after one warm-up step)")->capture_default_str();
  app.add_option("--threads", threads, "0 = all cores")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  set_num_threads(threads);

  TrainParams p = TrainParams::init(c, 1), g = TrainParams::zeros(c);
  AdamWState s;
  s.init(p);
  TrainModel m;
  std::mt19937 r(1);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(c.vocab_size - 1));
  std::vector<int32_t> x(size_t(B * T)), y(size_t(B * T));
  double loss = 0, t_fwd = 0, t_bwd = 0, t_opt = 0;
  for (int i = 0; i <= steps; ++i) {
    for (auto& v : x) v = tok(r);
    for (size_t k = 0; k + 1 < x.size(); ++k) y[k] = x[k + 1];
    y.back() = -1;
    auto t0 = Clock::now();
    int64_t n = 0;
    loss = m.forward(p, x.data(), y.data(), B, T, &n) / double(n);
    auto t1 = Clock::now();
    g.zero();
    m.backward(p, g);
    auto t2 = Clock::now();
    clip_grad_norm(g, 1.0);
    adamw_step(p, g, s, 1e-3, 0.9, 0.95, 0.1);
    auto t3 = Clock::now();
    if (i == 0) continue;  // warm-up
    t_fwd += std::chrono::duration<double>(t1 - t0).count();
    t_bwd += std::chrono::duration<double>(t2 - t1).count();
    t_opt += std::chrono::duration<double>(t3 - t2).count();
  }
  const double step_s = (t_fwd + t_bwd + t_opt) / steps;
  const double tokens = double(B * T);
  const double flops_per_token = 6.0 * double(p.numel() - p.t[p.embed].size());

  // sgemm peak on the step's largest product: [B·T, d] × [d, MLP].
  const int M = int(B * T), N = int(c.intermediate_size), K = int(c.hidden_size);
  std::vector<float> A(size_t(M) * K, 0.5f), W(size_t(K) * N, 0.25f), C(size_t(M) * N);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, A.data(), K, W.data(), N, 0.f, C.data(), N);
  int reps = 0;
  const auto tg = Clock::now();
  while (since(tg) < 1.0 || reps < 5) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, A.data(), K, W.data(), N, 0.f, C.data(), N);
    ++reps;
  }
  const double sgemm_gflops = 2.0 * M * N * K * reps / since(tg) / 1e9;

  const Json out = {{"impl", "crosscoder.cpp TrainModel"}, {"threads", num_threads()}, {"params", p.numel()}, {"batch", B}, {"seq", T},
                    {"step_s", step_s}, {"forward_s", t_fwd / steps}, {"backward_s", t_bwd / steps}, {"optimizer_s", t_opt / steps},
                    {"tokens_per_s", tokens / step_s}, {"gflops", tokens / step_s * flops_per_token / 1e9},
                    {"sgemm_gflops_same_shape", sgemm_gflops}, {"sgemm_shape", {M, N, K}}, {"final_loss", loss}, {"blas_core", blas_core_name()}};
  std::printf("%s\n", out.dump().c_str());
}

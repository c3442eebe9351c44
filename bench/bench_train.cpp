// Crosscoder training-step benchmark at the paper's size (d 1536, F 32768, batch 4096): the sparse
// step (what `train` runs), the dense reference, and the encoder GEMM against OpenBLAS peak: the
// step's blocked product (encoder_product, fixed 256-feature blocks so that the bits do not depend
// on thread or rank count) beside one whole-matrix multithreaded sgemm of the same shape.
// Inputs are random; the encoder bias is set so ~`--l0` features fire per token (a trained L1
// crosscoder's regime; at init half of all features fire). Prints one JSON line per architecture.
// Under mpirun the step is feature-parallel (each rank a slice of the dictionary, as `train`
// runs it): rank 0 prints the step time and each rank's bytes put into communication per step.
#include <cblas.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/blas_environment.hpp"
#include "core/parallel.hpp"
#include "core/resource_usage.hpp"
#include "crosscoder/adam.hpp"
#include "crosscoder/step.hpp"
#include "dist/comm.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;
static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  cc::reexec_with_blas_environment(argv);  // the kernels and thread timeout the crosscoder binary runs
  CLI::App app{"crosscoder step benchmark"};
  int64_t d = 1536, F = 32768, B = 4096, l0 = 100;
  int steps = 2;
  bool dense = true;
  app.add_option("--d", d)->capture_default_str();
  app.add_option("--dict-size", F)->capture_default_str();
  app.add_option("--batch", B)->capture_default_str();
  app.add_option("--l0", l0)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_flag("!--no-dense", dense, "skip the dense reference");
  dist::init(&argc, &argv);
  CLI11_PARSE(app, argc, argv);
  set_num_threads(0);
  const bool sharded = dist::size() > 1;
  if (sharded) dense = false;
  std::mt19937 r(1);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> x(size_t(B * 2 * d));
  for (auto& v : x) v = n(r);
  for (std::string arch : {"l1", "batchtopk"}) {
    CrosscoderConfig c;
    c.architecture = arch_from_name(arch, "bench");
    c.d_in = d;
    c.dict_size = F;
    c.k = l0;
    const FeatureShard shard = FeatureShard::of_this_rank(F);
    const int64_t Fl = shard.size();
    CrosscoderParams p, g;
    crosscoder_init(p, d, F, 0.08, 1, shard.f0, shard.f1);
    g.resize(d, Fl);
    // Bias so that about l0 of F pre-activations are positive per token (from every rank's slice).
    {
      std::vector<float> pre(size_t(256 * Fl));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 256, int(Fl), int(2 * d), 1.f, x.data(), int(2 * d), p.W_encT.data(),
                  int(2 * d), 0.f, pre.data(), int(Fl));
      std::vector<float> all;
      for (const std::string& part : dist::allgather(std::string(reinterpret_cast<const char*>(pre.data()), pre.size() * sizeof(float)))) {
        const float* v = reinterpret_cast<const float*>(part.data());
        all.insert(all.end(), v, v + part.size() / sizeof(float));
      }
      std::nth_element(all.begin(), all.begin() + long(256 * l0), all.end(), std::greater<float>());
      std::fill(p.b_enc.begin(), p.b_enc.end(), -all[size_t(256 * l0)]);
    }
    AdamState a;
    a.resize(p.num_params());
    StepWorkspace ws;
    StepInput in{x.data(), B, 2.0, nullptr, &ws, &shard};
    std::vector<float> pre(size_t(B * Fl));  // touched here, outside the timings
    auto t_enc = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(B), int(Fl), int(2 * d), 1.f, x.data(), int(2 * d), p.W_encT.data(),
                int(2 * d), 0.f, pre.data(), int(Fl));
    const double enc_s = since(t_enc);
    auto t_blocked = Clock::now();
    encoder_product(x.data(), B, 2 * d, p.W_encT.data(), Fl, pre.data());
    const double blocked_s = since(t_blocked);
    pre = {};
    crosscoder_step_sparse(p, c, in, g);  // warm-up
    double l0_seen = 0;
    dist::barrier();
    const ResourceUsage ru0 = ResourceUsage::now();
    const uint64_t sent0 = dist::payload_bytes();
    auto t0 = Clock::now();
    for (int s = 0; s < steps; ++s) {
      l0_seen = crosscoder_step_sparse(p, c, in, g).l0;
      clip_grad_norm(g, 1.0, shard);
      adam_step(p, g, a, 5e-5, 0.9, 0.999);
    }
    dist::barrier();
    const double sparse_s = since(t0) / steps;
    std::string sent_per_step = "[";  // every rank's bytes put into communication per step
    for (const std::string& part : dist::allgather(std::to_string((dist::payload_bytes() - sent0) / uint64_t(steps))))
      sent_per_step += (sent_per_step.size() > 1 ? "," : "") + part;
    sent_per_step += "]";
    const ResourceUsage used = ResourceUsage::now() - ru0;
    const double faults_per_step = double(used.minor_faults) / steps;
    double dense_s = 0;
    if (dense) {
      auto t1 = Clock::now();
      crosscoder_step_dense(p, c, in, g);
      clip_grad_norm(g, 1.0);
      adam_step(p, g, a, 5e-5, 0.9, 0.999);
      dense_s = since(t1);
    }
    const double enc_gflop = 2.0 * double(B) * double(Fl) * double(2 * d) / 1e9;  // this rank's slice
    if (!dist::root()) continue;
    std::printf("{\"impl\":\"crosscoder.cpp\",\"ranks\":%d,\"threads\":%d,\"bytes_sent_per_step\":%s,\"arch\":\"%s\",\"d\":%lld,\"F\":%lld,\"batch\":%lld,\"l0\":%.1f,"
                "\"sparse_step_s\":%.3f,\"sparse_tok_s\":%.1f,\"dense_step_s\":%.3f,\"dense_tok_s\":%.1f,"
                "\"encoder_gemm_gflops\":%.1f,\"blocked_encoder_gflops\":%.1f,\"minor_faults_per_step\":%.1f,\"sys_over_user\":%.3f,\"blas_core\":\"%s\"}\n",
                dist::size(), num_threads(), sent_per_step.c_str(), arch.c_str(), (long long)d, (long long)F, (long long)B, l0_seen, sparse_s, double(B) / sparse_s, dense_s,
                dense_s > 0 ? double(B) / dense_s : 0.0, enc_gflop / enc_s, enc_gflop / blocked_s, faults_per_step, used.system_share(), blas_core_name().c_str());
    std::fflush(stdout);
  }
  dist::finalize();
  return 0;
}

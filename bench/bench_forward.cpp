// Forward-pass benchmark: prefill and decode throughput of the Qwen2 engine on a checkpoint, with
// OpenBLAS sgemm peak measured in the same process as the yardstick. Prints one JSON object.
// Usage: bench_forward --model DIR --dtype f32|bf16|bf16-act [--batch 4 --seq 512 --decode 32 --threads 0]
#include <cblas.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/blas_environment.hpp"
#include "core/cpu_features.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "model/gemm_bf16.hpp"
#include "model/qwen2.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// sgemm GFLOP/s on the shape that dominates prefill (tokens × d_model → d_mlp), best of 3.
static double sgemm_peak(int64_t M, int64_t N, int64_t K) {
  std::vector<float> a(size_t(M * K), 0.5f), b(size_t(N * K), 0.25f), c(size_t(M * N));
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(N), int(K), 1.f, a.data(), int(K), b.data(),
                int(K), 0.f, c.data(), int(N));
    best = std::max(best, 2.0 * double(M) * double(N) * double(K) / seconds_since(t) / 1e9);
  }
  return best;
}

// Read bandwidth of this machine: a threaded integer sum over 1 GiB (integer adds vectorise, so
// the loop is bound by memory, not by a float-add dependency chain), best of 3: the decode yardstick.
static double memory_read_gb_s() {
  std::vector<uint32_t> a(size_t(1) << 28, 1u);
  double best = 0;
  std::atomic<uint64_t> sink{0};
  for (int rep = 0; rep < 3; ++rep) {
    auto t = Clock::now();
    parallel_for(int64_t(a.size()), 1 << 20, [&](int64_t b, int64_t e) {
      uint32_t s = 0;
      for (int64_t i = b; i < e; ++i) s += a[size_t(i)];
      sink += s;
    });
    best = std::max(best, double(a.size() * 4) / seconds_since(t) / 1e9);
  }
  if (sink.load() == 0) std::printf("impossible\n");  // keeps the sums alive
  return best;
}

static double peak_rss_gib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / (1024.0 * 1024.0);
}

// Decode tokens/s with `rows` runs decoded together (generate_batch's step: one forward over all
// rows, per-row KV caches) after a prompt_len-token prompt each: rows * steps / seconds.
static double batched_decode_tok_s(Qwen2Model& model, int rows, int prompt_len, int steps) {
  const Qwen2Config& c = model.config();
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<std::vector<int32_t>> last(size_t(rows), std::vector<int32_t>(1, 1));
  ForwardOptions fo;
  fo.logits = LogitsMode::Last;
  std::mt19937 rng(2);
  for (int r = 0; r < rows; ++r) {
    caches.push_back(std::make_unique<KvCache>(c, prompt_len + steps + 1));
    std::vector<int32_t> p(static_cast<size_t>(prompt_len));
    for (auto& t : p) t = int32_t(rng() % uint32_t(c.vocab_size));
    SeqInput in{p, caches.back().get()};
    model.forward(std::span<const SeqInput>(&in, 1), fo);
  }
  auto t0 = Clock::now();
  for (int s = 0; s < steps; ++s) {
    std::vector<SeqInput> in;
    for (int r = 0; r < rows; ++r) in.push_back({last[size_t(r)], caches[size_t(r)].get()});
    auto out = model.forward(in, fo);
    for (int r = 0; r < rows; ++r) {
      const float* l = out.logits.data() + int64_t(r) * out.vocab;
      last[size_t(r)][0] = int32_t(std::max_element(l, l + out.vocab) - l);
    }
  }
  return double(rows) * steps / seconds_since(t0);
}

int main(int argc, char** argv) {
  cc::reexec_with_blas_environment(argv);  // the kernels and thread timeout the crosscoder binary runs
  CLI::App app{"Qwen2 forward benchmark"};
  std::string model_dir, dtype = "bf16";
  int batch = 4, seq = 512, decode = 32, threads = 0;
  bool skip_peak = false;
  int decode_rows = 8;
  app.add_option("--model", model_dir, "model directory")->required();
  app.add_option("--dtype", dtype, "f32, bf16 or bf16-act")->capture_default_str();
  app.add_option("--batch", batch, "prefill sequences")->capture_default_str();
  app.add_option("--seq", seq, "tokens per prefill sequence")->capture_default_str();
  app.add_option("--decode", decode, "decode steps after a seq-token prompt")->capture_default_str();
  app.add_option("--threads", threads, "0 = all cores")->capture_default_str();
  app.add_flag("--skip-peak", skip_peak, "do not measure sgemm peak");
  app.add_option("--decode-rows", decode_rows, "also time batched decode of this many runs (0 = skip)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(threads);
    auto t0 = Clock::now();
    auto model = Qwen2Model::load(model_dir, compute_mode_from_name(dtype));
    const double load_s = seconds_since(t0);
    const Qwen2Config& c = model->config();
    const int64_t d = c.hidden_size, L = c.num_hidden_layers;
    // FLOPs per token of the matrix products (2 per multiply-add), lm_head on the last token only.
    const double mat_params = double(L) * double(d * c.q_dim() * 2 + d * c.kv_dim() * 2 + 3 * d * c.intermediate_size);
    const double head = double(c.vocab_size * d);

    std::mt19937 rng(1);
    std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(batch), std::vector<int32_t>(static_cast<size_t>(seq)));
    for (auto& s : seqs)
      for (auto& t : s) t = int32_t(rng() % uint32_t(c.vocab_size));
    std::vector<SeqInput> in;
    for (auto& s : seqs) in.push_back({s, nullptr});
    ForwardOptions fo;
    fo.logits = LogitsMode::Last;
    model->forward(std::span<const SeqInput>(in.data(), 1), fo);  // warm-up: page in weights, size scratch
    auto t1 = Clock::now();
    model->forward(in, fo);
    const double prefill_s = seconds_since(t1);
    const double T = double(batch) * seq;
    // attention: QKᵀ and PV over the causal half, per layer: 2 * 2 * T * (seq/2) * q_dim
    const double attn = double(L) * 4.0 * T * (seq / 2.0) * double(c.q_dim());
    const double prefill_flops = 2.0 * mat_params * T + attn + 2.0 * head * batch;

    KvCache cache(c, seq + decode + 1);
    SeqInput p{seqs[0], &cache};
    model->forward(std::span<const SeqInput>(&p, 1), fo);
    std::vector<int32_t> one = {1};
    auto t2 = Clock::now();
    for (int i = 0; i < decode; ++i) {
      SeqInput s{one, &cache};
      auto out = model->forward(std::span<const SeqInput>(&s, 1), fo);
      one[0] = int32_t(std::max_element(out.logits.begin(), out.logits.end()) - out.logits.begin());
    }
    const double decode_s = seconds_since(t2) / decode;
    const double wbytes = (mat_params + head) * (dtype == "f32" ? 4.0 : 2.0);
    // Batched decode (steering sweeps, --num-samples) against one run at a time, same prompt length.
    const double one_row = decode_rows > 0 ? batched_decode_tok_s(*model, 1, 64, decode) : 0.0;
    const double many_rows = decode_rows > 0 ? batched_decode_tok_s(*model, decode_rows, 64, decode) : 0.0;
    const double rss = peak_rss_gib();  // before the yardsticks allocate their own buffers
    const double peak = skip_peak ? 0.0 : sgemm_peak(int64_t(T), c.intermediate_size, d);
    const double mem_bw = skip_peak ? 0.0 : memory_read_gb_s();
    std::printf(
        "{\"impl\":\"crosscoder.cpp\",\"dtype\":\"%s\",\"threads\":%d,\"load_s\":%.2f,\"prefill_tokens\":%d,"
        "\"prefill_s\":%.3f,\"prefill_tok_s\":%.1f,\"prefill_gflops\":%.1f,\"sgemm_peak_gflops\":%.1f,"
        "\"prefill_frac_of_peak\":%.3f,\"decode_tok_s\":%.2f,\"decode_weight_gb_s\":%.1f,\"memory_read_gb_s\":%.1f,\"peak_rss_gib\":%.2f,"
        "\"resident_weight_gib\":%.2f,\"mapped_weight_gib\":%.2f,\"bf16_gemm\":\"%s\",\"cpu\":\"%s\",\"blas_core\":\"%s\","
        "\"decode_rows\":%d,\"decode_1row_tok_s\":%.2f,\"decode_rows_tok_s\":%.2f,\"decode_rows_speedup\":%.2f,\"decode_rows_weight_gb_s\":%.1f}\n",
        dtype.c_str(), num_threads(), load_s, int(T), prefill_s, T / prefill_s, prefill_flops / prefill_s / 1e9, peak,
        peak > 0 ? prefill_flops / prefill_s / 1e9 / peak : 0.0, 1.0 / decode_s, wbytes / decode_s / 1e9, mem_bw, rss,
        double(model->weights().resident_bytes) / (1 << 30), double(model->weights().mapped_bytes) / (1 << 30),
        dtype == "bf16-act" ? bf16_gemm_path_name() : "-", cpu_feature_summary().c_str(), blas_core_name().c_str(), decode_rows, one_row, many_rows,
        one_row > 0 ? many_rows / one_row : 0.0, many_rows > 0 ? wbytes * many_rows / decode_rows / 1e9 : 0.0);
  } catch (const cc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// Harvest benchmark: paired activations at the hook (both models stop there) against what a
// hook-and-cache approach costs (two full forward passes with logits), on the same packed tokens
// in the same run. Prints one JSON object.
// With --compare-dtype M the harvester also runs in compute mode M on the same tokens (e.g. the
// bf16-act mode against the exact bf16 mode).
// Usage: bench_harvest --base A --distilled B --corpus SPEC ... [--layer 14 --seq-len 1024 --batch-seqs 2
//                      --dtype bf16 --compare-dtype MODE]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "core/blas_environment.hpp"
#include "core/cpu_features.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "harvest/pair_harvester.hpp"
#include "model/gemm_bf16.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;

// Seconds for one batch of cfg's harvest, after a warm-up batch (pages in the weights, sizes the
// scratch); the timed batch is returned through `out`.
static double time_one_batch(const HarvestConfig& cfg, ActivationBatch& out) {
  PairHarvester h(cfg);
  h.next();
  auto t0 = Clock::now();
  out = h.next();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  cc::reexec_with_blas_environment(argv);  // the kernels and thread timeout the crosscoder binary runs
  CLI::App app{"harvest benchmark"};
  HarvestConfig cfg;
  std::vector<std::string> corpora;
  std::string dtype = "bf16", compare_dtype;
  app.add_option("--base", cfg.base_dir)->required();
  app.add_option("--distilled", cfg.distilled_dir)->required();
  app.add_option("--corpus", corpora)->required();
  app.add_option("--tokenizer", cfg.tokenizer);
  app.add_option("--layer", cfg.hook)->capture_default_str();
  app.add_option("--seq-len", cfg.pack.seq_len)->capture_default_str();
  app.add_option("--batch-seqs", cfg.batch_seqs)->capture_default_str();
  app.add_option("--dtype", dtype)->capture_default_str();
  app.add_option("--compare-dtype", compare_dtype, "also time the harvest in this compute mode");
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(0);
    for (const auto& c : corpora) cfg.corpora.push_back(parse_corpus_spec(c));
    cfg.mode = compute_mode_from_name(dtype);
    ActivationBatch b;
    const double harvest_s = time_one_batch(cfg, b);
    const double positions = double(cfg.batch_seqs) * double(cfg.pack.seq_len);
    double compare_s = 0;
    if (!compare_dtype.empty()) {
      HarvestConfig other = cfg;
      other.mode = compute_mode_from_name(compare_dtype);
      ActivationBatch ob;
      compare_s = time_one_batch(other, ob);
    }
    PairHarvester h(cfg);  // its packer supplies the peer's tokens

    // The same amount of work done the hook-and-cache way: both models, all layers, all logits.
    auto a = Qwen2Model::load(cfg.base_dir, cfg.mode), bm = Qwen2Model::load(cfg.distilled_dir, cfg.mode);
    std::vector<std::vector<int32_t>> seqs;
    for (int i = 0; i < cfg.batch_seqs; ++i) seqs.push_back(h.packer().next().tokens);
    std::vector<SeqInput> in;
    for (auto& s : seqs) in.push_back({s, nullptr});
    ForwardOptions fo;
    fo.logits = LogitsMode::All;
    auto t1 = Clock::now();
    a->forward(in, fo);
    bm->forward(in, fo);
    const double full_s = std::chrono::duration<double>(Clock::now() - t1).count();
    const double tok_s = double(b.rows) / harvest_s;
    std::printf("{\"impl\":\"crosscoder.cpp harvest\",\"dtype\":\"%s\",\"hook\":\"%s\",\"positions\":%.0f,\"kept_rows\":%lld,"
                "\"harvest_s\":%.2f,\"harvest_positions_per_s\":%.1f,\"harvest_rows_per_s\":%.1f,\"two_full_forwards_s\":%.2f,"
                "\"two_full_forwards_positions_per_s\":%.1f,\"speedup\":%.2f,\"projected_hours_400M\":%.0f,"
                "\"compare_dtype\":\"%s\",\"compare_positions_per_s\":%.1f,\"speedup_vs_compare\":%.2f,\"bf16_gemm\":\"%s\",\"cpu\":\"%s\",\"blas_core\":\"%s\"}\n",
                dtype.c_str(), h.hook_name().c_str(), positions, (long long)b.rows, harvest_s, positions / harvest_s, tok_s,
                full_s, positions / full_s, full_s / harvest_s, 400e6 / tok_s / 3600.0, compare_dtype.c_str(),
                compare_s > 0 ? positions / compare_s : 0.0, compare_s > 0 ? compare_s / harvest_s : 0.0,
                bf16_gemm_path_name(), cpu_feature_summary().c_str(), blas_core_name().c_str());
  } catch (const cc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

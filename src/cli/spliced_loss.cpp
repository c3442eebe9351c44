// `crosscoder spliced-loss`: each model's next-token loss with its hook stream replaced by the
// crosscoder's reconstruction, on held-out sequences (clean, spliced, zero-ablated; loss recovered).
#include <cstdio>

#include "cli/commands.hpp"
#include "core/parallel.hpp"
#include "interventions/spliced_loss.hpp"

namespace cc::cli {

void register_spliced_loss(CLI::App& app) {
  struct Opts {
    SplicedLossOptions a;
    std::vector<std::string> corpora;
    std::string dtype = "bf16";
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  SplicedLossOptions& a = o->a;
  auto* s = app.add_subcommand("spliced-loss", "Next-token loss of each model with its hook stream replaced by the crosscoder's "
                                               "reconstruction, next to the clean and zero-ablated loss, on held-out sequences");
  s->add_option("--crosscoder", a.crosscoder, "Checkpoint directory (its hook is where the stream is replaced)")->required();
  s->add_option("--base", a.base, "Base model directory (model A)")->required();
  s->add_option("--distilled", a.distilled, "Distilled model directory (model B)")->required();
  s->add_option("--corpus", o->corpora, "PATH[:FIELD][@WEIGHT][#TEMPLATE], repeatable (as for harvest)")->required();
  s->add_option("--out", a.out, "Output JSON (default: CROSSCODER/spliced_loss.json)");
  s->add_option("--tokenizer", a.tokenizer, "tokenizer.json or its folder (default: the base model's)");
  s->add_option("--sequences", a.sequences, "Held-out packed sequences scored")->capture_default_str();
  s->add_option("--seq-len", a.seq_len, "Tokens per sequence")->capture_default_str();
  s->add_option("--seed", a.seed, "Seed for document order")->capture_default_str();
  s->add_option("--eval-fraction", a.eval_fraction, "Held-out share of documents, as at harvest: only those are scored")
      ->capture_default_str();
  s->add_option("--held-out", a.held_out_list, "The harvest's held-out list, if it had one (default: none; the hash split alone)");
  s->add_option("--batch-tokens", a.batch_tokens, "Rows per forward call")->capture_default_str();
  s->add_option("--bootstrap", a.bootstrap, "Bootstrap resamples of sequences for the 95% intervals")->capture_default_str();
  s->add_option("--dtype", o->dtype, "Model compute mode: f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
  s->add_flag("--quiet", o->quiet, "No progress bar");
  s->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  s->callback([o] {
    set_num_threads(o->threads);
    for (const auto& c : o->corpora) o->a.corpora.push_back(parse_corpus_spec(c));
    o->a.mode = compute_mode_from_name(o->dtype);
    o->a.progress = !o->quiet;
    const SplicedLoss r = run_spliced_loss(o->a);
    for (int m = 0; m < 2; ++m) {
      const SplicedLossModel& x = r.model[m];
      std::printf("%-9s CE clean %.4f  spliced %.4f [%+.4f, 95%% CI %+.4f..%+.4f]  zero %.4f  KL %.4f  loss recovered %.3f (%.3f..%.3f)\n",
                  m == 0 ? "base" : "distilled", x.ce_clean, x.ce_spliced, x.ce_spliced - x.ce_clean, x.ce_increase_ci.lo,
                  x.ce_increase_ci.hi, x.ce_zero, x.kl_spliced, x.recovered, x.recovered_ci.lo, x.recovered_ci.hi);
    }
    std::printf("%lld positions in %lld held-out sequences; written to %s\n", (long long)r.positions, (long long)r.sequences, r.path.c_str());
  });
}

}  // namespace cc::cli

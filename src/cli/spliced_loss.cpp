// `crosscoder spliced-loss`: each model's next-token loss with its hook stream replaced by the
// crosscoder's reconstruction, on held-out sequences (clean, spliced, zero-ablated; loss recovered).
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/pair_options.hpp"
#include "interventions/spliced_loss.hpp"

namespace cc::cli {

void register_spliced_loss(CLI::App& app) {
  struct Opts {
    SplicedLossOptions a;
    PairCli pair;
  };
  auto o = std::make_shared<Opts>();
  SplicedLossOptions& a = o->a;
  auto* s = app.add_subcommand("spliced-loss", "Next-token loss of each model with its hook stream replaced by the crosscoder's "
                                               "reconstruction, next to the clean and zero-ablated loss, on held-out sequences");
  add_pair_options(s, a, o->pair, "the stream is replaced");
  s->add_option("--out", a.out, "Output JSON (default: CROSSCODER/spliced_loss.json)");
  s->add_option("--sequences", a.sequences, "Held-out packed sequences scored")->capture_default_str();
  s->add_option("--seed", a.seed, "Seed for document order")->capture_default_str();
  s->add_option("--bootstrap", a.bootstrap, "Bootstrap resamples of sequences for the 95% intervals")->capture_default_str();
  s->callback([o] {
    apply_pair_options(o->a, o->pair);
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

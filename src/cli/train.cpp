// `crosscoder train`: a sparse crosscoder (L1 or BatchTopK) on an activation store.
#include <cstdio>

#include "cli/commands.hpp"
#include "core/parallel.hpp"
#include "crosscoder/trainer.hpp"
#include "dist/comm.hpp"

namespace cc::cli {

void register_train(CLI::App& app) {
  struct Opts {
    CrosscoderConfig cfg;
    TrainOptions t;
    int threads = 0;
    bool quiet = false, no_shuffle = false;
    std::string arch = "l1", device = "cpu";
  };
  auto o = std::make_shared<Opts>();
  CrosscoderConfig& c = o->cfg;
  auto* s = app.add_subcommand("train", "Train a sparse crosscoder on an activation store");
  s->add_option("--acts", o->t.acts, "Activation store (from `crosscoder harvest`)")->required();
  s->add_option("--out", o->t.out, "Checkpoint directory")->required();
  s->add_option("--arch", o->arch, "l1 (the paper's) or batchtopk")->check(CLI::IsMember({"l1", "batchtopk"}))->capture_default_str();
  s->add_option("--dict-size", c.dict_size, "Number of features F")->capture_default_str();
  s->add_option("--l1-coeff", c.l1_coeff, "λ, reached after the warm-up (l1)")->capture_default_str();
  s->add_option("--k", c.k, "Mean active features per token (batchtopk)")->capture_default_str();
  s->add_option("--aux-coeff", c.aux_coeff, "Weight of the dead-feature auxiliary loss (batchtopk)")->capture_default_str();
  s->add_option("--lr", c.lr, "Adam learning rate")->capture_default_str();
  s->add_option("--batch-size", c.batch_size, "Tokens per step")->capture_default_str();
  s->add_option("--tokens", c.num_tokens, "Token budget (steps = tokens / batch size)")->capture_default_str();
  s->add_option("--seed", c.seed, "Init and shuffle seed")->capture_default_str();
  s->add_option("--dec-init-norm", c.dec_init_norm, "Decoder row norm at init")->capture_default_str();
  s->add_option("--dead-tokens", c.dead_tokens, "A feature is dead after this many tokens without firing (-1 = a tenth of --tokens, at most 10M)")
      ->capture_default_str();
  s->add_option("--threshold-start", c.threshold_start_step, "BatchTopK: steps before θ's running estimate starts (-1 = 5% of the run, at most 1000)")
      ->capture_default_str();
  s->add_option("--steps", o->t.max_steps, "Stop after this many steps (schedules still follow --tokens) (default: every step of --tokens)");
  s->add_option("--save-every", o->t.save_every, "Steps between checkpoints")->capture_default_str();
  s->add_option("--log-every", o->t.log_every, "Steps between train_log.jsonl lines")->capture_default_str();
  s->add_option("--buffer-rows", o->t.buffer_rows, "Shuffle buffer rows (memory: rows x 2 x d x 4 bytes)")->capture_default_str();
  s->add_option("--init", o->t.init, "Start from this checkpoint's weights (default: the random init)");
  s->add_flag("--resume", o->t.resume, "Continue a killed run in --out");
  s->add_option("--device", o->device, "cpu, or cuda (a build with -DCROSSCODER_CUDA=ON and a GPU: each step's products on the GPU; "
                                       "docs/GPU.md)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  s->add_flag("--no-shuffle", o->no_shuffle, "Read the store in order");
  s->add_flag("--quiet", o->quiet, "No progress bar");
  s->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  s->callback([o] {
    set_num_threads(o->threads);
    o->t.shuffle = !o->no_shuffle;
    o->cfg.architecture = arch_from_name(o->arch, "--arch");
    o->t.progress = !o->quiet;
    o->t.device = parse_device(o->device, "--device");
    TrainSummary r = train_crosscoder(o->cfg, o->t);
    if (!dist::root()) return;  // rank 0 of a feature-parallel run reports
    std::printf("trained %lld steps (%.0f tok/s); on %lld %s rows: FVU base %.3f distilled %.3f, L0 %.1f, never active %.1f%% "
                "(OUT/eval.json)\n",
                (long long)r.steps, r.tokens_per_s, (long long)r.eval.rows, r.eval.held_out ? "held-out" : "(no split: all)",
                r.eval.fvu[0], r.eval.fvu[1], r.eval.l0, 100 * r.eval.inactive_frac);
  });
}

}  // namespace cc::cli

// `crosscoder steer`: sweep a feature's steering strength over prompts and measure how the model thinks.
#include <cstdio>

#include "cli/commands.hpp"
#include "dist/comm.hpp"
#include "cli/compute_option.hpp"
#include "core/parallel.hpp"
#include "interventions/steer_sweep.hpp"
#include "pipeline/resources.hpp"

namespace cc::cli {

void register_steer(CLI::App& app) {
  struct Opts {
    SteerSweepOptions s;
    std::string dtype = "bf16", slice = "B";
    bool no_greedy = false, quiet = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  SteerSweepOptions& s = o->s;
  auto* c = app.add_subcommand("steer", "Steering sweep: generate with ALPHA * W_dec[i, B] / s_B added at the hook, over ALPHA, "
                                        "prompts and seeds; count reasoning words, thinking length and correctness");
  c->add_option("--crosscoder", s.crosscoder, "Checkpoint directory")->required();
  c->add_option("--model", s.model, "Model to steer (the distilled model, as in the paper)")->required();
  c->add_option("--feature", s.feature, "Feature index, or a category name (its top feature in --analysis)")->required();
  c->add_option("--alpha", s.alphas, "Steering strengths, comma-separated")->delimiter(',')->capture_default_str();
  c->add_option("--out", s.out, "Output directory (steer.json, steer.csv, transcripts.jsonl)")->required();
  c->add_option("--analysis", s.analysis, "Analysis directory (needed when --feature is a category) (default: none)");
  c->add_option("--prompts", s.prompts,
                "JSONL with question|problem|prompt and optional answer (GSM8K's '#### N' understood), or text with one "
                "prompt per line (default: \"What is 5-1?\" and the first --problems of --problems-file)");
  c->add_option("--problems", s.problems, "Problems of --problems-file added to the default prompt")->capture_default_str();
  c->add_option("--problems-file", s.problems_file, "JSONL of problems for the default prompts (default: data/math/gsm8k_test.jsonl)");
  c->add_option("--tokenizer", s.tokenizer, "tokenizer.json or its folder (default: the model's)");
  c->add_option("--lexicon", s.lexicon, "Word categories counted (default: configs/reasoning_lexicon.toml)");
  c->add_option("--chat", s.chat, "Prompt template: r1-distill, chatml, plain or auto")->capture_default_str();
  c->add_option("--samples", s.samples, "Sampled runs per (alpha, prompt), seeds 1..N")->capture_default_str();
  c->add_flag("--no-greedy", o->no_greedy, "Skip the greedy run per (alpha, prompt)");
  c->add_option("--temperature", s.temperature, "Sampling temperature")->capture_default_str();
  c->add_option("--top-p", s.top_p, "Nucleus mass for sampling")->capture_default_str();
  c->add_option("--max-new-tokens", s.max_new_tokens, "Generation limit per run")->capture_default_str();
  c->add_option("--slice", o->slice, "Decoder slice steered along: B (distilled) or A (base)")->check(CLI::IsMember({"A", "B"}))->capture_default_str();
  c->add_flag("--generated-only", s.generated_only, "Steer generated positions only, not the prompt");
  c->add_option("--batch-runs", s.batch_runs, "Runs of one prompt decoded together (1-16; the tokens do not depend on it)")->capture_default_str();
  c->add_flag("--resume", s.resume, "Keep the finished runs in --out and do the rest");
  add_compute_option(c, o->dtype);
  c->add_flag("--quiet", o->quiet, "No progress bar");
  c->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  c->footer("Under `mpirun -np N` the decode batches are dealt to the ranks and rank 0 writes the transcripts and tables: "
            "the same as one process writes with the same threads per rank, but the timings (docs/DISTRIBUTED.md). --resume works with any N.");
  c->callback([o] {
    set_num_threads(o->threads);
    o->s.greedy = !o->no_greedy;
    o->s.slice = o->slice == "A" ? 0 : 1;
    o->s.mode = compute_mode_from_name(o->dtype);
    o->s.progress = !o->quiet;
    if (o->s.lexicon.empty()) o->s.lexicon = default_lexicon();
    if (o->s.problems_file.empty() && o->s.prompts.empty()) o->s.problems_file = default_steer_problems();
    const std::string path = run_steer_sweep(o->s);
    if (dist::root())  // under mpirun rank 0 wrote the results
      std::printf("steering sweep written to %s (and steer.csv, transcripts.jsonl)\n", path.c_str());
  });
}

}  // namespace cc::cli

// `crosscoder organism build`: train the tiny base LM and its distilled variant.
#include <cstdio>

#include "cli/commands.hpp"
#include "core/parallel.hpp"
#include "organism/build_report.hpp"
#include "organism/organism_build.hpp"
#include "organism/organism_data.hpp"
#include "organism/finetune.hpp"
#include "organism/plant.hpp"
#include "core/json_file.hpp"
#include "core/atomic_file.hpp"
#include "pipeline/resources.hpp"

namespace cc::cli {

void register_organism(CLI::App& app) {
  auto o = std::make_shared<OrganismOptions>();
  auto threads = std::make_shared<int>(0);
  auto quiet = std::make_shared<bool>(false);
  auto* org = app.add_subcommand("organism", "The model organism of reasoning distillation");
  org->require_subcommand(1);
  auto* c = org->add_subcommand("build", "Train a tokenizer, a base LM and its distilled variant; write HF checkpoints and BUILD.md");
  c->add_option("--out", o->out, "Output folder (base/, distilled/, BUILD.md, build.json)")->capture_default_str();
  c->add_option("--data", o->data, "The data folder (default: data/ of the installed or source tree)");
  c->add_option("--lexicon", o->lexicon, "Words counted in the generation check (default: configs/reasoning_lexicon.toml)");
  c->add_option("--seed", o->seed, "Seed for data order, synthesis, initialisation and batches")->capture_default_str();
  c->add_option("--vocab", o->vocab, "BPE vocabulary size (special tokens come on top)")->capture_default_str();
  c->add_option("--d-model", o->d_model, "Hidden size")->capture_default_str();
  c->add_option("--layers", o->layers, "Transformer layers")->capture_default_str();
  c->add_option("--heads", o->heads, "Query heads")->capture_default_str();
  c->add_option("--kv-heads", o->kv_heads, "Key/value heads (GQA)")->capture_default_str();
  c->add_option("--d-mlp", o->d_mlp, "MLP width")->capture_default_str();
  c->add_option("--seq-len", o->seq_len, "Training window in tokens")->capture_default_str();
  c->add_option("--batch", o->batch, "Windows per step")->capture_default_str();
  c->add_option("--base-steps", o->base_steps, "Pre-training steps of the base model")->capture_default_str();
  c->add_option("--distill-steps", o->distill_steps, "Fine-tuning steps on traces for the distilled model")->capture_default_str();
  c->add_option("--base-lr", o->base_lr, "Peak learning rate, base")->capture_default_str();
  c->add_option("--distill-lr", o->distill_lr, "Peak learning rate, distillation")->capture_default_str();
  c->add_option("--eval-prompts", o->eval_prompts, "Prompts of the generation check (\"What is 5-1?\" + GSM8K test)")->capture_default_str();
  c->add_option("--max-new-tokens", o->max_new_tokens, "Generation limit in the check")->capture_default_str();
  c->add_flag("--quiet", *quiet, "No progress bar");
  c->add_option("--threads", *threads, "Threads (0 = all cores)")->capture_default_str();
  c->callback([o, threads, quiet] {
    set_num_threads(*threads);
    o->progress = !*quiet;
    if (o->data.empty()) o->data = resource_path("data");
    if (o->lexicon.empty()) o->lexicon = default_lexicon();
    const std::string path = build_organism(*o);
    std::printf("organism written to %s (base/, distilled/, BUILD.md); numbers in %s\n", o->out.c_str(), path.c_str());
  });
  auto po = std::make_shared<PlantOptions>();
  auto* pl = org->add_subcommand("plant", "Copy a Qwen2 model with a planted mechanism: trigger tokens write a random direction "
                                          "that raises a target token's logit (a positive control; OUT/plant.json records it)");
  pl->add_option("--model", po->model, "Source model directory (untied embeddings)")->required();
  pl->add_option("--trigger", po->triggers, "Trigger token text, exactly one token (repeatable: a concept)")->required();
  pl->add_option("--target", po->target, "Target token text, exactly one token")->required();
  pl->add_option("--strength-in", po->strength_in, "Direction added to each trigger's embedding, times that row's norm")
      ->capture_default_str();
  pl->add_option("--strength-out", po->strength_out, "Direction added to the target's unembedding row, times that row's norm")
      ->capture_default_str();
  pl->add_option("--seed", po->seed, "Seed of the direction and of the measurement's contexts")->capture_default_str();
  pl->add_option("--probes", po->probes, "Random contexts per trigger in the measurement")->capture_default_str();
  pl->add_option("--out", po->out, "Output model directory")->required();
  pl->callback([po] {
    const std::string path = plant_mechanism(*po);
    const Json j = read_json_file(path);
    const Json& m = j["measured"];
    std::printf("planted model written to %s; mean log p(target) after a trigger %.3f -> %.3f, elsewhere %.3f -> %.3f (%s)\n",
                po->out.c_str(), m["log_p_target_before"]["after_trigger"].get<double>(), m["log_p_target_after"]["after_trigger"].get<double>(),
                m["log_p_target_before"]["elsewhere"].get<double>(), m["log_p_target_after"]["elsewhere"].get<double>(), path.c_str());
  });
  auto fo = std::make_shared<FinetuneOptions>();
  auto* ft = org->add_subcommand("finetune", "Copy a Qwen2 model fine-tuned on plain text (the null pair: a fine-tune of the "
                                             "distillation's budget with no reasoning in its data; OUT/finetune.json records it)");
  ft->add_option("--model", fo->model, "Source model directory (untied embeddings)")->required();
  ft->add_option("--text", fo->texts, "Plain-text file, cut into documents at blank lines (repeatable)")->required();
  ft->add_option("--steps", fo->steps, "Training steps (the organism's distillation: 500)")->capture_default_str();
  ft->add_option("--seq-len", fo->seq_len, "Training window in tokens")->capture_default_str();
  ft->add_option("--batch", fo->batch, "Windows per step")->capture_default_str();
  ft->add_option("--lr", fo->lr, "Peak learning rate (warm-up, cosine decay)")->capture_default_str();
  ft->add_option("--seed", fo->seed, "Seed of the held-out split, batches and order")->capture_default_str();
  ft->add_option("--out", fo->out, "Output model directory")->required();
  auto ft_quiet = std::make_shared<bool>(false);
  auto ft_threads = std::make_shared<int>(0);
  ft->add_flag("--quiet", *ft_quiet, "No progress bar");
  ft->add_option("--threads", *ft_threads, "Threads (0 = all cores)")->capture_default_str();
  ft->callback([fo, ft_quiet, ft_threads] {
    set_num_threads(*ft_threads);
    fo->progress = !*ft_quiet;
    const std::string path = finetune_model(*fo);
    const Json j = read_json_file(path);
    std::printf("fine-tuned model written to %s; held-out loss %.3f -> %.3f, relative weight change %.4f (%s)\n", fo->out.c_str(),
                j["heldout_loss"]["before"].get<double>(), j["heldout_loss"]["after"].get<double>(), j["relative_weight_change"].get<double>(),
                path.c_str());
  });
  auto so = std::make_shared<OrganismOptions>();
  auto* sp = org->add_subcommand("split", "Write OUT/split.json (the real traces the distillation held out) from the data and seed, "
                                          "without training; organism build writes the same file");
  sp->add_option("--out", so->out, "The organism folder")->capture_default_str();
  sp->add_option("--data", so->data, "The data folder (default: data/ of the installed or source tree)");
  sp->add_option("--seed", so->seed, "The seed the organism was built with")->capture_default_str();
  sp->callback([so] {
    if (so->data.empty()) so->data = resource_path("data");
    make_dirs(so->out);
    const std::string path = write_organism_split(build_organism_texts(so->data, so->seed), so->data, so->seed, so->out);
    std::printf("%s written\n", path.c_str());
  });
  auto dout = std::make_shared<std::string>("organism");
  auto* d = org->add_subcommand("describe", "Re-render OUT/BUILD.md from OUT/build.json");
  d->add_option("--out", *dout, "The organism folder")->capture_default_str();
  d->callback([dout] {
    write_organism_build_md(*dout);
    std::printf("%s/BUILD.md written\n", dout->c_str());
  });
}

}  // namespace cc::cli

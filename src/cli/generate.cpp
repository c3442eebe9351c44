// `crosscoder generate`: sample a continuation, streaming ids as they come.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/compute_option.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "tokenizer/prompt_input.hpp"
#include "interventions/steering.hpp"
#include "model/generate.hpp"

namespace cc::cli {

namespace {

void print_ids_or_text(const std::vector<int32_t>& ids, const Tokenizer* tok) {
  if (tok) {
    const std::string b = tok->decode_bytes(ids);
    std::fwrite(b.data(), 1, b.size(), stdout);
  } else {
    for (int32_t id : ids) std::printf("%d ", id);
  }
}

// --num-samples N: the N runs decode together; each is printed when all are done.
void print_samples(Qwen2Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& g, int n, const Tokenizer* tok) {
  std::vector<GenerateRequest> runs;
  for (int i = 0; i < n; ++i) {
    SamplingParams sp = g.sampling;
    sp.seed += uint64_t(i);
    runs.push_back({prompt, sp, g.hooks});
  }
  const auto res = generate_batch(model, runs, g.max_new_tokens, g.stop_ids);
  for (int i = 0; i < n; ++i) {
    std::printf("--- sample %d (seed %llu) ---\n", i + 1, (unsigned long long)runs[size_t(i)].sampling.seed);
    print_ids_or_text(res[size_t(i)].tokens, tok);
    std::printf("\n%zu tokens%s\n", res[size_t(i)].tokens.size(), res[size_t(i)].stopped_on_eos ? " (stopped on EOS)" : "");
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  struct Opts {
    std::string model, ids, prompt, chat, tokenizer, dtype = "bf16";
    int64_t max_new = 64;
    float temperature = 0.f, top_p = 1.f;
    int top_k = 0, threads = 0;
    uint64_t seed = 0;
    int num_samples = 1;
    bool ignore_eos = false, steer_generated_only = false;
    std::vector<std::string> steer;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("generate", "Generate a continuation (greedy or sampled) with a KV cache");
  c->add_option("--model", o->model, "Hugging Face model directory")->required();
  auto* ids = c->add_option("--token-ids", o->ids, "Prompt as comma-separated token ids; give it or --prompt (no default)");
  auto* prompt = c->add_option("--prompt", o->prompt, "Text prompt (encoded with --tokenizer); give it or --token-ids (no default)");
  ids->excludes(prompt);
  c->add_option("--chat", o->chat, "Wrap --prompt in a chat template: auto, plain, chatml, r1-distill (default: none)");
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json or its directory (default: the model directory)");
  c->add_option("--max-new-tokens", o->max_new, "Maximum tokens to generate")->capture_default_str();
  c->add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  c->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  c->add_option("--top-p", o->top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  c->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  c->add_option("--num-samples", o->num_samples,
                "Runs decoded together in one batch, seeds SEED, SEED+1, ... (1-16; each run's tokens are those it gets alone)")
      ->capture_default_str();
  c->add_flag("--ignore-eos", o->ignore_eos, "Do not stop on the model's EOS ids");
  c->add_option("--steer", o->steer,
                "CKPT:FEATURE:ALPHA[:A|B]: add ALPHA * W_dec[FEATURE, B] / s_B at the crosscoder's hook (repeatable; default: no steering)");
  c->add_flag("--steer-generated-only", o->steer_generated_only, "Steer generated positions only, not the prompt");
  add_compute_option(c, o->dtype);
  c->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  c->callback([o] {
    set_num_threads(o->threads);
    if (o->num_samples < 1 || o->num_samples > kMaxDecodeRows)
      fail("", "--num-samples", "is out of range", "1.." + std::to_string(kMaxDecodeRows), std::to_string(o->num_samples));
    PromptInput in = resolve_prompt(o->ids, o->prompt, o->chat, o->tokenizer, o->model);
    const auto& prompt = in.ids;
    const Tokenizer* tok = in.tokenizer.get();
    auto model = Qwen2Model::load(o->model, compute_mode_from_name(o->dtype));
    GenerateOptions g;
    g.max_new_tokens = o->max_new;
    g.sampling = {o->temperature, o->top_k, o->top_p, o->seed};
    if (!o->ignore_eos) g.stop_ids = model->config().eos_token_ids;
    Hooks hooks;
    std::vector<SteerSpec> specs;
    for (const auto& s : o->steer) specs.push_back(parse_steer(s));
    add_steering_hooks(hooks, specs, model->config().num_hidden_layers, model->config().hidden_size,
                       o->steer_generated_only ? int32_t(prompt.size()) : 0);
    if (!hooks.empty()) g.hooks = &hooks;
    if (o->num_samples > 1) {
      print_samples(*model, prompt, g, o->num_samples, tok);
      return;
    }
    // Streams decoded bytes when a tokenizer is at hand (a character split across tokens is
    // completed by the next write), ids otherwise.
    auto res = generate(*model, prompt, g, [tok](int32_t id) {
      print_ids_or_text({id}, tok);
      std::fflush(stdout);
    });
    std::printf("\n%zu tokens%s\n", res.tokens.size(), res.stopped_on_eos ? " (stopped on EOS)" : "");
  });
}

}  // namespace cc::cli

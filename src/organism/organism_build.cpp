// The organism build, stage by stage; each training stage checkpoints under OUT/.state so an
// interrupted build continues where it stopped.
#include "organism/organism_build.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "data/lexicon.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/progress.hpp"
#include "model/generate.hpp"
#include "data/prompts.hpp"
#include "organism/bpe_trainer.hpp"
#include "organism/build_report.hpp"
#include "organism/organism_data.hpp"
#include "organism/train_model.hpp"
#include "tokenizer/chat_template.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

struct GenStats {
  int64_t prompts = 0, tokens = 0, closed_think = 0;
  std::vector<int64_t> counts;
  Json json(const Lexicon& lex) const {
    Json c = Json::object(), rate = Json::object();
    for (size_t i = 0; i < counts.size(); ++i) {
      c[lex.categories[i]] = counts[i];
      rate[lex.categories[i]] = tokens ? 1000.0 * double(counts[i]) / double(tokens) : 0.0;
    }
    return {{"prompts", prompts}, {"generated_tokens", tokens}, {"closed_think", closed_think}, {"counts", c}, {"per_1000_tokens", rate}};
  }
};

GenStats generation_check(const std::string& dir, const Tokenizer& tok, const std::vector<std::string>& questions, int64_t max_new,
                          const Lexicon& lex, Json& samples) {
  auto model = Qwen2Model::load(dir, ComputeMode::F32);
  GenStats s;
  s.counts.assign(lex.categories.size(), 0);
  for (size_t i = 0; i < questions.size(); ++i) {
    const auto ids = encode_prompt(tok, questions[i], "r1-distill");
    GenerateOptions g;
    g.max_new_tokens = max_new;
    g.stop_ids = model->config().eos_token_ids;
    const GenerateResult r = generate(*model, ids, g);
    const std::string text = tok.decode(r.tokens);
    ++s.prompts;
    s.tokens += int64_t(r.tokens.size());
    s.closed_think += text.find("</think>") != std::string::npos;
    const auto c = lex.count(text);
    for (size_t k = 0; k < c.size(); ++k) s.counts[k] += c[k];
    if (i < 3) samples.push_back({{"question", questions[i]}, {"text", text}});
  }
  return s;
}


}  // namespace

std::string build_organism(const OrganismOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::string& data = opt.data;
  if (data.empty() || opt.lexicon.empty()) fail("", "organism options", "need the data folder and the lexicon");
  make_dirs(opt.out);
  std::fprintf(stderr, "[organism] 1/5 data from %s\n", data.c_str());
  const OrganismTexts texts = build_organism_texts(data, opt.seed);
  write_organism_split(texts, data, opt.seed, opt.out);

  std::fprintf(stderr, "[organism] 2/5 tokenizer (byte-level BPE, vocabulary %lld + specials)\n", (long long)opt.vocab);
  std::vector<std::string> corpus = texts.base_train;
  for (const Chat& c : texts.distill_train) corpus.push_back(c.prompt + c.response);
  BpeTrainOptions bo;
  bo.vocab_size = opt.vocab;
  const BpeTrainResult bpe = train_bpe(corpus, bo);
  for (const char* m : {"base", "distilled"}) {
    make_dirs(opt.out + "/" + m);
    write_file_atomic(opt.out + "/" + m + "/tokenizer.json", bpe.tokenizer.dump());
    write_file_atomic(opt.out + "/" + m + "/tokenizer_config.json", bpe.tokenizer_config.dump(2));
  }
  auto tok = Tokenizer::load(opt.out + "/base/tokenizer.json");
  const int32_t eot = tok->token_to_id("<|endoftext|>"), bos = tok->token_to_id("<｜begin▁of▁sentence｜>"),
                eos = tok->token_to_id("<｜end▁of▁sentence｜>");
  const TokenStream base_train = tokenize_documents(*tok, texts.base_train, eot), base_eval = tokenize_documents(*tok, texts.base_eval, eot);
  const TokenStream dist_train = tokenize_chats(*tok, texts.distill_train, eot), dist_eval = tokenize_chats(*tok, texts.distill_eval, eot);

  Qwen2Config c;
  c.vocab_size = int64_t(tok->vocab_size());
  c.hidden_size = opt.d_model;
  c.intermediate_size = opt.d_mlp;
  c.num_hidden_layers = opt.layers;
  c.num_attention_heads = opt.heads;
  c.num_key_value_heads = opt.kv_heads;
  c.head_dim = opt.d_model / opt.heads;
  c.max_position_embeddings = 4096;
  c.bos_token_id = bos;
  c.eos_token_ids = {eos};
  c.source = opt.out + "/base/config.json";
  c = parse_qwen2_config(qwen2_config_to_json(c), c.source);  // validated like any checkpoint

  auto train_stage = [&](const char* name, TrainParams& p, const TokenStream& tr, const TokenStream& ev, int64_t steps, double lr) {
    const uint64_t seed = opt.seed + (std::string(name) == "base" ? 0 : 1);
    return train_lm(p, tr, ev, stage_train_options(steps, lr, opt.seq_len, opt.batch, seed, opt.out + "/.state/" + name, name, opt.progress));
  };
  std::fprintf(stderr, "[organism] 3/5 base model: %lld steps x %lld x %lld tokens\n", (long long)opt.base_steps, (long long)opt.batch,
               (long long)opt.seq_len);
  TrainParams base = TrainParams::init(c, opt.seed);
  const LmTrainResult rb = train_stage("base", base, base_train, base_eval, opt.base_steps, opt.base_lr);
  save_train_params(opt.out + "/base", base, DType::BF16);
  round_to_bf16(base);  // what the checkpoint holds: the distilled model starts from it, losses are of it
  std::fprintf(stderr, "[organism] 4/5 distilled model: the base fine-tuned on traces, %lld steps\n", (long long)opt.distill_steps);
  TrainParams dist = base;
  const LmTrainResult rd = train_stage("distilled", dist, dist_train, dist_eval, opt.distill_steps, opt.distill_lr);
  save_train_params(opt.out + "/distilled", dist, DType::BF16);
  round_to_bf16(dist);

  std::fprintf(stderr, "[organism] 5/5 held-out losses and generation check\n");
  Json losses = Json::object();
  for (auto [label, p] : {std::pair<const char*, const TrainParams*>{"base", &base}, {"distilled", &dist}})
    losses[label] = {{"general_and_gsm8k", evaluate_lm(*p, base_eval, opt.seq_len, 64)}, {"traces", evaluate_lm(*p, dist_eval, opt.seq_len, 64)}};
  const Lexicon lex = load_lexicon(opt.lexicon);
  std::vector<std::string> questions = {"What is 5-1?"};
  for (const SteerPrompt& p : load_steer_prompts(data + "/math/gsm8k_test.jsonl"))
    if (int64_t(questions.size()) < opt.eval_prompts) questions.push_back(p.question);
  Json gen = Json::object(), samples = Json::object();
  for (const char* m : {"base", "distilled"}) {
    samples[m] = Json::array();
    gen[m] = generation_check(opt.out + "/" + m, *tok, questions, opt.max_new_tokens, lex, samples[m]).json(lex);
  }
  // The same word rates in the distillation traces, for comparison.
  std::vector<int64_t> trace_counts(lex.categories.size(), 0);
  int64_t trace_tokens = 0;
  for (size_t i = 0; i < texts.distill_eval.size(); ++i) {
    const auto cnt = lex.count(texts.distill_eval[i].response);
    for (size_t k = 0; k < cnt.size(); ++k) trace_counts[k] += cnt[k];
    trace_tokens += int64_t(tok->encode(texts.distill_eval[i].response, false).size());
  }
  Json trace_rates = Json::object();
  for (size_t k = 0; k < lex.categories.size(); ++k) trace_rates[lex.categories[k]] = 1000.0 * double(trace_counts[k]) / double(std::max<int64_t>(1, trace_tokens));

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  const Json build = {
      {"seed", opt.seed}, {"wall_seconds", wall},
      {"shape", {{"vocab", c.vocab_size}, {"d_model", c.hidden_size}, {"layers", c.num_hidden_layers}, {"heads", c.num_attention_heads},
                 {"kv_heads", c.num_key_value_heads}, {"d_mlp", c.intermediate_size}, {"params", base.numel()}}},
      {"data", {{"base_train_docs", texts.base_train.size()}, {"base_eval_docs", texts.base_eval.size()},
                {"distill_train_chats", texts.distill_train.size()}, {"distill_eval_chats", texts.distill_eval.size()},
                {"real_traces", texts.real_traces}, {"synthetic_traces", texts.synthetic_traces},
                {"base_train_tokens", base_train.tokens.size()}, {"distill_train_tokens", dist_train.tokens.size()},
                {"tokenizer_merges", bpe.merges}}},
      {"training", {{"base", {{"steps", opt.base_steps}, {"lr", opt.base_lr}, {"tokens_per_s", rb.tokens_per_s}, {"gflops", rb.gflops},
                              {"log", rb.log}}},
                    {"distilled", {{"steps", opt.distill_steps}, {"lr", opt.distill_lr}, {"tokens_per_s", rd.tokens_per_s},
                                   {"gflops", rd.gflops}, {"log", rd.log}}}}},
      {"heldout_loss", losses}, {"generation", gen}, {"trace_word_rates_per_1000_tokens", trace_rates}, {"samples", samples}};
  write_file_atomic(opt.out + "/build.json", build.dump(2));

  write_organism_build_md(opt.out);
  return opt.out + "/build.json";
}

}  // namespace cc

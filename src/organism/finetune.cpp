#include "organism/finetune.hpp"

#include <cmath>
#include <filesystem>
#include <random>

#include "core/atomic_file.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "organism/lm_trainer.hpp"
#include "organism/organism_data.hpp"
#include "organism/train_model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

// ||a − b|| / ||b|| over all parameters.
double relative_change(const TrainParams& a, const TrainParams& b) {
  double num = 0, den = 0;
  for (size_t t = 0; t < a.t.size(); ++t)
    for (size_t i = 0; i < a.t[t].size(); ++i) {
      const double d = double(a.t[t][i]) - double(b.t[t][i]);
      num += d * d;
      den += double(b.t[t][i]) * double(b.t[t][i]);
    }
  return std::sqrt(num / std::max(den, 1e-30));
}

// A file's documents: its blank-line separated blocks (text_blocks), and a block longer than
// max_chars (a file without blank lines) cut at line ends, so that every file can be split into
// training and held-out documents.
std::vector<std::string> documents(const std::string& path, size_t max_chars) {
  std::vector<std::string> out;
  for (std::string& b : text_blocks(path, max_chars)) {
    if (b.size() <= max_chars) {
      out.push_back(std::move(b));
      continue;
    }
    std::string cur;
    size_t at = 0;
    while (at < b.size()) {
      size_t e = b.find('\n', at);
      e = e == std::string::npos ? b.size() : e + 1;
      if (!cur.empty() && cur.size() + (e - at) > max_chars) out.push_back(std::move(cur)), cur.clear();
      cur.append(b, at, e - at);
      at = e;
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  return out;
}

}  // namespace

std::string finetune_model(const FinetuneOptions& opt) {
  if (opt.texts.empty()) fail("", "organism finetune", "has no text file", "at least one --text");
  if (opt.steps < 1) fail("", "organism finetune --steps", "must be at least 1", "", std::to_string(opt.steps));
  auto tok = Tokenizer::load(opt.model + "/tokenizer.json");
  const int32_t eot = tok->token_to_id("<|endoftext|>");
  if (eot < 0) fail(opt.model + "/tokenizer.json", "<|endoftext|>", "is not a token (the document separator)");
  std::vector<std::string> docs, train_docs, eval_docs;
  for (const std::string& f : opt.texts)
    for (std::string& b : documents(f, 1500)) docs.push_back(std::move(b));
  std::mt19937_64 rng(opt.seed);
  std::shuffle(docs.begin(), docs.end(), rng);
  const size_t ne = std::max<size_t>(1, size_t(double(docs.size()) * opt.eval_fraction));
  if (docs.size() < ne + 1) fail(opt.texts[0], "text", "has too few blocks to hold some out", ">= 2 blocks", std::to_string(docs.size()));
  eval_docs.assign(docs.begin(), docs.begin() + long(ne));
  train_docs.assign(docs.begin() + long(ne), docs.end());
  const TokenStream train = tokenize_documents(*tok, train_docs, eot), eval = tokenize_documents(*tok, eval_docs, eot);

  TrainParams p = load_train_params(opt.model);
  const TrainParams source = p;
  const double loss_before = evaluate_lm(p, eval, opt.seq_len, 64);
  make_dirs(opt.out);
  const LmTrainResult r = train_lm(p, train, eval,
                                   stage_train_options(opt.steps, opt.lr, opt.seq_len, opt.batch, opt.seed, opt.out + "/.state", "finetune", opt.progress));
  save_train_params(opt.out, p, DType::BF16);
  round_to_bf16(p);  // what the checkpoint holds
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(fs::path(opt.model) / f)) write_file_atomic((fs::path(opt.out) / f).string(), read_file((fs::path(opt.model) / f).string()));
  Json texts = Json::array();
  for (const std::string& f : opt.texts) texts.push_back(fs::path(f).filename().string());
  const Json j = {{"source", fs::path(opt.model).filename().string()},
                  {"texts", texts},
                  {"documents", {{"train", train_docs.size()}, {"held_out", eval_docs.size()}}},
                  {"train_tokens", train.tokens.size()},
                  {"budget", {{"steps", opt.steps}, {"seq_len", opt.seq_len}, {"batch", opt.batch}, {"lr", opt.lr}, {"seed", opt.seed}}},
                  {"heldout_loss", {{"before", loss_before}, {"after", evaluate_lm(p, eval, opt.seq_len, 64)}}},
                  {"relative_weight_change", relative_change(p, source)},
                  {"tokens_per_s", r.tokens_per_s},
                  {"log", r.log}};
  const std::string path = opt.out + "/finetune.json";
  write_file_atomic(path, j.dump(2) + "\n");
  return path;
}

}  // namespace cc

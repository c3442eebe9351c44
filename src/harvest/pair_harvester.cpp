// Model-pair checks and the lock-step forward.
#include "harvest/pair_harvester.hpp"

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/error.hpp"
#include "core/finite.hpp"
#include "dist/bytes.hpp"
#include "model/hooks.hpp"

namespace cc {

namespace fs = std::filesystem;

Json HarvestConfig::to_json() const {
  Json c = Json::array();
  for (const auto& s : corpora) c.push_back(s.text());
  return {{"base", base_dir}, {"distilled", distilled_dir}, {"tokenizer", tokenizer}, {"hook", hook},
          {"corpora", c}, {"seq_len", pack.seq_len}, {"start_id", pack.start_id}, {"sep_id", pack.sep_id},
          {"seed", pack.seed}, {"eval_fraction", pack.eval_fraction}, {"held_out_list", pack.held_out_list}, {"batch_seqs", batch_seqs}, {"compute", mode == ComputeMode::F32 ? "f32" : "bf16"}};
}

ActivationBatch select_rows(const ActivationBatch& b, int split, int64_t max_rows, std::vector<int64_t>* index) {
  ActivationBatch out;
  out.d = b.d;
  if (index) index->clear();
  auto keep = [&](int64_t r) { return split < 0 || b.split[size_t(r)] == split; };
  for (int64_t r = 0; r < b.rows && out.rows < max_rows;) {
    if (!keep(r)) {
      ++r;
      continue;
    }
    int64_t e = r;
    while (e < b.rows && keep(e) && out.rows + (e - r) < max_rows) ++e;
    out.append(b, r, e - r);
    if (index)
      for (int64_t i = r; i < e; ++i) index->push_back(i);
    r = e;
  }
  return out;
}

void keep_split_rows(ActivationBatch& b, int split) {
  const int64_t row = 2 * b.d;
  int64_t n = 0;
  for (int64_t r = 0; r < b.rows; ++r) {
    if (b.split[size_t(r)] != split) continue;
    if (n != r) {
      std::copy_n(b.acts.begin() + r * row, row, b.acts.begin() + n * row);
      b.tokens[size_t(n)] = b.tokens[size_t(r)];
      b.doc[size_t(n)] = b.doc[size_t(r)];
      b.pos[size_t(n)] = b.pos[size_t(r)];
      b.corpus[size_t(n)] = b.corpus[size_t(r)];
      b.split[size_t(n)] = b.split[size_t(r)];
    }
    ++n;
  }
  b.rows = n;
  b.acts.resize(size_t(n * row));
  for (auto* v : {&b.tokens, &b.doc, &b.pos}) v->resize(size_t(n));
  b.corpus.resize(size_t(n));
  b.split.resize(size_t(n));
}

void ActivationBatch::append(const ActivationBatch& o, int64_t begin, int64_t n) {
  acts.insert(acts.end(), o.acts.begin() + begin * 2 * o.d, o.acts.begin() + (begin + n) * 2 * o.d);
  append_columns(o, begin, n);
}

void ActivationBatch::append_columns(const ActivationBatch& o, int64_t begin, int64_t n) {
  d = o.d;
  tokens.insert(tokens.end(), o.tokens.begin() + begin, o.tokens.begin() + begin + n);
  doc.insert(doc.end(), o.doc.begin() + begin, o.doc.begin() + begin + n);
  pos.insert(pos.end(), o.pos.begin() + begin, o.pos.begin() + begin + n);
  corpus.insert(corpus.end(), o.corpus.begin() + begin, o.corpus.begin() + begin + n);
  if (o.split.empty()) split.insert(split.end(), size_t(n), uint8_t(0));  // a batch built without splits
  else split.insert(split.end(), o.split.begin() + begin, o.split.begin() + begin + n);
  rows += n;
}

void ActivationBatch::reserve(int64_t n, int64_t d_model) {
  acts.reserve(size_t(n * 2 * d_model));
  for (auto* v : {&tokens, &doc, &pos}) v->reserve(size_t(n));
  corpus.reserve(size_t(n));
  split.reserve(size_t(n));
}

void ActivationBatch::clear() {
  rows = 0;
  acts.clear();
  for (auto* v : {&tokens, &doc, &pos}) v->clear();
  corpus.clear();
  split.clear();
}

std::string ActivationBatch::to_bytes() const {
  dist::ByteWriter w;
  w.put(rows);
  w.put(d);
  w.put_raw(acts);
  for (const auto* v : {&tokens, &doc, &pos}) w.put_raw(*v);
  w.put_raw(corpus);
  w.put_raw(split);
  return std::move(w.bytes());
}

ActivationBatch ActivationBatch::from_bytes(const std::string& in) {
  ActivationBatch b;
  dist::ByteReader r(in);
  b.rows = r.take<int64_t>();
  b.d = r.take<int64_t>();
  const size_t n = size_t(b.rows);
  b.acts = r.take_raw<float>(n * 2 * size_t(b.d));
  for (auto* v : {&b.tokens, &b.doc, &b.pos}) *v = r.take_raw<int32_t>(n);
  b.corpus = r.take_raw<uint8_t>(n);
  b.split = r.take_raw<uint8_t>(n);
  return b;
}

namespace {
// Refuses a pair whose vocabularies disagree on an ordinary token; warns on special-token
// differences (Qwen2.5 vs R1-Distill differ exactly there, PAPER.md §1).
void compare_tokenizers(const Tokenizer& a, const std::string& b_dir, std::vector<std::string>& warnings) {
  const std::string bp = (fs::path(b_dir) / "tokenizer.json").string();
  if (!fs::exists(bp)) return;
  auto b = Tokenizer::load(bp);
  const size_t n = std::max(a.vocab_size(), b->vocab_size());
  std::string specials;
  int n_special = 0;
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = int32_t(i);
    const std::string ta = a.id_to_token(id), tb = b->id_to_token(id);
    if (ta == tb) continue;
    const bool special = a.is_special(id) || b->is_special(id) || a.added().find_id(id) || b->added().find_id(id);
    if (!special)
      fail(bp, "token " + std::to_string(id), "differs between the two models' vocabularies",
           "'" + ta + "' (base)", "'" + tb + "'", "the crosscoder needs both models to read identical ids");
    if (++n_special <= 12) specials += " " + std::to_string(id) + ":'" + ta + "'/'" + tb + "'";
  }
  if (n_special)
    warnings.push_back(std::to_string(n_special) + " special-token ids mean different things to the two tokenizers (base/distilled):" +
                       specials + (n_special > 12 ? " ..." : "") + "; both models are fed the same ids, and special positions are dropped");
}
}  // namespace

PairHarvester::PairHarvester(const HarvestConfig& cfg) : cfg_(cfg) {
  if (cfg_.batch_seqs < 1) fail("", "--batch-seqs", "must be >= 1");
  // Cheap checks first: configs, tokenizer, corpora; the weights last.
  const Qwen2Config ca = load_qwen2_config(cfg_.base_dir), cb = load_qwen2_config(cfg_.distilled_dir);
  if (ca.hidden_size != cb.hidden_size)
    fail(cfg_.distilled_dir + "/config.json", "hidden_size", "differs from the base model's; a crosscoder pairs equal widths",
         std::to_string(ca.hidden_size), std::to_string(cb.hidden_size));
  const int64_t layers = std::min(ca.num_hidden_layers, cb.num_hidden_layers);
  if (cfg_.hook.empty()) cfg_.hook = "blocks." + std::to_string(layers / 2) + ".hook_resid_pre";
  site_ = parse_hook_site(cfg_.hook, layers);
  d_ = ca.hidden_size;
  if (cfg_.tokenizer.empty()) cfg_.tokenizer = cfg_.base_dir;
  tok_ = Tokenizer::load(cfg_.tokenizer);
  // Resolved here so the manifest and the resume check record the ids actually used.
  if (cfg_.pack.start_id < 0) cfg_.pack.start_id = document_boundary_id(*tok_);
  if (cfg_.pack.sep_id < 0) cfg_.pack.sep_id = document_boundary_id(*tok_);
  const int64_t tv = int64_t(tok_->vocab_size());
  for (const Qwen2Config* c : {&ca, &cb})
    if (c->vocab_size < tv)
      fail(c->source, "vocab_size", "is smaller than the tokenizer's vocabulary", ">= " + std::to_string(tv), std::to_string(c->vocab_size));
  compare_tokenizers(*tok_, cfg_.distilled_dir, warnings_);
  for (const auto& s : cfg_.corpora) corpora_.push_back(std::make_unique<Corpus>(s));
  packer_ = std::make_unique<Packer>(corpora_, *tok_, cfg_.pack);
  a_ = Qwen2Model::load(cfg_.base_dir, cfg_.mode);
  b_ = Qwen2Model::load(cfg_.distilled_dir, cfg_.mode);
}

std::string PairHarvester::hook_name() const { return hook_site_name(site_, a_->config().num_hidden_layers); }

std::vector<PackedSequence> PairHarvester::take() {
  std::vector<PackedSequence> seqs;
  for (int i = 0; i < cfg_.batch_seqs; ++i) seqs.push_back(packer_->next());
  return seqs;
}

ActivationBatch PairHarvester::run(const std::vector<PackedSequence>& seqs) {
  std::vector<SeqInput> in;
  for (const auto& s : seqs) in.push_back({s.tokens, nullptr});
  const int64_t T = int64_t(seqs.size()) * cfg_.pack.seq_len;
  // A model that overflows (BF16 weights, an odd prompt) must not put NaN into a store that
  // training reads days later: stop here naming the model, the hook and the token.
  auto check = [&](const std::vector<float>& x, const std::string& dir) {
    const size_t i = find_non_finite(x.data(), x.size());
    if (i == kAllFinite) return;
    const int64_t row = int64_t(i) / d_, dim = int64_t(i) % d_;
    const PackedSequence& s = seqs[size_t(row / cfg_.pack.seq_len)];
    const size_t p = size_t(row % cfg_.pack.seq_len);
    fail(dir, "residual stream at " + hook_name(),
         "holds " + non_finite_name(DType::F32, x.data(), i) + " at dimension " + std::to_string(dim) + " of token " +
             std::to_string(s.tokens[p]) + " (position " + std::to_string(s.pos[p]) + " of document " +
             std::to_string(s.doc[p]) + " in corpus " + std::to_string(int(s.corpus[p])) + ")",
         "finite activations", non_finite_name(DType::F32, x.data(), i),
         "the model overflows on this input; --dtype f32 computes in full precision");
  };
  a_->stream_at(in, site_, xa_);
  check(xa_, cfg_.base_dir);
  b_->stream_at(in, site_, xb_);
  check(xb_, cfg_.distilled_dir);
  ActivationBatch out;
  out.d = d_;
  out.reserve(T, d_);
  int64_t r = 0;
  for (const auto& s : seqs)
    for (size_t p = 0; p < s.tokens.size(); ++p, ++r) {
      if (!s.keep[p]) continue;
      out.acts.insert(out.acts.end(), xa_.begin() + r * d_, xa_.begin() + (r + 1) * d_);
      out.acts.insert(out.acts.end(), xb_.begin() + r * d_, xb_.begin() + (r + 1) * d_);
      out.tokens.push_back(s.tokens[p]);
      out.doc.push_back(s.doc[p]);
      out.pos.push_back(s.pos[p]);
      out.corpus.push_back(s.corpus[p]);
      out.split.push_back(s.split[p]);
      ++out.rows;
    }
  return out;
}

}  // namespace cc

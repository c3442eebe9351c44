// Token-share mixing: the next chunk comes from the corpus furthest below its share of the tokens
// taken so far, so shares hold to within one chunk (seq_len - 1 tokens) whatever the document lengths.
#include "data/packer.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/strings.hpp"

namespace cc {

namespace fs = std::filesystem;

int32_t document_boundary_id(const Tokenizer& tok) {
  for (const char* t : {"<|endoftext|>", "<｜end▁of▁sentence｜>"})
    if (const int32_t id = tok.token_to_id(t); id >= 0) return id;
  if (!tok.prefix_ids().empty()) return tok.prefix_ids().front();
  fail(tok.origin(), "<|endoftext|>", "is not in the vocabulary (nor R1's end-of-sentence token) and the tokenizer adds no BOS, so there is no document boundary token",
       "", "", "pass --start-token and --sep-token");
}

uint8_t document_split(std::string_view text, double eval_fraction) {
  const double u = double(fnv1a64(text) >> 11) * 0x1p-53;  // uniform in [0, 1)
  return u < eval_fraction ? 1 : 0;
}

namespace {
// The same file, however it was named (symlinks, "..", relative); never throws.
std::string canonical_path(const fs::path& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? fs::absolute(p).lexically_normal().string() : c.string();
}
}  // namespace

std::map<std::string, std::set<uint32_t>> load_held_out_list(const std::string& path) {
  const Json j = read_json_file(path);
  if (!j.is_object() || !j.contains("held_out") || !j["held_out"].is_object())
    fail(path, "held_out", "is missing or not an object", "{\"held_out\": {\"FILE\": [line, ...]}}");
  const fs::path base = fs::absolute(path).parent_path();
  std::map<std::string, std::set<uint32_t>> out;
  for (const auto& [file, lines] : j["held_out"].items()) {
    if (!lines.is_array()) fail(path, "held_out." + file, "is not an array of line numbers");
    std::set<uint32_t>& s = out[canonical_path(base / file)];
    for (const Json& l : lines) {
      if (!l.is_number_unsigned() || l.get<uint64_t>() < 1 || l.get<uint64_t>() > UINT32_MAX)
        fail(path, "held_out." + file, "holds something other than a 1-based line number", "", l.dump());
      s.insert(l.get<uint32_t>());
    }
  }
  return out;
}

std::pair<std::vector<int32_t>, uint8_t> Packer::load(size_t c, uint64_t cursor) const {
  const size_t i = doc_index(c, cursor);
  const std::string text = corpora_[c]->document(i);
  const std::set<uint32_t>* listed = listed_[c][corpora_[c]->file_index(i)];
  const uint8_t split = listed ? uint8_t(listed->count(corpora_[c]->line(i))) : document_split(text, opt_.eval_fraction);
  return {tok_.encode(text, /*add_special_tokens=*/false), split};
}

// Points each corpus file at its held-out lines; every listed line must start a document of a
// corpus, so a stale or mistyped list is an error rather than a silent hash split.
void Packer::attach_held_out_list() {
  listed_.assign(corpora_.size(), {});
  for (size_t c = 0; c < corpora_.size(); ++c)
    for (const std::string& f : corpora_[c]->files()) {
      const auto it = held_out_.find(canonical_path(f));
      listed_[c].push_back(it == held_out_.end() ? nullptr : &it->second);
    }
  if (held_out_.empty()) return;
  std::map<const std::set<uint32_t>*, std::set<uint32_t>> found;
  for (size_t c = 0; c < corpora_.size(); ++c)
    for (size_t i = 0; i < corpora_[c]->size(); ++i)
      if (const auto* l = listed_[c][corpora_[c]->file_index(i)]; l && l->count(corpora_[c]->line(i))) found[l].insert(corpora_[c]->line(i));
  for (const auto& [file, lines] : held_out_) {
    const size_t n = found.count(&lines) ? found[&lines].size() : 0;
    if (n == 0) fail(opt_.held_out_list, file, "names no document of this run's corpora", "a data file of a --corpus");
    if (n != lines.size())
      fail(opt_.held_out_list, file, "lists lines on which no document starts", std::to_string(lines.size()) + " document lines",
           std::to_string(n) + " found");
  }
}

Packer::Packer(const std::vector<std::unique_ptr<Corpus>>& corpora, const Tokenizer& tok, PackOptions opt)
    : corpora_(corpora), tok_(tok), opt_(opt) {
  if (opt_.start_id < 0) opt_.start_id = document_boundary_id(tok_);
  if (opt_.sep_id < 0) opt_.sep_id = document_boundary_id(tok_);
  if (corpora_.empty()) fail("", "--corpus", "is missing: give at least one corpus");
  if (corpora_.size() > 255) fail("", "--corpus", "is given too often", "<= 255 corpora", std::to_string(corpora_.size()));
  if (opt_.seq_len < 2) fail("", "--seq-len", "must be at least 2", ">= 2", std::to_string(opt_.seq_len));
  if (!(opt_.eval_fraction >= 0 && opt_.eval_fraction < 1))
    fail("", "--eval-fraction", "must lie in [0, 1)", "e.g. 0.1", std::to_string(opt_.eval_fraction));
  const int64_t V = int64_t(tok_.vocab_size());
  for (int32_t id : {opt_.start_id, opt_.sep_id})
    if (id < 0 || id >= V) fail(tok_.origin(), "start/separator token", "is outside the vocabulary", "< " + std::to_string(V), std::to_string(id));
  double total = 0;
  for (const auto& c : corpora_) total += c->spec().weight;
  for (const auto& c : corpora_) share_.push_back(c->spec().weight / total);
  taken_.assign(corpora_.size(), 0);
  cursor_.assign(corpora_.size(), 0);
  perm_.resize(corpora_.size());
  perm_epoch_.assign(corpora_.size(), UINT64_MAX);
  aside_.resize(corpora_.size());
  cur_cursor_.assign(corpora_.size(), 0);
  drop_ = {opt_.start_id, opt_.sep_id};
  for (const auto& a : tok_.added().tokens())
    if (a.special) drop_.insert(a.id);
  if (!opt_.held_out_list.empty()) held_out_ = load_held_out_list(opt_.held_out_list);
  attach_held_out_list();
}

size_t Packer::doc_index(size_t c, uint64_t cursor) const {
  const size_t n = corpora_[c]->size();
  const uint64_t epoch = cursor / n;
  if (perm_epoch_[c] != epoch) {
    perm_[c].resize(n);
    std::iota(perm_[c].begin(), perm_[c].end(), 0u);
    std::mt19937_64 rng(opt_.seed * 1000003ull + c * 7919ull + epoch);
    std::shuffle(perm_[c].begin(), perm_[c].end(), rng);
    perm_epoch_[c] = epoch;
  }
  return perm_[c][cursor % n];
}

size_t Packer::neediest_corpus() const {
  const int64_t total = std::accumulate(taken_.begin(), taken_.end(), int64_t(0));
  size_t best = 0;
  double best_deficit = -1e300;
  for (size_t c = 0; c < corpora_.size(); ++c) {
    const double deficit = share_[c] * double(total + 1) - double(taken_[c]);
    if (deficit > best_deficit) {
      best_deficit = deficit;
      best = c;
    }
  }
  return best;
}

void Packer::start_document(size_t c) {
  SetAside& a = aside_[c];
  if (a.has) {
    cur_ = std::move(a.tokens);
    cur_off_ = a.off;
    cur_split_ = a.split;
    cur_cursor_[c] = a.cursor;
    a = SetAside{};
  } else {
    for (size_t tries = 0;; ++tries) {
      cur_cursor_[c] = cursor_[c];
      std::tie(cur_, cur_split_) = load(c, cursor_[c]++);
      if (!cur_.empty() && (opt_.only_split < 0 || cur_split_ == opt_.only_split)) break;
      if (tries > corpora_[c]->size())
        fail(corpora_[c]->spec().path, "", opt_.only_split < 0 ? "has no document that encodes to any token"
                                                               : "has no non-empty document on the asked side of the train/eval split",
             "", "", opt_.only_split == 1 ? "raise --eval-fraction, or give a larger corpus" : "");
    }
    cur_off_ = 0;
  }
  cur_corpus_ = int(c);
  ++doc_counter_;
}

PackedSequence Packer::next() {
  PackedSequence s;
  const size_t L = size_t(opt_.seq_len);
  s.tokens.reserve(L);
  auto push = [&](int32_t t, int32_t doc, int32_t pos, bool keep) {
    s.tokens.push_back(t);
    s.doc.push_back(doc);
    s.pos.push_back(pos);
    s.corpus.push_back(uint8_t(std::max(cur_corpus_, 0)));
    s.keep.push_back(keep && !drop_.count(t));
    s.split.push_back(cur_split_);
  };
  push(opt_.start_id, int32_t(std::max<int64_t>(doc_counter_, 0)), -1, false);
  const size_t chunk = L - 1;
  while (s.tokens.size() < L) {
    if (cur_corpus_ < 0 || cur_off_ >= cur_.size()) {
      if (cur_corpus_ >= 0) need_sep_ = true;
      start_document(neediest_corpus());
    } else if (cur_off_ % chunk == 0) {
      // A chunk boundary inside a document: continue it only if its corpus is still the neediest.
      const size_t best = neediest_corpus();
      if (best != size_t(cur_corpus_)) {
        aside_[size_t(cur_corpus_)] = {true, cur_cursor_[size_t(cur_corpus_)], cur_off_, std::move(cur_), cur_split_};
        need_sep_ = true;
        start_document(best);
      }
    }
    if (need_sep_) {
      need_sep_ = false;
      if (s.tokens.size() > 1) {  // right after the start token no separator is needed
        push(opt_.sep_id, int32_t(doc_counter_), -1, false);
        continue;
      }
    }
    push(cur_[cur_off_], int32_t(doc_counter_), int32_t(cur_off_), true);
    ++cur_off_;
    ++taken_[size_t(cur_corpus_)];
  }
  return s;
}

Json Packer::state() const {
  Json aside = Json::array();
  for (const SetAside& a : aside_) aside.push_back(a.has ? Json({{"cursor", a.cursor}, {"off", a.off}}) : Json(nullptr));
  return {{"taken", taken_}, {"cursor", cursor_}, {"doc_counter", doc_counter_}, {"cur_corpus", cur_corpus_},
          {"cur_off", cur_off_}, {"need_sep", need_sep_}, {"cur_cursor", cur_cursor_}, {"aside", aside}};
}

void Packer::restore(const Json& s) {
  const std::string where = "manifest.json packer_state";
  try {
    auto taken = s.at("taken").get<std::vector<int64_t>>();
    auto cursor = s.at("cursor").get<std::vector<uint64_t>>();
    if (taken.size() != corpora_.size() || cursor.size() != corpora_.size())
      fail(where, "corpora", "do not match the ones given", std::to_string(corpora_.size()), std::to_string(taken.size()));
    taken_ = taken;
    cursor_ = cursor;
    doc_counter_ = s.at("doc_counter").get<int64_t>();
    cur_corpus_ = s.at("cur_corpus").get<int>();
    cur_off_ = s.at("cur_off").get<size_t>();
    need_sep_ = s.at("need_sep").get<bool>();
    // Written by versions that set documents aside (absent before: nothing was set aside and the
    // document in progress was the corpus's last loaded one).
    cur_cursor_.assign(corpora_.size(), 0);
    aside_.assign(corpora_.size(), SetAside{});
    if (s.contains("cur_cursor")) cur_cursor_ = s.at("cur_cursor").get<std::vector<uint64_t>>();
    else if (cur_corpus_ >= 0 && size_t(cur_corpus_) < cursor_.size() && cursor_[size_t(cur_corpus_)] > 0)
      cur_cursor_[size_t(cur_corpus_)] = cursor_[size_t(cur_corpus_)] - 1;
    if (cur_cursor_.size() != corpora_.size()) fail(where, "cur_cursor", "does not match the corpora");
    if (s.contains("aside")) {
      const Json& a = s.at("aside");
      if (!a.is_array() || a.size() != corpora_.size()) fail(where, "aside", "does not match the corpora");
      for (size_t c = 0; c < a.size(); ++c)
        if (!a[c].is_null()) aside_[c] = {true, a[c].at("cursor").get<uint64_t>(), a[c].at("off").get<size_t>(), {}};
    }
  } catch (const Json::exception& e) {
    fail(where, "", std::string("is malformed: ") + e.what());
  }
  // Re-tokenise the document in progress and the set-aside ones.
  auto reload = [&](size_t c, uint64_t cursor, size_t off, const char* what) {
    if (cursor >= cursor_[c]) fail(where, what, "names a document not yet loaded (corpus changed?)");
    auto t = load(c, cursor);
    if (off > t.first.size()) fail(where, what, "is beyond the document (corpus changed?)");
    return t;
  };
  cur_.clear();
  if (cur_corpus_ >= 0) {
    const size_t c = size_t(cur_corpus_);
    if (c >= corpora_.size()) fail(where, "cur_corpus", "is out of range");
    std::tie(cur_, cur_split_) = reload(c, cur_cursor_[c], cur_off_, "cur_off");
  }
  for (size_t c = 0; c < corpora_.size(); ++c)
    if (aside_[c].has) std::tie(aside_[c].tokens, aside_[c].split) = reload(c, aside_[c].cursor, aside_[c].off, "aside");
}

}  // namespace cc

// BPE training with incremental pair counts: each merge only revisits the words that contain the
// merged pair, and a max-heap with lazy invalidation finds the next most frequent pair.
#include "organism/bpe_trainer.hpp"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/regex_split.hpp"
#include "tokenizer/utf8.hpp"

namespace cc {

namespace {

// Qwen2's pre-tokenizer pattern (Oniguruma syntax, as tokenizer.json stores it).
const char* kQwenPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Cand {
  int64_t count;
  uint64_t pair;
  bool operator<(const Cand& o) const { return count != o.count ? count < o.count : pair > o.pair; }  // max count, then smaller pair
};

Json byte_level_step() { return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}; }

}  // namespace

const std::vector<std::string>& organism_special_tokens() {
  static const std::vector<std::string> s = {"<|endoftext|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>",
                                             "<｜Assistant｜>", "<think>", "</think>"};
  return s;
}

namespace {

// Pre-tokenised words (NFC, the Qwen split) as byte symbols, with their counts, sorted by bytes for
// determinism (unordered_map order is not).
struct WordCounts {
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
};

WordCounts count_words(const std::vector<std::string>& texts) {
  RegexSplitter splitter(kQwenPattern, false, SplitBehavior::Isolated, false, "the Qwen pre-tokenizer pattern");
  std::unordered_map<std::string, int64_t> word_count;
  std::vector<Span> spans;
  for (const std::string& raw : texts) {
    const std::string t = unicode_normalize(utf8_lossy(raw), NormalForm::NFC);
    spans.clear();
    splitter.split(t, spans);
    for (const Span& s : spans) ++word_count[t.substr(s.begin, s.end - s.begin)];
  }
  std::vector<std::pair<std::string, int64_t>> wc(word_count.begin(), word_count.end());
  std::sort(wc.begin(), wc.end());
  WordCounts out;
  for (auto& [w, c] : wc) {
    std::vector<int32_t> sym;
    for (unsigned char ch : w) sym.push_back(int32_t(ch));
    out.words.push_back(std::move(sym));
    out.counts.push_back(c);
  }
  return out;
}

// Replaces every (a, b) in s by id, left to right.
std::vector<int32_t> merge_pair(const std::vector<int32_t>& s, int32_t a, int32_t b, int32_t id) {
  std::vector<int32_t> n;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
      n.push_back(id);
      ++i;
    } else {
      n.push_back(s[i]);
    }
  }
  return n;
}

struct Merges {
  std::vector<std::string> vocab;                    // token strings (byte-level), byte symbols first
  std::vector<std::pair<int32_t, int32_t>> merges;   // in learning order
};

// The BPE loop: the most frequent adjacent pair (ties by pair key, through the heap order) becomes a
// new symbol until the vocabulary is full; pair counts are updated only in the words that held it.
Merges learn_merges(WordCounts& wc, const BpeTrainOptions& opt) {
  std::vector<std::vector<int32_t>>& words = wc.words;
  Merges r;
  for (int b = 0; b < 256; ++b) r.vocab.push_back(byte_to_char(uint8_t(b)));
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  for (size_t w = 0; w < words.size(); ++w)
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = key(words[w][i], words[w][i + 1]);
      pair_count[k] += wc.counts[w];
      where[k].push_back(int32_t(w));
    }
  std::priority_queue<Cand> heap;
  for (auto& [k, c] : pair_count) heap.push({c, k});
  std::vector<int64_t> seen(words.size(), -1);
  while (int64_t(r.vocab.size()) < opt.vocab_size && !heap.empty()) {
    const Cand top = heap.top();
    heap.pop();
    auto it = pair_count.find(top.pair);
    if (it == pair_count.end() || it->second != top.count) continue;  // stale entry
    if (top.count < opt.min_frequency) break;
    const int32_t a = int32_t(top.pair >> 32), b = int32_t(uint32_t(top.pair)), id = int32_t(r.vocab.size());
    r.vocab.push_back(r.vocab[size_t(a)] + r.vocab[size_t(b)]);
    r.merges.push_back({a, b});
    std::unordered_set<uint64_t> touched;
    std::vector<int32_t> list = std::move(where[top.pair]);
    where.erase(top.pair);
    for (int32_t w : list) {
      if (seen[size_t(w)] == id) continue;  // listed twice
      seen[size_t(w)] = id;
      std::vector<int32_t>& s = words[size_t(w)];
      const int64_t c = wc.counts[size_t(w)];
      bool has = false;
      for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == a && s[i + 1] == b;
      if (!has) continue;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = key(s[i], s[i + 1]);
        pair_count[k] -= c;
        touched.insert(k);
      }
      s = merge_pair(s, a, b, id);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = key(s[i], s[i + 1]);
        pair_count[k] += c;
        touched.insert(k);
        if (s[i] == id || s[i + 1] == id) where[k].push_back(w);
      }
    }
    pair_count.erase(top.pair);
    touched.erase(top.pair);
    for (uint64_t k : touched) {
      auto pc = pair_count.find(k);
      if (pc == pair_count.end()) continue;
      if (pc->second <= 0) {
        pair_count.erase(pc);
        continue;
      }
      heap.push({pc->second, k});
    }
  }
  return r;
}

// tokenizer.json in HF tokenizers' format: the Qwen pre-tokenizer, byte-level BPE, R1-Distill's
// special tokens after the learned vocabulary and a BOS post-processor.
Json tokenizer_json(const Merges& bpe) {
  Json v = Json::object();
  for (size_t i = 0; i < bpe.vocab.size(); ++i) v[bpe.vocab[i]] = int64_t(i);
  if (int64_t(v.size()) != int64_t(bpe.vocab.size())) fail("", "BPE vocabulary", "has a duplicate token (internal error)");
  Json m = Json::array();
  for (auto [a, b] : bpe.merges) m.push_back({bpe.vocab[size_t(a)], bpe.vocab[size_t(b)]});
  Json added = Json::array();
  int64_t id = int64_t(bpe.vocab.size());
  int64_t bos = -1;
  for (const std::string& s : organism_special_tokens()) {
    if (s == "<｜begin▁of▁sentence｜>") bos = id;
    added.push_back({{"id", id++}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                     {"special", s != "<think>" && s != "</think>"}});
  }
  const std::string bos_s = "<｜begin▁of▁sentence｜>";
  Json special_tokens = Json::object();
  special_tokens[bos_s] = {{"id", bos_s}, {"ids", {bos}}, {"tokens", {bos_s}}};
  return {
      {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", kQwenPattern}}}, {"behavior", "Isolated"}, {"invert", false}}, byte_level_step()}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", bos_s}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"SpecialToken", {{"id", bos_s}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", bos_s}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", special_tokens}}},
      {"decoder", byte_level_step()},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""},
        {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", v}, {"merges", m}}}};
}

Json tokenizer_config_json() {
  return {{"add_bos_token", true}, {"add_eos_token", false}, {"bos_token", "<｜begin▁of▁sentence｜>"},
          {"eos_token", "<｜end▁of▁sentence｜>"}, {"pad_token", "<｜end▁of▁sentence｜>"}, {"model_max_length", 4096},
          {"tokenizer_class", "LlamaTokenizerFast"}, {"clean_up_tokenization_spaces", false},
          {"chat_template",
           "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
           "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>{% endif %}{% endfor %}"
           "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"}};
}

}  // namespace

BpeTrainResult train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& opt) {
  if (opt.vocab_size < 256) fail("", "vocab_size", "must be at least the 256 byte symbols", ">= 256", std::to_string(opt.vocab_size));
  if (texts.empty()) fail("", "BPE training corpus", "is empty");
  WordCounts wc = count_words(texts);
  const Merges bpe = learn_merges(wc, opt);
  BpeTrainResult r;
  r.merges = int64_t(bpe.merges.size());
  r.words = int64_t(wc.words.size());
  r.bpe_vocab = int64_t(bpe.vocab.size());
  r.tokenizer = tokenizer_json(bpe);
  r.tokenizer_config = tokenizer_config_json();
  return r;
}

}  // namespace cc

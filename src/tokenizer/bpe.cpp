// BPE merge loop with a binary heap over candidate pairs (O(n log n) per piece, so a 100k-character
// piece of whitespace costs milliseconds, not minutes).
#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <atomic>
#include <queue>

#include "core/error.hpp"
#include "tokenizer/byte_level.hpp"

namespace cc {

namespace {
std::atomic<uint64_t> next_instance{1};
constexpr size_t kCacheCapacity = 1 << 16;  // pieces per thread; cleared when full
constexpr size_t kCacheMaxPiece = 256;      // longer pieces are not cached
}  // namespace

BpeModel::BpeModel(TokenizerJson& tj, const std::string& origin) : instance_(next_instance++) {
  const Json& m = tj.rest.value("model", Json());
  if (!m.is_object()) fail(origin, "model", "is missing or not an object");
  const std::string type = m.value("type", std::string("BPE"));
  if (type != "BPE") fail(origin, "model.type", "is not supported", "\"BPE\"", "\"" + type + "\"");
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0)
    fail(origin, "model.dropout", "is not supported (encoding must be deterministic)", "null", m["dropout"].dump());
  if (m.value("byte_fallback", false)) fail(origin, "model.byte_fallback", "is not supported (byte-level BPE only)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(k) && m[k].is_string() && !m[k].get<std::string>().empty())
      fail(origin, std::string("model.") + k, "is not supported", "\"\" or null", m[k].dump());
  ignore_merges_ = m.value("ignore_merges", false);
  if (!tj.has_vocab) fail(origin, "model.vocab", "is missing or not an object");
  if (!tj.has_merges) fail(origin, "model.merges", "is missing or not an array");

  int64_t max_id = -1;
  for (const auto& [tok, id] : tj.vocab) max_id = std::max(max_id, id);
  id_to_token_.resize(size_t(max_id + 1));
  std::vector<char> used(id_to_token_.size(), 0);
  for (auto& [tok, id] : tj.vocab) {
    if (used[size_t(id)])
      fail(origin, "model.vocab", "gives id " + std::to_string(id) + " to two tokens", "unique ids",
           "'" + id_to_token_[size_t(id)] + "' and '" + tok + "'");
    used[size_t(id)] = 1;
    id_to_token_[size_t(id)] = std::move(tok);
  }
  vocab_.reserve(tj.vocab.size());
  for (size_t id = 0; id < id_to_token_.size(); ++id)
    if (used[id] && !vocab_.emplace(id_to_token_[id], int32_t(id)).second)
      fail(origin, "model.vocab", "lists token '" + id_to_token_[id] + "' twice");
  tj.vocab = {};
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(byte_to_char(uint8_t(b)));
    if (it == vocab_.end())
      fail(origin, "model.vocab", "lacks the byte-level token for byte " + std::to_string(b), "", "",
           "only byte-level BPE vocabularies are supported");
    byte_id_[size_t(b)] = it->second;
  }
  merges_.reserve(tj.merges.size());
  std::string ab;
  int32_t rank = 0;
  for (const auto& [a, b] : tj.merges) {
    ab.assign(a);
    ab += b;
    auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(ab);
    if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
      fail(origin, "model.merges[" + std::to_string(rank) + "]", "names a token not in the vocabulary", "",
           "[\"" + a + "\",\"" + b + "\"]",
           "unknown '" + (ia == vocab_.end() ? a : ib == vocab_.end() ? b : ab) + "'");
    const uint64_t key = (uint64_t(uint32_t(ia->second)) << 32) | uint32_t(ib->second);
    merges_.insert_or_assign(key, Merge{rank, iab->second});  // a repeated pair keeps its last rank, as HF's map does
    ++rank;
  }
  tj.merges = {};
}

int32_t BpeModel::token_to_id(const std::string& t) const {
  auto it = vocab_.find(t);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string& BpeModel::id_to_token(int32_t id) const {
  static const std::string empty;
  return (id >= 0 && size_t(id) < id_to_token_.size()) ? id_to_token_[size_t(id)] : empty;
}

const BpeModel::Merge* BpeModel::find_merge(int32_t a, int32_t b) const {
  auto it = merges_.find((uint64_t(uint32_t(a)) << 32) | uint32_t(b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::merge_word(std::vector<int32_t>& syms) const {
  const int n = int(syms.size());
  if (n < 2) return;
  struct Cand {
    int32_t rank, pos, id;
    bool operator<(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }  // min-heap
  };
  thread_local std::vector<int> prev, next;
  thread_local std::vector<char> alive;
  prev.resize(size_t(n));
  next.resize(size_t(n));
  alive.assign(size_t(n), 1);
  for (int i = 0; i < n; ++i) {
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Cand> heap;
  for (int i = 0; i + 1 < n; ++i)
    if (const Merge* m = find_merge(syms[size_t(i)], syms[size_t(i) + 1])) heap.push({m->rank, i, m->id});
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int j = next[size_t(c.pos)];
    if (!alive[size_t(c.pos)] || j < 0) continue;
    const Merge* m = find_merge(syms[size_t(c.pos)], syms[size_t(j)]);
    if (!m || m->id != c.id || m->rank != c.rank) continue;  // stale: a neighbour changed
    syms[size_t(c.pos)] = c.id;
    alive[size_t(j)] = 0;
    next[size_t(c.pos)] = next[size_t(j)];
    if (next[size_t(j)] >= 0) prev[size_t(next[size_t(j)])] = c.pos;
    if (const int p = prev[size_t(c.pos)]; p >= 0)
      if (const Merge* pm = find_merge(syms[size_t(p)], syms[size_t(c.pos)])) heap.push({pm->rank, p, pm->id});
    if (const int q = next[size_t(c.pos)]; q >= 0)
      if (const Merge* qm = find_merge(syms[size_t(c.pos)], syms[size_t(q)])) heap.push({qm->rank, c.pos, qm->id});
  }
  int w = 0;
  for (int i = 0; i >= 0 && i < n; i = next[size_t(i)]) syms[size_t(w++)] = syms[size_t(i)];
  syms.resize(size_t(w));
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  struct Cache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::vector<int32_t>> map;
  };
  thread_local Cache cache;
  const bool cacheable = bytes.size() <= kCacheMaxPiece;
  if (cacheable) {
    if (cache.owner != instance_) {
      cache.map.clear();
      cache.owner = instance_;
    }
    auto it = cache.map.find(std::string(bytes));
    if (it != cache.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> syms;
  if (ignore_merges_) {
    auto it = vocab_.find(bytes_to_byte_level(bytes));
    if (it != vocab_.end()) syms.push_back(it->second);
  }
  if (syms.empty()) {
    syms.reserve(bytes.size());
    for (unsigned char c : bytes) syms.push_back(byte_id_[c]);
    merge_word(syms);
  }
  out.insert(out.end(), syms.begin(), syms.end());
  if (cacheable) {
    if (cache.map.size() >= kCacheCapacity) cache.map.clear();
    cache.map.emplace(std::string(bytes), std::move(syms));
  }
}

}  // namespace cc

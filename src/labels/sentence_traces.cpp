#include "labels/sentence_traces.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/progress.hpp"
#include "crosscoder/step.hpp"
#include "model/hooks.hpp"
#include "model/qwen2.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace {

struct Sentence {
  int64_t chunk = 0;
  std::string text;
  std::vector<std::string> tags;
};

// trace_id → its sentences, and the traces in order of first appearance.
struct RawTraces {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Sentence>> by_id;
};

RawTraces read_sentences(const std::string& path) {
  RawTraces r;
  for_each_jsonl(path, [&](const Json& j, size_t line) {
    const std::string at = path + ":" + std::to_string(line);
    if (!j.is_object() || !j.contains("trace_id") || !j.contains("sentence") || !j.contains("chunk_idx") ||
        !j["trace_id"].is_string() || !j["sentence"].is_string() || !j["chunk_idx"].is_number_integer())
      fail(at, "", "needs {\"trace_id\": string, \"chunk_idx\": integer, \"sentence\": string, \"function_tags\": [string]}");
    Sentence s{j["chunk_idx"].get<int64_t>(), j["sentence"].get<std::string>(), {}};
    if (j.contains("function_tags")) {
      if (!j["function_tags"].is_array()) fail(at, "function_tags", "must be a list of strings");
      for (const auto& t : j["function_tags"]) {
        if (!t.is_string()) fail(at, "function_tags", "must be a list of strings");
        s.tags.push_back(t.get<std::string>());
      }
    }
    const auto id = j["trace_id"].get<std::string>();
    if (!r.by_id.count(id)) r.order.push_back(id);
    r.by_id[id].push_back(std::move(s));
  });
  if (r.order.empty()) fail(path, "", "holds no sentences");
  return r;
}

std::vector<std::string> tag_names_of(const RawTraces& r, const std::string& path) {
  std::set<std::string> names;
  for (const auto& [id, ss] : r.by_id)
    for (const auto& s : ss) names.insert(s.tags.begin(), s.tags.end());
  if (names.empty() || names.size() > 8)
    fail(path, "function_tags", "must name 1 to 8 distinct tags", "1..8", std::to_string(names.size()));
  return {names.begin(), names.end()};
}

// Appends a trace's tokens to windows of at most seq_len tokens, each opened by the start token.
void append_to_windows(TaggedTraces& t, const std::vector<int32_t>& ids, const std::vector<int32_t>& sent, int64_t seq_len,
                       int32_t start_id) {
  for (size_t i = 0; i < ids.size(); i += size_t(seq_len - 1)) {
    const size_t n = std::min(ids.size() - i, size_t(seq_len - 1));
    std::vector<int32_t> w{start_id}, ws{-1};
    w.insert(w.end(), ids.begin() + long(i), ids.begin() + long(i + n));
    ws.insert(ws.end(), sent.begin() + long(i), sent.begin() + long(i + n));
    t.windows.push_back(std::move(w));
    t.sentence.push_back(std::move(ws));
  }
}

}  // namespace

TaggedTraces load_tagged_traces(const std::string& path, const Tokenizer& tok, int64_t seq_len, int32_t start_id, int64_t max_traces) {
  if (seq_len < 2) fail("", "seq_len", "must be at least 2", ">= 2", std::to_string(seq_len));
  RawTraces raw = read_sentences(path);
  TaggedTraces t;
  t.sentences.tag_names = tag_names_of(raw, path);
  const auto& names = t.sentences.tag_names;
  for (const auto& id : raw.order) {
    if (max_traces > 0 && int64_t(t.trace_ids.size()) >= max_traces) break;
    auto& ss = raw.by_id[id];
    std::stable_sort(ss.begin(), ss.end(), [](const Sentence& a, const Sentence& b) { return a.chunk < b.chunk; });
    std::vector<int32_t> ids, sent;
    for (size_t k = 0; k < ss.size(); ++k) {
      const auto piece = tok.encode(k == 0 ? ss[k].text : " " + ss[k].text, false);
      const int32_t s = int32_t(t.sentences.size());
      uint8_t mask = 0;
      for (const auto& tag : ss[k].tags) mask |= uint8_t(1u << (std::find(names.begin(), names.end(), tag) - names.begin()));
      t.sentences.tags.push_back(mask);
      t.sentences.trace.push_back(int32_t(t.trace_ids.size()));
      t.sentences.tokens.push_back(int32_t(piece.size()));
      ids.insert(ids.end(), piece.begin(), piece.end());
      sent.insert(sent.end(), piece.size(), s);
    }
    t.trace_ids.push_back(id);
    append_to_windows(t, ids, sent, seq_len, start_id);
  }
  return t;
}

// Windows [w0, w1)'s streams at the hook in both models, in one forward each: x [T, 2d] over their
// tokens in order (row t: model A's d values, then B's).
static std::vector<float> pair_stream(Qwen2Model& a, Qwen2Model& b, const TaggedTraces& t, size_t w0, size_t w1, int site) {
  const int64_t d = a.config().hidden_size;
  std::vector<SeqInput> batch;
  for (size_t w = w0; w < w1; ++w) batch.push_back({t.windows[w], nullptr});
  std::vector<float> xa, xb;
  a.stream_at(batch, site, xa);
  b.stream_at(batch, site, xb);
  const int64_t T = int64_t(xa.size()) / d;
  std::vector<float> x(size_t(T * 2 * d));
  crosscoder_pair_rows(xa.data(), xb.data(), T, d, x.data());
  return x;
}

std::vector<FeatureMass> sentence_feature_mass(const TaggedTraces& t, const CrosscoderParams& p, const CrosscoderConfig& c,
                                               const AttributionOptions& opt) {
  auto a = Qwen2Model::load(opt.base, opt.mode), b = Qwen2Model::load(opt.distilled, opt.mode);
  const int64_t n_layers = a->config().num_hidden_layers;
  if (a->config().hidden_size != p.d || b->config().hidden_size != p.d)
    fail(opt.base, "hidden_size", "does not match the crosscoder's width", std::to_string(p.d), std::to_string(a->config().hidden_size));
  if (c.hook.empty()) fail("", "crosscoder hook", "is not recorded in the checkpoint's config.json", "e.g. blocks.14.hook_resid_pre", "none");
  const int site = parse_hook_site(c.hook, n_layers);
  std::vector<std::unordered_map<int32_t, double>> per_feature(size_t(p.F));  // feature → sentence → mass
  int64_t total = 0;
  for (const auto& w : t.windows) total += int64_t(w.size());
  Progress bar("attribute", total, "tok", opt.progress);
  std::vector<float> f;
  for (size_t w0 = 0; w0 < t.windows.size(); w0 += size_t(opt.batch_windows)) {
    const size_t w1 = std::min(t.windows.size(), w0 + size_t(opt.batch_windows));
    std::vector<float> x = pair_stream(*a, *b, t, w0, w1, site);
    const int64_t T = int64_t(x.size()) / (2 * p.d);
    crosscoder_scale_inputs(c, x.data(), T);
    crosscoder_encode(p, c, x.data(), T, f);
    int64_t r = 0;
    for (size_t w = w0; w < w1; ++w)
      for (const int32_t s : t.sentence[w]) {
        const float* fr = f.data() + r++ * p.F;
        if (s < 0) continue;
        for (int64_t j = 0; j < p.F; ++j)
          if (fr[j] > 0) per_feature[size_t(j)][s] += fr[j];
      }
    bar.add(T);
  }
  std::vector<FeatureMass> out(size_t(p.F));
  for (int64_t j = 0; j < p.F; ++j) {
    std::vector<std::pair<int32_t, double>> v(per_feature[size_t(j)].begin(), per_feature[size_t(j)].end());
    std::sort(v.begin(), v.end());
    for (const auto& [s2, m] : v) {
      out[size_t(j)].sentence.push_back(s2);
      out[size_t(j)].mass.push_back(float(m));
    }
  }
  return out;
}

}  // namespace cc

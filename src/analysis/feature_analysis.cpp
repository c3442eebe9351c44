// The analysis passes and table writers.
#include "analysis/feature_analysis.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <queue>
#include <random>
#include <sstream>

#include "data/lexicon.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/progress.hpp"
#include "crosscoder/crosscoder.hpp"
#include "crosscoder/evaluate.hpp"
#include "crosscoder/feature_shard.hpp"
#include "crosscoder/step.hpp"
#include "harvest/activation_store.hpp"
#include "labels/label_prompt.hpp"
#include "model/linear.hpp"
#include "model/weights.hpp"
#include "dist/bytes.hpp"
#include "dist/comm.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace {

struct Example {
  float value;
  int64_t row;
  bool operator>(const Example& o) const { return value > o.value || (value == o.value && row < o.row); }
};

// Activation histogram: kHistBins bins of log10(f) from kHistLo to kHistHi (values outside land in
// the end bins), enough for the dashboards' distribution plot at 96 bytes per feature.
constexpr int kHistBins = 24;
constexpr double kHistLo = -3, kHistHi = 3;

struct FeatureAcc {
  int64_t count = 0;
  std::array<uint32_t, kHistBins> hist{};
  double sum = 0, max = 0;
  // Latent Scaling sums with d = the distilled decoder row d_B (PAPER.md "beyond"):
  double sff = 0;            // Σ f²
  double se[2] = {0, 0};     // Σ f · d·(x_m − x̂_m + f d_m)   (error with the feature's own term added back)
  double sr[2] = {0, 0};     // Σ f · d·x̂_m                   (reconstruction)
  std::vector<Example> top;  // min-heap of the top_n
  std::vector<Example> sample;
  int64_t seen_for_sample = 0;
};

double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

std::string csv_escape(const std::string& s) {
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

// Next tokens a feature's decoder direction promotes and suppresses in one model: the direction in
// the model's residual units (d_m / s_m) through the final norm's gain and the unembedding — the
// direct effect, ignoring the norm's data-dependent scale, which does not change the ranking.
// Returns [F] lists; features with a zero direction get empty lists.
std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> logit_lens(const std::string& model_dir, const CrosscoderParams& p,
                                                                              int m, double s_m, int n_tokens) {
  auto w = load_qwen2_weights(model_dir, ComputeMode::BF16);
  if (w->config.hidden_size != p.d)
    fail(model_dir + "/config.json", "hidden_size", "does not match the crosscoder's d_in", std::to_string(p.d), std::to_string(w->config.hidden_size));
  const int64_t d = p.d, V = w->config.vocab_size, blk = 64;
  std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> out(static_cast<size_t>(p.F));
  std::vector<float> dir(size_t(blk * d)), logits(size_t(blk * V));
  std::vector<int32_t> idx(static_cast<size_t>(V));
  for (int64_t f0 = 0; f0 < p.F; f0 += blk) {
    const int64_t nb = std::min(blk, p.F - f0);
    for (int64_t k = 0; k < nb; ++k)
      for (int64_t i = 0; i < d; ++i)
        dir[size_t(k * d + i)] = float(p.W_dec[size_t((f0 + k) * 2 * d + m * d + i)] / s_m) * w->final_norm[size_t(i)];
    linear_forward(logits.data(), V, dir.data(), d, nb, w->lm_head, nullptr);
    for (int64_t k = 0; k < nb; ++k) {
      const float* l = logits.data() + k * V;
      std::iota(idx.begin(), idx.end(), 0);
      auto by = [&](bool desc) {
        std::partial_sort(idx.begin(), idx.begin() + n_tokens, idx.end(), [&](int32_t a, int32_t b) { return desc ? l[a] > l[b] : l[a] < l[b]; });
        return std::vector<int32_t>(idx.begin(), idx.begin() + n_tokens);
      };
      out[size_t(f0 + k)] = {by(true), by(false)};
    }
  }
  return out;
}

}  // namespace

namespace {

// What the phases share: the crosscoder, its decoder norms and the rows analysed. Under mpirun each
// rank holds a slice of the dictionary (`shard`, whole blocks of features) and analyses its features
// over every row: a feature's sums then add its rows in the order one process adds them.
struct Subject {
  FeatureShard shard;
  CrosscoderParams p;        // this rank's features [shard.f0, shard.f1)
  CrosscoderConfig c;
  std::vector<float> norms;  // [F, 2] decoder norms
  int64_t N = 0;             // rows analysed: held-out rows only when the store records a split
  int64_t scan_end = 0;      // store rows [0, scan_end) were read to find them
  bool held_out = false;     // the store has a split (else every row is used, training rows included)
  int64_t d = 0, D2 = 0, F = 0;  // F: this rank's features
};

struct Pass1 {
  std::vector<FeatureAcc> acc;  // [F]
  double ev[2] = {0, 0};        // explained variance per model over the analysed rows
  int64_t rows = 0, scan_end = 0;
};

// The reservoir's draw for a feature's n-th activating row: a hash of (seed, feature, n) (splitmix64's
// finaliser), so a feature's sample is the same whichever rank holds it and whatever else it holds.
uint64_t reservoir_draw(uint64_t seed, int64_t feature, int64_t n) {
  uint64_t z = seed ^ (uint64_t(feature) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(n) * 0xD1B54A32D192ED03ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void keep_example(FeatureAcc& a, const Example& ex, const AnalyzeOptions& opt, uint64_t seed, int64_t feature) {
  if (int(a.top.size()) < opt.top_n) {
    a.top.push_back(ex);
    std::push_heap(a.top.begin(), a.top.end(), std::greater<Example>());
  } else if (ex > a.top.front()) {
    std::pop_heap(a.top.begin(), a.top.end(), std::greater<Example>());
    a.top.back() = ex;
    std::push_heap(a.top.begin(), a.top.end(), std::greater<Example>());
  }
  ++a.seen_for_sample;  // reservoir sample over all activating rows
  if (int(a.sample.size()) < opt.samples) a.sample.push_back(ex);
  else if (const uint64_t k = reservoir_draw(seed, feature, a.seen_for_sample) % uint64_t(a.seen_for_sample); k < uint64_t(opt.samples))
    a.sample[k] = ex;
}

// One active feature j at one scaled row x with reconstruction o: frequency, histogram, the Latent
// Scaling sums (dBdm: d_B · d_m) and the example lists.
void add_activation(FeatureAcc& a, const Subject& s, int64_t j, float v, const float* x, const float* o, const double* dBdm) {
  ++a.count;
  a.hist[size_t(std::clamp(int((std::log10(double(v)) - kHistLo) / (kHistHi - kHistLo) * kHistBins), 0, kHistBins - 1))]++;
  a.sum += v;
  a.max = std::max(a.max, double(v));
  const float* dB = s.p.W_dec.data() + j * s.D2 + s.d;
  a.sff += double(v) * v;
  for (int m = 0; m < 2; ++m) {
    const double dx = dot(dB, x + m * s.d, s.d), dxh = dot(dB, o + m * s.d, s.d);
    a.se[m] += v * (dx - dxh + v * dBdm[m]);
    a.sr[m] += v * dxh;
  }
}

// Pass 1 over the store: encode, decode, accumulate per-feature statistics and the explained variance.
Pass1 accumulate(const Subject& s, const ActivationStore& store, const AnalyzeOptions& opt, Progress& bar) {
  const int64_t d = s.d, D2 = s.D2, F = s.F;
  std::vector<double> dBdm(size_t(F * 2));  // d_B · d_m for each feature
  for (int64_t j = 0; j < F; ++j)
    for (int m = 0; m < 2; ++m) dBdm[size_t(2 * j + m)] = dot(s.p.W_dec.data() + j * D2 + d, s.p.W_dec.data() + j * D2 + m * d, d);
  Pass1 r;
  r.acc.resize(size_t(F));
  FvuSums sums(d);
  std::vector<float> f, xh(size_t(opt.chunk_rows * D2));
  const int64_t limit = opt.max_tokens < 0 ? store.rows() : std::min(opt.max_tokens, store.rows());
  int64_t used = 0, r0 = 0;
  std::vector<int64_t> ids;  // store row of each analysed row of the chunk
  for (; r0 < store.rows() && used < limit; r0 += opt.chunk_rows) {
    const int64_t n_read = std::min(opt.chunk_rows, store.rows() - r0);
    ActivationBatch b = select_rows(store.read(r0, n_read), s.held_out ? 1 : -1, limit - used, &ids);
    for (int64_t& i : ids) i += r0;  // store rows
    const int64_t n = b.rows;
    used += n;
    bar.add(n_read);
    if (n == 0) continue;
    crosscoder_scale_inputs(s.c, b.acts.data(), n);
    crosscoder_encode(s.p, s.c, b.acts.data(), n, f);
    crosscoder_decode(s.p, f.data(), n, xh.data(), s.shard);  // the whole reconstruction, on every rank
    for (int64_t row = 0; row < n; ++row) {
      const float* x = b.acts.data() + row * D2;
      const float* o = xh.data() + row * D2;
      sums.add(x, o, 1);
      const float* fr = f.data() + row * F;
      for (int64_t j = 0; j < F; ++j) {
        if (!(fr[j] > 0)) continue;
        add_activation(r.acc[size_t(j)], s, j, fr[j], x, o, dBdm.data() + 2 * j);
        keep_example(r.acc[size_t(j)], {fr[j], ids[size_t(row)]}, opt, s.c.seed, s.shard.f0 + j);
      }
    }
  }
  r.rows = used;
  r.scan_end = std::min(r0, store.rows());
  // Explained variance per model: 1 − Σ err² / Σ ||x − mean||².
  for (int m = 0; m < 2; ++m) r.ev[m] = sums.variance(m) > 0 ? 1 - sums.fvu(m) : 0;
  return r;
}

struct Window {
  std::vector<int32_t> tokens;
  std::vector<float> acts;
  int center = 0;
};

struct Contexts {
  std::vector<std::vector<Example>> examples;  // [F]: the top examples, then the samples not among them
  std::vector<int> n_top;                      // [F]
  std::vector<std::vector<Window>> windows;    // [F][example]
};

// Pass 2: the context window (±opt.context rows inside the same document) of every example, with
// the feature's activation at each row (the inference encoder, θ included).
Contexts collect_contexts(const Subject& s, const ActivationStore& store, const AnalyzeOptions& opt, std::vector<FeatureAcc>& acc,
                          Progress& bar) {
  struct Need {
    int32_t feature;
    int32_t example;  // index into that feature's example list
    int64_t center;
  };
  Contexts cx;
  cx.examples.resize(size_t(s.F));
  cx.n_top.resize(size_t(s.F));
  cx.windows.resize(size_t(s.F));
  std::map<int64_t, std::vector<Need>> needs;  // row → needs (the window rows of each example)
  for (int64_t j = 0; j < s.F; ++j) {
    auto& a = acc[size_t(j)];
    auto& ex = cx.examples[size_t(j)];
    std::sort(a.top.begin(), a.top.end(), std::greater<Example>());
    ex = a.top;
    cx.n_top[size_t(j)] = int(a.top.size());
    for (const Example& x : a.sample)
      if (std::none_of(a.top.begin(), a.top.end(), [&](const Example& t) { return t.row == x.row; })) ex.push_back(x);
    cx.windows[size_t(j)].resize(ex.size());
    for (size_t e = 0; e < ex.size(); ++e) {
      const int64_t c0 = ex[e].row;
      for (int64_t r = std::max<int64_t>(0, c0 - opt.context); r <= std::min(s.scan_end - 1, c0 + opt.context); ++r)
        needs[r].push_back({int32_t(j), int32_t(e), c0});
    }
  }
  std::map<int64_t, int32_t> center_doc;
  for (auto it = needs.begin(); it != needs.end();) {
    const int64_t r0 = it->first;
    const int64_t n = std::min<int64_t>(opt.chunk_rows, s.scan_end - r0);
    ActivationBatch b = store.read(r0, n);
    for (; it != needs.end() && it->first < r0 + n; ++it) {
      const int64_t r = it->first;
      std::vector<float> xs(b.acts.begin() + (r - r0) * s.D2, b.acts.begin() + (r - r0 + 1) * s.D2);
      crosscoder_scale_inputs(s.c, xs.data(), 1);
      for (const Need& nd : it->second) {
        // The centre's document (a centre may lie in another chunk: read it directly).
        auto cd = center_doc.find(nd.center);
        if (cd == center_doc.end()) cd = center_doc.emplace(nd.center, store.read(nd.center, 1).doc[0]).first;
        if (b.doc[size_t(r - r0)] != cd->second) continue;  // another document: not context
        Window& w = cx.windows[size_t(nd.feature)][size_t(nd.example)];
        if (r == nd.center) w.center = int(w.tokens.size());
        w.tokens.push_back(b.tokens[size_t(r - r0)]);
        w.acts.push_back(crosscoder_encode_one(s.p, s.c, xs.data(), nd.feature, s.norms));
      }
    }
    bar.add(n);
  }
  return cx;
}

using LogitLens = std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>>;

// What the tables need of one feature: its pass-1 sums, its decoder and encoder geometry, its
// examples with their windows and (with the models) its logit lens. Each rank builds its features'
// records; rank 0 receives them all (gather_records) and writes the tables.
struct FeatureRecord {
  FeatureAcc acc;                      // the sums (its example lists are moved to `examples`)
  double na = 0, nb = 0, cos_ab = 0;   // decoder norms per model and the cosine between the two decoders
  double enc = 0;                      // encoder row norm
  std::vector<Example> examples;       // the top examples, then the samples not among them
  int n_top = 0;
  std::vector<Window> windows;         // [example]
  std::vector<int32_t> promotes[2], suppresses[2];  // per model; empty without the models
};

std::vector<FeatureRecord> local_records(const Subject& s, std::vector<FeatureAcc>& acc, Contexts& cx, LogitLens (&lens)[2]) {
  std::vector<FeatureRecord> out(size_t(s.F));
  for (int64_t j = 0; j < s.F; ++j) {
    FeatureRecord& r = out[size_t(j)];
    r.acc = std::move(acc[size_t(j)]);
    r.acc.top.clear();
    r.acc.sample.clear();
    r.na = s.norms[size_t(2 * j)];
    r.nb = s.norms[size_t(2 * j + 1)];
    const float* dec = s.p.W_dec.data() + j * s.D2;
    if (r.na > 0 && r.nb > 0) r.cos_ab = dot(dec, dec + s.d, s.d) / (r.na * r.nb);
    r.enc = std::sqrt(dot(s.p.W_encT.data() + j * s.D2, s.p.W_encT.data() + j * s.D2, s.D2));
    r.examples = std::move(cx.examples[size_t(j)]);
    r.n_top = cx.n_top[size_t(j)];
    r.windows = std::move(cx.windows[size_t(j)]);
    for (int m = 0; m < 2; ++m)
      if (!lens[m].empty()) std::tie(r.promotes[m], r.suppresses[m]) = std::move(lens[m][size_t(j)]);
  }
  return out;
}

std::string to_bytes(const std::vector<FeatureRecord>& records) {
  dist::ByteWriter w;
  w.put(uint64_t(records.size()));
  for (const FeatureRecord& r : records) {
    const FeatureAcc& a = r.acc;
    for (double v : {a.sum, a.max, a.sff, a.se[0], a.se[1], a.sr[0], a.sr[1], r.na, r.nb, r.cos_ab, r.enc}) w.put(v);
    w.put(a.count);
    w.put(a.hist);
    w.put(r.n_top);
    w.put_vector(r.examples);
    for (const Window& win : r.windows) {
      w.put_vector(win.tokens);
      w.put_vector(win.acts);
      w.put(win.center);
    }
    for (int m = 0; m < 2; ++m) {
      w.put_vector(r.promotes[m]);
      w.put_vector(r.suppresses[m]);
    }
  }
  return std::move(w.bytes());
}

void append_from_bytes(const std::string& bytes, std::vector<FeatureRecord>& out) {
  dist::ByteReader rd(bytes);
  for (uint64_t n = rd.take<uint64_t>(); n > 0; --n) {
    FeatureRecord& r = out.emplace_back();
    FeatureAcc& a = r.acc;
    for (double* v : {&a.sum, &a.max, &a.sff, &a.se[0], &a.se[1], &a.sr[0], &a.sr[1], &r.na, &r.nb, &r.cos_ab, &r.enc}) *v = rd.take<double>();
    a.count = rd.take<int64_t>();
    a.hist = rd.take<decltype(a.hist)>();
    r.n_top = rd.take<int>();
    r.examples = rd.take_vector<Example>();
    r.windows.resize(r.examples.size());
    for (Window& win : r.windows) {
      win.tokens = rd.take_vector<int32_t>();
      win.acts = rd.take_vector<float>();
      win.center = rd.take<int>();
    }
    for (int m = 0; m < 2; ++m) {
      r.promotes[m] = rd.take_vector<int32_t>();
      r.suppresses[m] = rd.take_vector<int32_t>();
    }
  }
}

// Every rank's records on rank 0, in feature order (rank slices ascend); the other ranks get none.
std::vector<FeatureRecord> gather_records(std::vector<FeatureRecord> mine) {
  if (dist::size() == 1) return mine;
  const std::vector<std::string> parts = dist::gather(to_bytes(mine));
  std::vector<FeatureRecord> all;
  for (const std::string& part : parts) append_from_bytes(part, all);
  return all;
}

// Optional labels from an LLM (or a person): {"feature": i, "label": "..."} per line, as
// `crosscoder label` writes them with its "category" and "detection" score: the fields merged into
// that feature's row (label, label_category, label_score = the detection's balanced accuracy).
std::map<int64_t, Json> read_labels(const std::string& path, int64_t F) {
  std::map<int64_t, Json> labels;
  if (path.empty()) return labels;
  for_each_jsonl(path, [&](const Json& j, size_t line) {
    const std::string at = path + ":" + std::to_string(line);
    if (!j.is_object() || !j.contains("feature") || !j["feature"].is_number_integer() || !j.contains("label") || !j["label"].is_string())
      fail(at, "", "needs {\"feature\": integer, \"label\": string}");
    const int64_t id = j["feature"].get<int64_t>();
    if (id < 0 || id >= F) fail(at, "feature", "is out of range", "0.." + std::to_string(F - 1), std::to_string(id));
    Json fields = {{"label", j["label"]}};
    if (j.contains("category") && j["category"].is_string()) fields["label_category"] = j["category"];
    if (j.contains("detection") && j["detection"].is_object() && j["detection"].contains("balanced_accuracy"))
      fields["label_score"] = j["detection"]["balanced_accuracy"];
    labels[id] = fields;
  });
  return labels;
}

// A feature's category: the lexicon category that starts the text at the activating token (it and
// the next two) in more than opt.category_majority of its top examples; -1 when none.
std::pair<int, double> category_of(const std::vector<Window>& windows, int n_top, const Lexicon& lex, const Tokenizer* tok,
                                   double majority) {
  if (n_top == 0 || !tok) return {-1, 0.0};
  std::vector<int> votes(lex.categories.size(), 0);
  for (int e = 0; e < n_top; ++e) {
    const Window& w = windows[size_t(e)];
    if (w.tokens.empty()) continue;
    std::vector<int32_t> ahead(w.tokens.begin() + w.center, w.tokens.begin() + std::min<long>(long(w.tokens.size()), w.center + 3));
    if (const int m = lex.match(tok->decode(ahead)); m >= 0) votes[size_t(m)]++;
  }
  const auto best = std::max_element(votes.begin(), votes.end());
  if (best == votes.end()) return {-1, 0.0};
  const double share = double(*best) / double(n_top);
  return share > majority ? std::pair<int, double>{int(best - votes.begin()), share} : std::pair<int, double>{-1, 0.0};
}

// The (up to five) most frequent activating tokens of the top examples, with their shares.
std::vector<std::pair<int32_t, double>> top_tokens_of(const std::vector<Window>& windows, int n_top) {
  std::map<int32_t, int> count;
  for (int e = 0; e < n_top; ++e)
    if (!windows[size_t(e)].tokens.empty()) count[windows[size_t(e)].tokens[size_t(windows[size_t(e)].center)]]++;
  std::vector<std::pair<int, int32_t>> tc;
  for (auto& [t, n] : count) tc.push_back({n, t});
  std::sort(tc.rbegin(), tc.rend());
  std::vector<std::pair<int32_t, double>> out;
  for (size_t k = 0; k < std::min<size_t>(5, tc.size()); ++k) out.push_back({tc[k].second, double(tc[k].first) / double(n_top)});
  return out;
}

// What the per-feature tables yield for the summary and categories.json.
struct TableStats {
  std::vector<int> category;                          // [F] lexicon category index or -1
  std::vector<double> category_share;                 // [F]
  std::vector<int64_t> hist = std::vector<int64_t>(50, 0);  // NRN histogram of alive features
  std::map<std::string, int64_t> class_counts;        // alive features per class
  int64_t dead = 0;
  std::vector<std::pair<double, int64_t>> by_nrn;     // (NRN, feature) of features that have one
  Json largest_changes = Json::array();               // the opt.changes_listed alive features of largest change mass
};

// The feature's class: "changed" (two decoders that both carry weight but point different ways)
// before the NRN classes, which read such a feature by its norms alone.
std::string feature_class(const AnalyzeOptions& opt, std::optional<double> nrn, double na, double nb, double cosab) {
  if (!nrn) return "zero-norm";
  if (std::min(na, nb) >= opt.changed_min_ratio * std::max(na, nb) && cosab < opt.changed_below) return "changed";
  return *nrn < opt.base_only_below ? "base-only" : *nrn > opt.distilled_only_above ? "distilled-only" : "shared";
}

// ||d_B − d_A|| from the two norms and their cosine.
double delta_norm(double na, double nb, double cosab) { return std::sqrt(std::max(0.0, na * na + nb * nb - 2 * na * nb * cosab)); }

// How much change a feature carries over the analysed rows: freq · mean_act · ||d_B − d_A|| =
// (Σ f / N) · ||delta||, the mean norm of what it adds to x̂_B − x̂_A per token. Returns [F] masses
// and the 1-based rank of each alive feature by mass (0 for dead ones).
std::pair<std::vector<double>, std::vector<int64_t>> change_masses(const std::vector<FeatureRecord>& recs, int64_t N) {
  const int64_t F = int64_t(recs.size());
  std::vector<double> mass(size_t(F), 0.0);
  std::vector<int64_t> order;
  for (int64_t j = 0; j < F; ++j) {
    const FeatureRecord& r = recs[size_t(j)];
    mass[size_t(j)] = r.acc.sum / double(std::max<int64_t>(N, 1)) * delta_norm(r.na, r.nb, r.cos_ab);
    if (r.acc.count > 0) order.push_back(j);
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return mass[size_t(a)] > mass[size_t(b)]; });
  std::vector<int64_t> rank(size_t(F), 0);
  for (size_t k = 0; k < order.size(); ++k) rank[size_t(order[k])] = int64_t(k) + 1;
  return {mass, rank};
}

// features.csv, features.jsonl, examples.jsonl and (when asked) the labelling prompts.
TableStats write_feature_tables(const AnalyzeOptions& opt, int64_t N, const std::vector<FeatureRecord>& recs, const Lexicon& lex,
                                const Tokenizer* tok, const std::map<int64_t, Json>& labels) {
  const int64_t F = int64_t(recs.size());
  TableStats t;
  t.category.assign(size_t(F), -1);
  t.category_share.assign(size_t(F), 0.0);
  std::vector<int>& category = t.category;
  std::vector<double>& category_share = t.category_share;
  std::vector<int64_t>& hist = t.hist;
  std::map<std::string, int64_t>& class_counts = t.class_counts;
  int64_t& dead = t.dead;
  std::vector<std::pair<double, int64_t>>& by_nrn = t.by_nrn;
  auto decode1 = [&](int32_t id) { return tok ? tok->decode({id}) : std::to_string(id); };
  std::ostringstream csv, jsonl, prompts;
  // examples.jsonl (23 MB in the demo) goes to its file in 1 MiB pieces: built whole in a stream it
  // faulted in three times its size of fresh pages as the buffer doubled, most of the stage's
  // system time (docs/PERFORMANCE.md).
  AtomicFile examples_file(opt.out + "/examples.jsonl");
  std::string examples_out;
  auto flush_examples = [&](size_t above) {
    if (examples_out.size() <= above) return;
    examples_file.write(examples_out);
    examples_out.clear();
  };
  csv << "feature,norm_a,norm_b,nrn,class,cos_ab,delta_norm,change_mass,change_rank,enc_norm,freq,mean_act,max_act,dead,category,"
         "category_share,top_tokens,ls_beta_eps_a,ls_beta_eps_b,ls_beta_r_a,ls_beta_r_b,ls_nu_eps,ls_nu_r,label\n";
  const auto [change_mass, change_rank] = change_masses(recs, N);
  std::map<int64_t, Json> listed;  // change rank → its row of summary.json's largest_changes
  for (int64_t j = 0; j < F; ++j) {
    const FeatureRecord& rec = recs[size_t(j)];
    const FeatureAcc& a = rec.acc;
    const std::vector<Window>& windows = rec.windows;
    const std::vector<Example>& examples = rec.examples;
    const int n_top = rec.n_top;
    const double na = rec.na, nb = rec.nb;
    const std::optional<double> nrn_opt = decoder_nrn(na, nb);
    const double nrn = nrn_opt.value_or(0.0);  // only read where nrn_opt is set
    const Json nrn_json = nrn_opt ? Json(nrn) : Json(nullptr);
    const double cosab = rec.cos_ab, dnorm = delta_norm(na, nb, cosab);
    const std::string cls = feature_class(opt, nrn_opt, na, nb, cosab);
    const int64_t rank = change_rank[size_t(j)];
    const double enc = rec.enc;
    const bool is_dead = a.count == 0;
    dead += is_dead;
    if (!is_dead) {
      if (nrn_opt) hist[size_t(std::min(49, int(nrn * 50)))]++;
      class_counts[cls]++;
    }
    if (nrn_opt) by_nrn.push_back({nrn, j});
    std::tie(category[size_t(j)], category_share[size_t(j)]) = category_of(windows, n_top, lex, tok, opt.category_majority);
    Json top_tokens = Json::array();
    std::string top_str;
    for (const auto& [t, share] : top_tokens_of(windows, n_top)) {
      top_str += (top_tokens.empty() ? "" : " | ") + decode1(t);
      top_tokens.push_back({{"token", t}, {"text", decode1(t)}, {"share", share}});
    }
    // Latent Scaling: β = Σ f d·y / (||d||² Σ f²); ν = β_A / β_B.
    const double denom = nb * nb * a.sff;
    const double be[2] = {denom > 0 ? a.se[0] / denom : 0, denom > 0 ? a.se[1] / denom : 0};
    const double br[2] = {denom > 0 ? a.sr[0] / denom : 0, denom > 0 ? a.sr[1] / denom : 0};
    const Json nu_e = be[1] != 0 ? Json(be[0] / be[1]) : Json(nullptr), nu_r = br[1] != 0 ? Json(br[0] / br[1]) : Json(nullptr);
    const std::string cat = category[size_t(j)] >= 0 ? lex.categories[size_t(category[size_t(j)])] : "";
    const std::string label = labels.count(j) ? labels.at(j)["label"].get<std::string>() : "";
    const Json rank_json = rank > 0 ? Json(rank) : Json(nullptr);
    Json row = {{"feature", j}, {"norm_a", na}, {"norm_b", nb}, {"nrn", nrn_json}, {"class", cls}, {"cos_ab", cosab},
                {"delta_norm", dnorm}, {"change_mass", change_mass[size_t(j)]}, {"change_rank", rank_json}, {"enc_norm", enc}, {"freq", double(a.count) / double(std::max<int64_t>(N, 1))},
                {"mean_act", a.count ? a.sum / double(a.count) : 0.0}, {"max_act", a.max}, {"dead", is_dead},
                {"category", cat}, {"category_share", category_share[size_t(j)]}, {"top_tokens", top_tokens},
                {"ls_beta_eps", {be[0], be[1]}}, {"ls_beta_r", {br[0], br[1]}}, {"ls_nu_eps", nu_e}, {"ls_nu_r", nu_r},
                {"act_hist", a.hist}};
    if (labels.count(j)) row.update(labels.at(j));
    for (int m = 0; m < 2; ++m) {
      if ((m == 0 ? opt.base_model : opt.distilled_model).empty()) continue;  // no logit lens
      Json pro = Json::array(), sup = Json::array();
      for (int32_t t : rec.promotes[m]) pro.push_back(decode1(t));
      for (int32_t t : rec.suppresses[m]) sup.push_back(decode1(t));
      row[m == 0 ? "promotes_a" : "promotes_b"] = pro;
      row[m == 0 ? "suppresses_a" : "suppresses_b"] = sup;
    }
    jsonl << row.dump() << "\n";
    csv << j << "," << na << "," << nb << ",";
    if (nrn_opt) csv << nrn;  // empty for a zero-norm feature
    if (rank > 0 && rank <= opt.changes_listed)
      listed[rank] = {{"feature", j}, {"rank", rank}, {"change_mass", change_mass[size_t(j)]}, {"delta_norm", dnorm}, {"cos_ab", cosab},
                      {"nrn", nrn_json}, {"class", cls}, {"freq", row["freq"]}, {"mean_act", row["mean_act"]}, {"top_tokens", top_str}};
    csv << "," << cls << "," << cosab << "," << dnorm << "," << change_mass[size_t(j)] << ",";
    if (rank > 0) csv << rank;
    csv << "," << enc << "," << row["freq"].get<double>()
        << "," << row["mean_act"].get<double>() << "," << a.max << "," << (is_dead ? 1 : 0) << "," << cat << ","
        << category_share[size_t(j)] << "," << csv_escape(top_str) << "," << be[0] << "," << be[1] << "," << br[0] << ","
        << br[1] << "," << nu_e.dump() << "," << nu_r.dump() << "," << csv_escape(label) << "\n";
    if (!opt.export_prompts.empty() && !is_dead) {
      std::vector<std::string> ctx;
      for (size_t e = 0; e < examples.size() && e < 10; ++e) {
        std::vector<std::string> texts;
        for (int32_t t : windows[e].tokens) texts.push_back(decode1(t));
        ctx.push_back(marked_context(texts, windows[e].center));
      }
      prompts << Json({{"feature", j}, {"nrn", nrn_json}, {"class", cls}, {"prompt", labelling_prompt(j, ctx)}}).dump() << "\n";
    }
    for (size_t e = 0; e < examples.size(); ++e) {
      const Window& w = windows[e];
      Json texts = Json::array();
      for (int32_t t : w.tokens) texts.push_back(decode1(t));
      examples_out += Json({{"feature", j}, {"kind", int(e) < n_top ? "top" : "sample"}, {"rank", e}, {"value", examples[e].value},
                            {"row", examples[e].row}, {"center", w.center}, {"tokens", w.tokens}, {"texts", texts}, {"acts", w.acts}})
                          .dump();
      examples_out += '\n';
    }
    flush_examples(size_t(1) << 20);
  }
  if (!opt.export_prompts.empty()) write_file_atomic(opt.export_prompts, prompts.str());
  flush_examples(0);
  examples_file.commit();
  write_file_atomic(opt.out + "/features.csv", csv.str());
  write_file_atomic(opt.out + "/features.jsonl", jsonl.str());
  for (auto& [rank, row] : listed) t.largest_changes.push_back(row);
  return t;
}

// categories.json: the paper's table (100 highest and lowest NRN among alive features) and the
// features of each category, by share.
void write_categories(const AnalyzeOptions& opt, const std::vector<FeatureRecord>& recs, const Lexicon& lex, const TableStats& t) {
  const int64_t F = int64_t(recs.size());
  const std::vector<int>& category = t.category;
  const std::vector<double>& category_share = t.category_share;
  std::vector<std::pair<double, int64_t>> alive;
  for (auto& [nrn, j] : t.by_nrn)
    if (recs[size_t(j)].acc.count > 0) alive.push_back({nrn, j});
  std::sort(alive.begin(), alive.end());
  Json cats = Json::object();
  for (size_t k = 0; k < lex.categories.size(); ++k) {
    std::vector<std::pair<double, int64_t>> members;
    for (int64_t j = 0; j < F; ++j)
      if (category[size_t(j)] == int(k)) members.push_back({category_share[size_t(j)], j});
    std::sort(members.rbegin(), members.rend());
    Json ids = Json::array();
    for (auto& [sh, j] : members) ids.push_back(j);
    cats[lex.categories[k]] = ids;
  }
  Json hi = Json::array(), lo = Json::array();
  for (size_t k = 0; k < std::min<size_t>(100, alive.size()); ++k) {
    lo.push_back(alive[k].second);
    hi.push_back(alive[alive.size() - 1 - k].second);
  }
  write_file_atomic(opt.out + "/categories.json",
                    Json({{"categories", cats}, {"highest_nrn", hi}, {"lowest_nrn", lo}, {"majority", opt.category_majority}}).dump(2));
}

}  // namespace

void analyze_crosscoder(const AnalyzeOptions& opt) {
  Subject s;
  const std::string cpath = opt.crosscoder + "/config.json";
  s.shard = FeatureShard::of_this_rank(CrosscoderConfig::from_json(read_json_file(cpath), cpath).dict_size);
  load_crosscoder(opt.crosscoder, s.p, s.c, s.shard.f0, s.shard.f1);
  const CrosscoderParams& p = s.p;
  const CrosscoderConfig& c = s.c;
  ActivationStore store(opt.acts);
  const std::string mpath = opt.acts + "/manifest.json";
  if (store.d_model() != c.d_in)
    fail(mpath, "d_model", "does not match the crosscoder's d_in", std::to_string(c.d_in), std::to_string(store.d_model()));
  const std::string store_hook = store.text("hook");
  if (!c.hook.empty() && !store_hook.empty() && c.hook != store_hook)
    fail(mpath, "hook", "differs from the crosscoder's", c.hook, store_hook, "analyse on a store harvested at the same hook");
  const std::string tok_path = opt.tokenizer.empty() ? store.path("tokenizer") : opt.tokenizer;
  std::unique_ptr<Tokenizer> tok;
  if (!tok_path.empty()) tok = Tokenizer::load(tok_path);
  const Lexicon lex = load_lexicon(opt.lexicon);
  const std::map<int64_t, Json> labels = read_labels(opt.labels, c.dict_size);
  if (dist::root()) make_dirs(opt.out);  // only rank 0 writes

  s.d = c.d_in;
  s.D2 = 2 * s.d;
  s.F = s.shard.size();
  s.held_out = store.has_split();
  decoder_norms(p, s.norms);

  Progress bar("analyze", 2 * store.rows(), "tok", opt.progress && dist::root());
  Pass1 pass1 = accumulate(s, store, opt, bar);
  s.N = pass1.rows;
  s.scan_end = pass1.scan_end;
  const int64_t N = s.N;
  if (N == 0) fail(opt.acts, "held-out rows", "none among the rows scanned", "> 0", "0", "harvest with --eval-fraction > 0, or raise --tokens");
  bar.set(store.rows());
  Contexts cx = collect_contexts(s, store, opt, pass1.acc, bar);
  bar.set(2 * store.rows());
  bar.finish();

  // Optional next-token effects per model.
  LogitLens lens[2];
  for (int m = 0; m < 2; ++m) {
    const std::string& dir = m == 0 ? opt.base_model : opt.distilled_model;
    if (!dir.empty()) lens[m] = logit_lens(dir, p, m, c.norm_factors[size_t(m)], opt.logit_tokens);
  }
  const std::vector<FeatureRecord> recs = gather_records(local_records(s, pass1.acc, cx, lens));
  if (!dist::root()) return;

  const TableStats t = write_feature_tables(opt, N, recs, lex, tok.get(), labels);
  write_categories(opt, recs, lex, t);
  Json summary = {{"crosscoder", opt.crosscoder}, {"acts", opt.acts}, {"tokens", N}, {"held_out", s.held_out},
                  {"rows_scanned", s.scan_end}, {"features", c.dict_size}, {"dead", t.dead},
                  {"class_counts", t.class_counts}, {"nrn_histogram", {{"bins", 50}, {"counts", t.hist}}},
                  {"thresholds", {{"base_only_below", opt.base_only_below}, {"distilled_only_above", opt.distilled_only_above},
                                  {"changed_below", opt.changed_below}, {"changed_min_ratio", opt.changed_min_ratio}}},
                  {"largest_changes", t.largest_changes},
                  {"explained_variance", {pass1.ev[0], pass1.ev[1]}}, {"hook", c.hook}, {"architecture", arch_name(c.architecture)},
                  {"act_hist_log10", {{"lo", kHistLo}, {"hi", kHistHi}, {"bins", kHistBins}}}};
  write_file_atomic(opt.out + "/summary.json", summary.dump(2));
}

}  // namespace cc

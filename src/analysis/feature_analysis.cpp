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
#include "core/progress.hpp"
#include "crosscoder/crosscoder.hpp"
#include "crosscoder/step.hpp"
#include "harvest/activation_store.hpp"
#include "model/linear.hpp"
#include "model/weights.hpp"
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

void analyze_crosscoder(const AnalyzeOptions& opt) {
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(opt.crosscoder, p, c);
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
  make_dirs(opt.out);

  const int64_t d = c.d_in, D2 = 2 * d, F = c.dict_size;
  const int64_t N = opt.max_tokens < 0 ? store.rows() : std::min(opt.max_tokens, store.rows());
  std::vector<float> norms;
  decoder_norms(p, norms);
  std::vector<double> dBdm(size_t(F * 2));  // d_B · d_m for each feature
  for (int64_t j = 0; j < F; ++j)
    for (int m = 0; m < 2; ++m) dBdm[size_t(2 * j + m)] = dot(p.W_dec.data() + j * D2 + d, p.W_dec.data() + j * D2 + m * d, d);
  std::vector<FeatureAcc> acc(static_cast<size_t>(F));
  std::mt19937_64 rng(c.seed);
  double err[2] = {0, 0}, sq[2] = {0, 0};
  std::vector<double> mean(static_cast<size_t>(D2), 0.0);

  // Pass 1.
  Progress bar("analyze", 2 * N, "tok", opt.progress);
  std::vector<float> f, xh(size_t(opt.chunk_rows * D2));
  for (int64_t r0 = 0; r0 < N; r0 += opt.chunk_rows) {
    const int64_t n = std::min(opt.chunk_rows, N - r0);
    ActivationBatch b = store.read(r0, n);
    crosscoder_scale_inputs(c, b.acts.data(), n);
    crosscoder_encode(p, c, b.acts.data(), n, f);
    for (int64_t r = 0; r < n; ++r) {
      const float* x = b.acts.data() + r * D2;
      float* o = xh.data() + r * D2;
      std::copy(p.b_dec.begin(), p.b_dec.end(), o);
      const float* fr = f.data() + r * F;
      for (int64_t j = 0; j < F; ++j)
        if (fr[j] > 0)
          for (int64_t q = 0; q < D2; ++q) o[q] += fr[j] * p.W_dec[size_t(j * D2 + q)];
      for (int64_t q = 0; q < D2; ++q) {
        const double e = double(o[q]) - x[q];
        err[q / d] += e * e;
        sq[q / d] += double(x[q]) * x[q];
        mean[size_t(q)] += x[q];
      }
      for (int64_t j = 0; j < F; ++j) {
        const float v = fr[j];
        if (!(v > 0)) continue;
        FeatureAcc& a = acc[size_t(j)];
        ++a.count;
        a.hist[size_t(std::clamp(int((std::log10(double(v)) - kHistLo) / (kHistHi - kHistLo) * kHistBins), 0, kHistBins - 1))]++;
        a.sum += v;
        a.max = std::max(a.max, double(v));
        const float* dB = p.W_dec.data() + j * D2 + d;
        a.sff += double(v) * v;
        for (int m = 0; m < 2; ++m) {
          const double dx = dot(dB, x + m * d, d), dxh = dot(dB, o + m * d, d);
          a.se[m] += v * (dx - dxh + v * dBdm[size_t(2 * j + m)]);
          a.sr[m] += v * dxh;
        }
        const Example ex{v, r0 + r};
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
        else if (const uint64_t k = rng() % uint64_t(a.seen_for_sample); k < uint64_t(opt.samples)) a.sample[k] = ex;
      }
    }
    bar.add(n);
  }
  // Explained variance per model: 1 − Σ err² / Σ ||x − mean||².
  double var[2] = {sq[0], sq[1]};
  for (int64_t q = 0; q < D2; ++q) var[q / d] -= mean[size_t(q)] * mean[size_t(q)] / double(std::max<int64_t>(N, 1));
  const double ev[2] = {var[0] > 0 ? 1 - err[0] / var[0] : 0, var[1] > 0 ? 1 - err[1] / var[1] : 0};

  // Pass 2: context windows. Which rows are needed, and by which (feature, example).
  struct Need {
    int32_t feature;
    int32_t example;  // index into that feature's example list
    int64_t center;
  };
  std::vector<std::vector<Example>> examples(static_cast<size_t>(F));
  std::vector<int> n_top(static_cast<size_t>(F));
  std::map<int64_t, std::vector<Need>> needs;  // row → needs (the window rows of each example)
  for (int64_t j = 0; j < F; ++j) {
    auto& a = acc[size_t(j)];
    std::sort(a.top.begin(), a.top.end(), std::greater<Example>());
    examples[size_t(j)] = a.top;
    n_top[size_t(j)] = int(a.top.size());
    for (const Example& s : a.sample)
      if (std::none_of(a.top.begin(), a.top.end(), [&](const Example& t) { return t.row == s.row; })) examples[size_t(j)].push_back(s);
    for (size_t e = 0; e < examples[size_t(j)].size(); ++e) {
      const int64_t c0 = examples[size_t(j)][e].row;
      for (int64_t r = std::max<int64_t>(0, c0 - opt.context); r <= std::min(N - 1, c0 + opt.context); ++r)
        needs[r].push_back({int32_t(j), int32_t(e), c0});
    }
  }
  struct Window {
    std::vector<int32_t> tokens;
    std::vector<float> acts;
    int center = 0;
  };
  std::vector<std::vector<Window>> windows(static_cast<size_t>(F));
  for (int64_t j = 0; j < F; ++j) windows[size_t(j)].resize(examples[size_t(j)].size());
  std::vector<int32_t> doc_of;  // docs of the chunk, to cut windows at document boundaries
  std::map<int64_t, int32_t> center_doc;
  for (auto it = needs.begin(); it != needs.end();) {
    const int64_t r0 = it->first;
    const int64_t n = std::min<int64_t>(opt.chunk_rows, N - r0);
    ActivationBatch b = store.read(r0, n);
    // Centre rows' documents (a centre may lie in another chunk: read it directly).
    for (; it != needs.end() && it->first < r0 + n; ++it) {
      const int64_t r = it->first;
      const float* x = b.acts.data() + (r - r0) * D2;
      std::vector<float> xs(x, x + D2);
      crosscoder_scale_inputs(c, xs.data(), 1);
      for (const Need& nd : it->second) {
        auto cd = center_doc.find(nd.center);
        if (cd == center_doc.end()) cd = center_doc.emplace(nd.center, store.read(nd.center, 1).doc[0]).first;
        if (b.doc[size_t(r - r0)] != cd->second) continue;  // another document: not context
        const int64_t j = nd.feature;
        const float pre = float(dot(p.W_encT.data() + j * D2, xs.data(), D2)) + p.b_enc[size_t(j)];
        Window& w = windows[size_t(j)][size_t(nd.example)];
        if (r == nd.center) w.center = int(w.tokens.size());
        w.tokens.push_back(b.tokens[size_t(r - r0)]);
        w.acts.push_back(std::max(0.f, pre));
      }
    }
    bar.add(n);
  }
  bar.set(2 * N);
  bar.finish();

  // Optional next-token effects per model.
  std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> lens[2];
  for (int m = 0; m < 2; ++m) {
    const std::string& dir = m == 0 ? opt.base_model : opt.distilled_model;
    if (!dir.empty()) lens[m] = logit_lens(dir, p, m, c.norm_factors[size_t(m)], opt.logit_tokens);
  }
  // Optional labels from an LLM (or a person): {"feature": i, "label": "..."} per line.
  std::map<int64_t, std::string> labels;
  if (!opt.labels.empty()) {
    std::ifstream in(opt.labels);
    if (!in) fail(opt.labels, "", "cannot open");
    std::string line;
    int ln = 0;
    while (std::getline(in, line)) {
      ++ln;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Json j = parse_json(line, opt.labels + ":" + std::to_string(ln));
      if (!j.is_object() || !j.contains("feature") || !j["feature"].is_number_integer() || !j.contains("label") || !j["label"].is_string())
        fail(opt.labels + ":" + std::to_string(ln), "", "needs {\"feature\": integer, \"label\": string}");
      const int64_t id = j["feature"].get<int64_t>();
      if (id < 0 || id >= F) fail(opt.labels + ":" + std::to_string(ln), "feature", "is out of range", "0.." + std::to_string(F - 1), std::to_string(id));
      labels[id] = j["label"].get<std::string>();
    }
  }
  std::ofstream prompts;
  if (!opt.export_prompts.empty()) {
    prompts.open(opt.export_prompts + ".tmp");
    if (!prompts) fail(opt.export_prompts, "", "cannot be written");
  }

  // Per-feature tables.
  auto decode1 = [&](int32_t t) { return tok ? tok->decode({t}) : std::to_string(t); };
  std::vector<int> category(static_cast<size_t>(F), -1);
  std::vector<double> category_share(static_cast<size_t>(F), 0.0);
  std::ofstream ex_out(opt.out + "/examples.jsonl.tmp");
  std::ostringstream csv, jsonl;
  csv << "feature,norm_a,norm_b,nrn,class,cos_ab,enc_norm,freq,mean_act,max_act,dead,category,category_share,top_tokens,"
         "ls_beta_eps_a,ls_beta_eps_b,ls_beta_r_a,ls_beta_r_b,ls_nu_eps,ls_nu_r,label\n";
  std::vector<int64_t> hist(50, 0);
  std::map<std::string, int64_t> class_counts;
  int64_t dead = 0;
  std::vector<std::pair<double, int64_t>> by_nrn;
  for (int64_t j = 0; j < F; ++j) {
    const FeatureAcc& a = acc[size_t(j)];
    const double na = norms[size_t(2 * j)], nb = norms[size_t(2 * j + 1)];
    const std::optional<double> nrn_opt = decoder_nrn(na, nb);
    const double nrn = nrn_opt.value_or(0.0);  // only read where nrn_opt is set
    const Json nrn_json = nrn_opt ? Json(nrn) : Json(nullptr);
    const std::string cls = !nrn_opt ? "zero-norm"
                            : nrn < opt.base_only_below ? "base-only" : nrn > opt.distilled_only_above ? "distilled-only" : "shared";
    const double cosab = na > 0 && nb > 0 ? dot(p.W_dec.data() + j * D2, p.W_dec.data() + j * D2 + d, d) / (na * nb) : 0.0;
    const double enc = std::sqrt(dot(p.W_encT.data() + j * D2, p.W_encT.data() + j * D2, D2));
    const bool is_dead = a.count == 0;
    dead += is_dead;
    if (!is_dead) {
      if (nrn_opt) hist[size_t(std::min(49, int(nrn * 50)))]++;
      class_counts[cls]++;
    }
    if (nrn_opt) by_nrn.push_back({nrn, j});
    // Category: the lexicon match of the text starting at each top example's token.
    std::vector<int> votes(lex.categories.size(), 0);
    std::map<int32_t, int> token_count;
    for (int e = 0; e < n_top[size_t(j)]; ++e) {
      const Window& w = windows[size_t(j)][size_t(e)];
      if (w.tokens.empty()) continue;
      token_count[w.tokens[size_t(w.center)]]++;
      std::vector<int32_t> ahead(w.tokens.begin() + w.center, w.tokens.begin() + std::min<long>(long(w.tokens.size()), w.center + 3));
      const int m = tok ? lex.match(tok->decode(ahead)) : -1;
      if (m >= 0) votes[size_t(m)]++;
    }
    if (n_top[size_t(j)] > 0) {
      const auto best = std::max_element(votes.begin(), votes.end());
      const double share = double(*best) / double(n_top[size_t(j)]);
      if (share > opt.category_majority) {
        category[size_t(j)] = int(best - votes.begin());
        category_share[size_t(j)] = share;
      }
    }
    std::vector<std::pair<int, int32_t>> tc;
    for (auto& [t, n] : token_count) tc.push_back({n, t});
    std::sort(tc.rbegin(), tc.rend());
    Json top_tokens = Json::array();
    std::string top_str;
    for (size_t k = 0; k < std::min<size_t>(5, tc.size()); ++k) {
      const double share = double(tc[k].first) / double(n_top[size_t(j)]);
      top_tokens.push_back({{"token", tc[k].second}, {"text", decode1(tc[k].second)}, {"share", share}});
      top_str += (k ? " | " : "") + decode1(tc[k].second);
    }
    // Latent Scaling: β = Σ f d·y / (||d||² Σ f²); ν = β_A / β_B.
    const double denom = nb * nb * a.sff;
    const double be[2] = {denom > 0 ? a.se[0] / denom : 0, denom > 0 ? a.se[1] / denom : 0};
    const double br[2] = {denom > 0 ? a.sr[0] / denom : 0, denom > 0 ? a.sr[1] / denom : 0};
    const Json nu_e = be[1] != 0 ? Json(be[0] / be[1]) : Json(nullptr), nu_r = br[1] != 0 ? Json(br[0] / br[1]) : Json(nullptr);
    const std::string cat = category[size_t(j)] >= 0 ? lex.categories[size_t(category[size_t(j)])] : "";
    Json row = {{"feature", j}, {"norm_a", na}, {"norm_b", nb}, {"nrn", nrn_json}, {"class", cls}, {"cos_ab", cosab},
                {"enc_norm", enc}, {"freq", double(a.count) / double(std::max<int64_t>(N, 1))},
                {"mean_act", a.count ? a.sum / double(a.count) : 0.0}, {"max_act", a.max}, {"dead", is_dead},
                {"category", cat}, {"category_share", category_share[size_t(j)]}, {"top_tokens", top_tokens},
                {"ls_beta_eps", {be[0], be[1]}}, {"ls_beta_r", {br[0], br[1]}}, {"ls_nu_eps", nu_e}, {"ls_nu_r", nu_r},
                {"act_hist", a.hist}};
    if (labels.count(j)) row["label"] = labels[j];
    for (int m = 0; m < 2; ++m) {
      if (lens[m].empty()) continue;
      Json pro = Json::array(), sup = Json::array();
      for (int32_t t : lens[m][size_t(j)].first) pro.push_back(decode1(t));
      for (int32_t t : lens[m][size_t(j)].second) sup.push_back(decode1(t));
      row[m == 0 ? "promotes_a" : "promotes_b"] = pro;
      row[m == 0 ? "suppresses_a" : "suppresses_b"] = sup;
    }
    jsonl << row.dump() << "\n";
    csv << j << "," << na << "," << nb << ",";
    if (nrn_opt) csv << nrn;  // empty for a zero-norm feature
    csv << "," << cls << "," << cosab << "," << enc << "," << row["freq"].get<double>()
        << "," << row["mean_act"].get<double>() << "," << a.max << "," << (is_dead ? 1 : 0) << "," << cat << ","
        << category_share[size_t(j)] << "," << csv_escape(top_str) << "," << be[0] << "," << be[1] << "," << br[0] << ","
        << br[1] << "," << nu_e.dump() << "," << nu_r.dump() << "," << csv_escape(labels.count(j) ? labels[j] : "") << "\n";
    if (prompts.is_open() && !is_dead) {
      std::string ctx;
      for (size_t e = 0; e < examples[size_t(j)].size() && e < 10; ++e) {
        const Window& w = windows[size_t(j)][e];
        ctx += "- ";
        for (size_t k = 0; k < w.tokens.size(); ++k) {
          const std::string t = decode1(w.tokens[k]);
          ctx += int(k) == w.center ? "<<" + t + ">>" : t;
        }
        ctx += "\n";
      }
      prompts << Json({{"feature", j}, {"nrn", nrn_json}, {"class", cls},
                       {"prompt", "Below are text excerpts where one feature of a sparse dictionary over a language model's "
                                  "activations fires most strongly; the token it fires on is marked <<like this>>.\n" + ctx +
                                  "In a few words, what does the feature detect? If it marks a reasoning move (self-reflection, "
                                  "verification, deduction, an alternative, a contrast), say which. Answer as JSON "
                                  "{\"feature\": " + std::to_string(j) + ", \"label\": \"...\"}."}})
                     .dump()
              << "\n";
    }
    for (size_t e = 0; e < examples[size_t(j)].size(); ++e) {
      const Window& w = windows[size_t(j)][e];
      Json texts = Json::array();
      for (int32_t t : w.tokens) texts.push_back(decode1(t));
      ex_out << Json({{"feature", j}, {"kind", int(e) < n_top[size_t(j)] ? "top" : "sample"}, {"rank", e},
                      {"value", examples[size_t(j)][e].value}, {"row", examples[size_t(j)][e].row}, {"center", w.center},
                      {"tokens", w.tokens}, {"texts", texts}, {"acts", w.acts}})
                    .dump()
             << "\n";
    }
  }
  ex_out.close();
  if (prompts.is_open()) {
    prompts.close();
    if (!prompts) fail(opt.export_prompts, "", "write failed");
    std::filesystem::rename(opt.export_prompts + ".tmp", opt.export_prompts);
  }
  if (!ex_out) fail(opt.out + "/examples.jsonl", "", "write failed");
  std::filesystem::rename(opt.out + "/examples.jsonl.tmp", opt.out + "/examples.jsonl");
  write_file_atomic(opt.out + "/features.csv", csv.str());
  write_file_atomic(opt.out + "/features.jsonl", jsonl.str());

  // The paper's table: 100 highest and lowest NRN (alive features), and per-category feature sets.
  std::vector<std::pair<double, int64_t>> alive;
  for (auto& [nrn, j] : by_nrn)
    if (acc[size_t(j)].count > 0) alive.push_back({nrn, j});
  std::sort(alive.begin(), alive.end());
  Json cats = Json::object();
  for (size_t k = 0; k < lex.categories.size(); ++k) {
    std::vector<std::pair<double, int64_t>> members;
    for (int64_t j = 0; j < F; ++j)
      if (category[size_t(j)] == int(k)) members.push_back({category_share[size_t(j)], j});
    std::sort(members.rbegin(), members.rend());
    Json ids = Json::array();
    for (auto& [s, j] : members) ids.push_back(j);
    cats[lex.categories[k]] = ids;
  }
  Json hi = Json::array(), lo = Json::array();
  for (size_t k = 0; k < std::min<size_t>(100, alive.size()); ++k) {
    lo.push_back(alive[k].second);
    hi.push_back(alive[alive.size() - 1 - k].second);
  }
  write_file_atomic(opt.out + "/categories.json",
                    Json({{"categories", cats}, {"highest_nrn", hi}, {"lowest_nrn", lo}, {"majority", opt.category_majority}}).dump(2));
  Json summary = {{"crosscoder", opt.crosscoder}, {"acts", opt.acts}, {"tokens", N}, {"features", F}, {"dead", dead},
                  {"class_counts", class_counts}, {"nrn_histogram", {{"bins", 50}, {"counts", hist}}},
                  {"thresholds", {{"base_only_below", opt.base_only_below}, {"distilled_only_above", opt.distilled_only_above}}},
                  {"explained_variance", {ev[0], ev[1]}}, {"hook", c.hook}, {"architecture", arch_name(c.architecture)},
                  {"act_hist_log10", {{"lo", kHistLo}, {"hi", kHistHi}, {"bins", kHistBins}}}};
  write_file_atomic(opt.out + "/summary.json", summary.dump(2));
}

}  // namespace cc

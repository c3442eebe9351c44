// Gathers a run's tables into the report's JSON. Large tables are compacted for the browser:
// features become rows of a column list, dashboard details are kept for alive features only,
// contexts are trimmed and their token strings interned in one table, numbers are rounded.
#include <algorithm>
#include <cmath>
#include <map>
#include <filesystem>
#include <unordered_map>

#include "calibration/calibration.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "report/report.hpp"
#include "tokenizer/utf8.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

double round_to(double v, double scale) { return std::isfinite(v) ? std::round(v * scale) / scale : 0.0; }
Json r4(const Json& v) { return v.is_number() ? Json(round_to(v.get<double>(), 1e4)) : v; }

struct Found {
  std::vector<std::string> crosscoders;
  std::string analysis, ablation, steer, geometry, store, calibration, enrichment;
};

Found discover(const ReportOptions& opt) {
  Found f;
  if (!opt.run.empty()) {
    if (!fs::is_directory(opt.run)) fail(opt.run, "", "is not a folder (--run takes the folder holding a run's outputs)");
    std::vector<fs::path> dirs;
    for (const fs::path& e : list_dir(opt.run))
      if (fs::is_directory(e)) dirs.push_back(e);
    for (const auto& d : dirs) {
      auto has = [&](const char* name) { return fs::exists(d / name); };
      if (has("crosscoder.safetensors") && has("config.json")) f.crosscoders.push_back(d.string());
      if (f.analysis.empty() && has("summary.json") && has("features.jsonl")) f.analysis = d.string();
      if (f.ablation.empty() && has("ablation.json")) f.ablation = d.string();
      if (f.steer.empty() && has("steer.json")) f.steer = d.string();
      if (f.geometry.empty() && has("geometry.json")) f.geometry = d.string();
      if (f.store.empty() && has("manifest.json")) f.store = d.string();
      if (f.calibration.empty() && has("calibration.json")) f.calibration = d.string();
      if (f.enrichment.empty() && has("enrichment.json") && has("enrichment.jsonl")) f.enrichment = d.string();
    }
  }
  if (!opt.crosscoder.empty()) f.crosscoders = {opt.crosscoder};
  for (auto [dst, src] : {std::pair{&f.analysis, &opt.analysis}, {&f.ablation, &opt.ablation}, {&f.steer, &opt.steer},
                          {&f.geometry, &opt.geometry}, {&f.store, &opt.store}})
    if (!src->empty()) *dst = *src;
  if (f.crosscoders.empty() && f.analysis.empty() && f.ablation.empty() && f.steer.empty() && f.geometry.empty() && f.calibration.empty())
    fail(opt.run.empty() ? "--run" : opt.run, "", "holds no crosscoder, analysis, ablation, steering, geometry or calibration output");
  return f;
}

Json crosscoder_json(const std::string& dir) {
  const std::string cp = dir + "/config.json";
  const Json c = read_json_file(cp);
  Json cfg = Json::object();
  for (const char* k : {"architecture", "d_in", "dict_size", "l1_coeff", "k", "lr", "batch_size", "num_tokens", "hook", "norm_factors",
                        "base_model", "distilled_model", "acts", "seed"})
    if (c.contains(k)) cfg[k] = c[k];
  std::vector<Json> log;
  const std::string lp = dir + "/train_log.jsonl";
  if (fs::exists(lp)) for_each_jsonl(lp, [&](const Json& j, size_t) { log.push_back(j); });
  Json pts = Json::array();
  const size_t stride = std::max<size_t>(1, log.size() / 400);
  for (size_t i = 0; i < log.size(); i += stride) {
    Json p = Json::object();
    for (const char* k : {"step", "tokens", "loss", "l2", "l1", "aux", "l0", "ev_a", "ev_b", "dead_frac", "lr"})
      if (log[i].contains(k)) p[k] = r4(log[i][k]);
    pts.push_back(p);
  }
  Json out = {{"name", fs::path(dir).filename().string()}, {"dir", dir}, {"config", cfg}, {"log", pts}};
  // Held-out measurements: reconstruction (eval.json) and the crosscoder spliced into the models.
  for (const auto& [key, file] : {std::pair{"eval", "/eval.json"}, std::pair{"spliced_loss", "/spliced_loss.json"}})
    if (fs::exists(dir + file)) out[key] = read_json_file(dir + file);
  return out;
}

const std::vector<std::string> kFeatureCols = {"feature", "nrn", "class", "category", "freq", "mean_act", "max_act", "dead",
                                               "cos_ab", "norm_a", "norm_b", "change_rank", "change_mass", "ls_nu_eps", "ls_nu_r",
                                               "top", "label", "label_category", "label_score", "enriched_category"};

// feature → its category by sentence-tag enrichment, for the features the enrichment tested.
std::map<int64_t, std::string> enriched_categories(const std::string& dir) {
  std::map<int64_t, std::string> m;
  if (dir.empty()) return m;
  const std::string path = dir + "/enrichment.jsonl";
  for_each_jsonl(path, [&](const Json& j, size_t line) {
    const std::string at = path + ":" + std::to_string(line);
    if (j.value("tested", false)) m[json_get<int64_t>(j, "feature", at)] = json_get<std::string>(j, "category", at);
  });
  return m;
}

void add_analysis(Json& out, const std::string& dir, const ReportOptions& opt, const std::map<int64_t, std::string>& enriched) {
  out["analysis"] = {{"dir", dir}, {"summary", read_json_file(dir + "/summary.json")}};
  if (fs::exists(dir + "/categories.json")) out["analysis"]["categories"] = read_json_file(dir + "/categories.json");
  Json rows = Json::array(), details = Json::object();
  for_each_jsonl(dir + "/features.jsonl", [&](const Json& j, size_t) {
    std::string top;
    if (j.contains("top_tokens"))
      for (const Json& t : j["top_tokens"]) top += (top.empty() ? "" : " | ") + t.value("text", std::string());
    Json row = Json::array();
    for (const auto& c : kFeatureCols) {
      if (c == "top") row.push_back(top);
      else if (c == "label" || c == "label_category") row.push_back(j.value(c, std::string()));
      else if (c == "enriched_category") {
        const auto it = enriched.find(j.value("feature", int64_t(-1)));
        row.push_back(it == enriched.end() ? Json(nullptr) : Json(it->second.empty() ? "none" : it->second));
      }
      else row.push_back(j.contains(c) ? r4(j[c]) : Json(nullptr));
    }
    rows.push_back(row);
    if (j.value("dead", false)) return;
    Json d = Json::object();
    for (const char* k : {"act_hist", "ls_beta_eps", "ls_beta_r", "enc_norm", "category_share"})
      if (j.contains(k)) d[k] = j[k];
    if (j.contains("top_tokens")) {
      Json tt = Json::array();
      for (const Json& t : j["top_tokens"]) tt.push_back({t.value("text", std::string()), r4(t.value("share", 0.0))});
      d["top_tokens"] = tt;
    }
    for (const char* k : {"promotes_a", "promotes_b", "suppresses_a", "suppresses_b"})
      if (j.contains(k)) {
        Json v = Json::array();
        for (size_t i = 0; i < std::min<size_t>(8, j[k].size()); ++i) v.push_back(j[k][i]);
        d[k] = v;
      }
    details[std::to_string(j.value("feature", int64_t(-1)))] = d;
  });
  out["features"] = {{"cols", kFeatureCols}, {"rows", rows}};
  out["details"] = details;

  // Contexts: trimmed to ±context tokens, strings interned.
  std::unordered_map<std::string, int> index;
  Json strings = Json::array(), examples = Json::object();
  const std::string ep = dir + "/examples.jsonl";
  if (!fs::exists(ep)) return;
  std::unordered_map<int64_t, std::pair<int, int>> kept;  // feature → (top, sample) counts
  for_each_jsonl(ep, [&](const Json& e, size_t) {
    const int64_t f = e.value("feature", int64_t(-1));
    const bool top = e.value("kind", std::string()) == "top";
    auto& k = kept[f];
    if ((top && k.first >= opt.top_examples) || (!top && k.second >= opt.sample_examples)) return;
    (top ? k.first : k.second)++;
    const int center = e.value("center", 0);
    const Json& texts = e["texts"];
    const Json& acts = e["acts"];
    const int lo = std::max(0, center - opt.context), hi = std::min(int(texts.size()), center + opt.context + 1);
    Json ti = Json::array(), av = Json::array();
    for (int i = lo; i < hi; ++i) {
      const std::string s = texts[size_t(i)].get<std::string>();
      auto it = index.find(s);
      if (it == index.end()) {
        it = index.emplace(s, int(strings.size())).first;
        strings.push_back(s);
      }
      ti.push_back(it->second);
      av.push_back(round_to(acts[size_t(i)].get<double>(), 1e3));
    }
    examples[std::to_string(f)].push_back({top ? 0 : 1, center - lo, ti, av, r4(e.value("value", 0.0))});
  });
  out["strings"] = strings;
  out["examples"] = examples;
}

Json ablation_json(const std::string& dir) {
  Json a = read_json_file(dir + "/ablation.json");
  for (Json& r : a["results"]) {
    r.erase("delta_logit");
    r.erase("delta_logp");
    r.erase("features");
  }
  a.erase("positions");
  a["dir"] = dir;
  return a;
}

Json steer_json(const std::string& dir, int chars) {
  Json s = read_json_file(dir + "/steer.json");
  Json tr = Json::array();
  const std::string tp = dir + "/transcripts.jsonl";
  if (fs::exists(tp))
    for_each_jsonl(tp, [&](const Json& j, size_t) {
      Json t = j;
      std::string text = t.value("text", std::string());
      if (int(text.size()) > chars) {
        text = text.substr(0, utf8_floor(text, size_t(chars))) + " [...]";
      }
      t["text"] = text;
      tr.push_back(t);
    });
  s["transcripts"] = tr;
  s["dir"] = dir;
  return s;
}

}  // namespace

Json collect_report_data(const ReportOptions& opt) {
  const Found f = discover(opt);
  Json out = Json::object();
  out["run"] = opt.run;
  Json cc = Json::array();
  for (const auto& d : f.crosscoders) cc.push_back(crosscoder_json(d));
  out["crosscoders"] = cc;
  if (!f.store.empty()) reading_json(f.store + "/manifest.json", [&] {
    const Json m = read_json_file(f.store + "/manifest.json");
    Json s = Json::object();
    for (const char* k : {"tokens", "d_model", "hook", "dtype", "models", "seq_len", "norm_factors", "corpus_tokens_taken", "tokenizer"})
      if (m.contains(k)) s[k] = m[k];
    if (m.contains("corpora")) {
      s["corpora"] = Json::array();
      for (const Json& c : m["corpora"]) s["corpora"].push_back(c.value("spec", std::string()));
    }
    s["dir"] = f.store;
    out["store"] = s;
  });
  if (!f.calibration.empty())
    out["calibration"] = read_calibration_json(f.calibration + "/calibration.json");
  if (!f.enrichment.empty()) out["enrichment"] = read_json_file(f.enrichment + "/enrichment.json");
  if (!f.analysis.empty()) add_analysis(out, f.analysis, opt, enriched_categories(f.enrichment));
  if (!f.ablation.empty()) out["ablation"] = reading_json(f.ablation + "/ablation.json", [&] { return ablation_json(f.ablation); });
  if (!f.steer.empty()) out["steer"] = reading_json(f.steer + "/steer.json", [&] { return steer_json(f.steer, opt.transcript_chars); });
  if (!f.geometry.empty()) reading_json(f.geometry + "/geometry.json", [&] {
    Json g = read_json_file(f.geometry + "/geometry.json");
    g["dir"] = f.geometry;
    out["geometry"] = g;
  });
  return out;
}

}  // namespace cc

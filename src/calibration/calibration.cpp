// Calibration: plant, harvest each pair, train and analyse each crosscoder, then check each against
// what is known. The checks read the analysis's own tables (features.jsonl, summary.json), so a
// regression in the analysis fails them too.
#include "calibration/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <map>

#include "calibration/plant_probe.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/stats.hpp"
#include "crosscoder/trainer.hpp"
#include "harvest/activation_store.hpp"
#include "harvest/store_writer.hpp"
#include "interventions/ablation.hpp"
#include "organism/plant.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

std::string fmt_num(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

Json check(const std::string& name, double figure, const std::string& threshold, bool pass) {
  return {{"check", name}, {"figure", figure}, {"threshold", threshold}, {"pass", pass}};
}

Json effect_json(const PairedEffect& e) { return {{"mean", e.mean}, {"ci95", {e.ci.lo, e.ci.hi}}, {"significant", e.significant}}; }

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> o(a.size());
  for (size_t i = 0; i < a.size(); ++i) o[i] = a[i] - b[i];
  return o;
}

// features.jsonl of an analysis, one row per feature.
std::vector<Json> feature_rows(const std::string& dir) {
  std::vector<Json> rows;
  for_each_jsonl(dir + "/features.jsonl", [&](const Json& j, size_t) { rows.push_back(j); });
  return rows;
}

// Alive features (every class counted in summary.json) and those not shared.
std::pair<int64_t, int64_t> alive_and_not_shared(const Json& summary) {
  int64_t alive = 0, other = 0;
  for (auto& [k, v] : summary["class_counts"].items()) {
    alive += v.get<int64_t>();
    if (k != "shared") other += v.get<int64_t>();
  }
  return {alive, other};
}

struct Pair {
  std::string name, base, distilled, dir;
  std::vector<int32_t> triggers;  // a planted pair's triggers and target (token ids); empty for the others
  int32_t target = -1;
  Json measured;                  // a planted pair's plant.json "measured"
};

struct Plant {
  Json record;  // for calibration.json: triggers, target, strengths, measured effect
  std::vector<int32_t> triggers;
  int32_t target = -1;
};

Plant plant_model(const CalibrationOptions& opt, const std::vector<std::string>& triggers, uint64_t seed, const std::string& out) {
  PlantOptions po;
  po.model = opt.base;
  po.out = out;
  po.triggers = triggers;
  po.target = opt.target;
  po.strength_in = opt.strength_in;
  po.strength_out = opt.strength_out;
  po.seed = seed;
  const Json plant = read_json_file(plant_mechanism(po));
  Plant p;
  for (const Json& t : plant["triggers"]) p.triggers.push_back(t["id"].get<int32_t>());
  p.target = plant["target"]["id"].get<int32_t>();
  p.record = {{"triggers", plant["triggers"]}, {"target", plant["target"]}, {"strength_in", opt.strength_in}, {"strength_out", opt.strength_out},
              {"seed", seed}, {"measured", plant["measured"]}};
  return p;
}

std::string harvest_pair(const CalibrationOptions& opt, const Pair& pr) {
  HarvestConfig h;
  h.base_dir = pr.base;
  h.distilled_dir = pr.distilled;
  h.hook = opt.hook;
  h.corpora = opt.corpora;
  h.pack.seq_len = opt.seq_len;
  h.pack.seed = opt.seed;
  h.pack.eval_fraction = opt.eval_fraction;
  h.pack.held_out_list = opt.held_out_list;
  h.batch_seqs = opt.batch_seqs;
  h.mode = opt.mode;
  StoreOptions so;
  so.out = pr.dir + "/store";
  so.tokens = opt.tokens;
  so.progress = opt.progress;
  so.resume = opt.resume && fs::exists(so.out + "/manifest.json");
  harvest_to_store(h, so);
  return so.out;
}

// Trains and analyses one crosscoder on a pair's store; returns the analysis folder.
std::string train_and_analyse(const CalibrationOptions& opt, const CalibrationCrosscoder& cc, const std::string& store, const Pair& pr,
                              std::string& ckpt) {
  TrainOptions t;
  t.acts = store;
  t.out = ckpt = pr.dir + "/crosscoder-" + cc.name;
  t.buffer_rows = cc.buffer_rows;
  t.save_every = 1 << 30;  // a calibration run is short: no intermediate checkpoints
  t.progress = opt.progress;
  t.resume = opt.resume && fs::exists(ckpt + "/trainer_state.safetensors");
  train_crosscoder(cc.cfg, t);
  AnalyzeOptions a = opt.analysis;
  a.crosscoder = ckpt;
  a.acts = store;
  a.out = pr.dir + "/analysis-" + cc.name;
  a.progress = opt.progress;
  analyze_crosscoder(a);
  return a.out;
}

TriggerProbeOptions probe_options(const CalibrationOptions& opt, const Pair& pr) {
  TriggerProbeOptions po;
  po.base = pr.base;
  po.distilled = pr.distilled;
  po.corpora = opt.probe_corpora.empty() ? opt.corpora : opt.probe_corpora;
  po.sequences = opt.sequences;
  po.seq_len = opt.seq_len;
  po.seed = opt.seed;
  po.eval_fraction = opt.eval_fraction;
  po.held_out_list = opt.held_out_list;
  po.mode = opt.mode;
  po.triggers = pr.triggers;
  po.target = pr.target;
  return po;
}

// A concept plant's signature: for each trigger alone, the feature that carries the plant there. One
// feature for all triggers is the economical representation of one direction after any of them.
Json concept_signature(const ActivationStore& store, const CrosscoderParams& p, const CrosscoderConfig& c, const PlantDirection& u,
                       const std::vector<int32_t>& triggers, int64_t overall) {
  Json per = Json::array();
  bool one = true;
  for (int32_t t : triggers) {
    const std::vector<float> X = trigger_rows(store, c, {t});
    if (X.empty()) continue;
    const PlantAttribution a = attribute_plant(X, p, c, u);
    per.push_back({{"trigger", t}, {"rows", int64_t(X.size()) / (2 * c.d_in)}, {"feature", a.feature}, {"attribution_share", a.share},
                   {"cos_delta_u", a.cos_u}, {"fires_on_trigger_rows", a.trigger_firing}});
    one = one && a.feature == overall;
  }
  return {{"per_trigger", per}, {"one_feature_for_all", one}};
}

// The planted pair through one crosscoder: find the plant's feature, then ablate and steer with it.
Json check_planted(const CalibrationOptions& opt, const std::string& ckpt, const std::string& analysis, const ActivationStore& store,
                   const Pair& pr) {
  const std::vector<int32_t>& triggers = pr.triggers;
  const CalibrationThresholds& th = opt.thresholds;
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(ckpt, p, c);
  const std::vector<float> X = trigger_rows(store, c, triggers);
  const PlantDirection u = plant_direction(X, c.d_in, store.dir());
  const PlantAttribution at = attribute_plant(X, p, c, u);
  Json checks = Json::array();
  // The precondition: a plant that does not work is no positive control (plant.json, random contexts).
  const Json& m = pr.measured;
  const double gain = m["log_p_target_after"]["after_trigger"].get<double>() - m["log_p_target_before"]["after_trigger"].get<double>();
  const double drift = m["log_p_target_after"]["elsewhere"].get<double>() - m["log_p_target_before"]["elsewhere"].get<double>();
  checks.push_back(check("the plant works: log p(target) after a trigger rises (nats, random contexts)", gain, ">= 5", gain >= 5));
  checks.push_back(check("... and specifically: |change elsewhere| / rise after a trigger", std::abs(drift) / std::max(gain, 1e-12), "<= 0.25",
                         gain > 0 && std::abs(drift) <= 0.25 * gain));
  Json r = {{"trigger_rows", u.rows}};
  if (at.feature < 0) {
    checks.push_back(check("a feature fires on the trigger", 0, ">= 1", false));
    r["checks"] = checks;
    return r;
  }
  const Json row = feature_rows(analysis)[size_t(at.feature)];
  const std::string cls = row.value("class", std::string());
  const double rank = row["change_rank"].is_number() ? row["change_rank"].get<double>() : 1e18;
  const double nu = row["ls_nu_eps"].is_number() ? row["ls_nu_eps"].get<double>() : 1e18;
  r["feature"] = {{"index", at.feature}, {"attribution_share", at.share}, {"cos_delta_u", at.cos_u}, {"cos_distilled_u", at.cos_u_distilled},
                  {"fires_on_trigger_rows", at.trigger_firing}, {"class", cls}, {"nrn", row["nrn"]}, {"cos_ab", row["cos_ab"]},
                  {"change_rank", row["change_rank"]}, {"change_mass", row["change_mass"]}, {"ls_nu_eps", row["ls_nu_eps"]}};
  if (triggers.size() > 1) r["signature"] = concept_signature(store, p, c, u, triggers, at.feature);
  checks.push_back(check("cos(d_B - d_A, u) of the feature carrying the plant", at.cos_u, ">= " + fmt_num(th.min_cos), at.cos_u >= th.min_cos));
  checks.push_back(check("its rank by change mass", rank, "<= " + std::to_string(th.max_rank), rank <= double(th.max_rank)));
  // The signature each architecture gives the plant is reported (r["feature"]: class, NRN, cos_ab);
  // the requirement is the issue's: never base-only, the class that would read the plant backwards.
  checks.push_back(check("its class is not base-only (" + cls + ")", cls == "base-only" ? 0 : 1, "1 = not base-only", cls != "base-only"));
  checks.push_back(check("Latent Scaling nu_eps = beta_A / beta_B", nu, "< " + fmt_num(th.max_nu), nu < th.max_nu));

  TriggerProbeOptions po = probe_options(opt, pr);
  po.feature = at.feature;
  po.control = at.control;
  po.alphas = opt.alphas;
  const TriggerProbe pb = probe_triggers(p, c, ckpt + "/config.json", po);
  const PairedEffect eb = paired_effect(pb.ablated[1], pb.clean[1], pb.unit, 1);
  const PairedEffect ea = paired_effect(pb.ablated[0], pb.clean[0], pb.unit, 2);
  Json ablation = {{"positions", pb.positions}, {"sequences", pb.sequences}, {"planted", effect_json(eb)}, {"base", effect_json(ea)},
                   {"removed", {pb.removed[0], pb.removed[1]}}, {"control_feature", po.control}};
  checks.push_back(check("ablating it lowers log p(target) after the trigger in the planted model (95% CI upper end)", eb.ci.hi, "< 0",
                         eb.ci.hi < 0));
  if (po.control >= 0) {
    const PairedEffect ec = paired_effect(pb.ablated[1], pb.control[1], pb.unit, 3);
    ablation["versus_control"] = effect_json(ec);
    ablation["control_removed"] = {pb.control_removed[0], pb.control_removed[1]};
    ablation["control_matched"] = pb.removed[1] > 0 && std::abs(pb.control_removed[1] / pb.removed[1] - 1) <= 0.25;
    checks.push_back(check("... more than ablating a matched control (95% CI upper end)", ec.ci.hi, "< 0", ec.ci.hi < 0));
  } else {
    checks.push_back(check("... more than ablating a matched control", 0, "a control exists", false));
  }
  const double base_ratio = std::abs(ea.mean) / std::max(1e-12, std::abs(eb.mean));
  checks.push_back(check("and leaves the base model unchanged: |effect in base| / |effect in planted|", base_ratio,
                         "<= " + fmt_num(th.max_base_effect), base_ratio <= th.max_base_effect));
  Json steer = Json::array();
  bool rising = true;
  for (size_t a = 0; a < opt.alphas.size(); ++a) {
    steer.push_back({{"alpha", opt.alphas[a]}, {"log_p_target", mean_of(pb.steered[a])}});
    if (a > 0 && !(mean_of(pb.steered[a]) > mean_of(pb.steered[a - 1]))) rising = false;
  }
  const PairedEffect es = paired_effect(pb.steered.back(), pb.steered.front(), pb.unit, 4);
  checks.push_back(check("steering the base model by alpha * f * (d_B - d_A): log p(target) rises in every alpha step, "
                         "last minus first (95% CI lower end)",
                         es.ci.lo, "> 0 and monotone", rising && es.ci.lo > 0));
  r["ablation"] = ablation;
  r["steering"] = {{"alphas", steer}, {"last_minus_first", effect_json(es)}, {"monotone", rising}};
  r["checks"] = checks;
  return r;
}

// The identical pair: classes and the largest "change"'s ablation, which must act alike in both.
Json check_identical(const CalibrationOptions& opt, const std::string& ckpt, const std::string& analysis, const Pair& pr) {
  const Json s = read_json_file(analysis + "/summary.json");
  const auto [alive, other] = alive_and_not_shared(s);
  const double share = alive > 0 ? double(other) / double(alive) : 1.0;
  Json checks = Json::array();
  checks.push_back(check("share of alive features not shared (base-only, distilled-only or changed)", share,
                         "<= " + fmt_num(opt.thresholds.null_max_share), share <= opt.thresholds.null_max_share));
  Json r = {{"alive", alive}, {"not_shared", other}};
  if (!s["largest_changes"].empty()) {
    CrosscoderParams p;
    CrosscoderConfig c;
    load_crosscoder(ckpt, p, c);
    TriggerProbeOptions po = probe_options(opt, pr);
    po.feature = s["largest_changes"][0]["feature"].get<int64_t>();
    const TriggerProbe pb = probe_triggers(p, c, ckpt + "/config.json", po);
    const PairedEffect ed = paired_effect(minus(pb.ablated[1], pb.clean[1]), minus(pb.ablated[0], pb.clean[0]), pb.unit, 5);
    r["ablation"] = {{"feature", po.feature}, {"positions", pb.positions}, {"distilled_minus_base", effect_json(ed)}};
    // An equivalence test, not "the interval holds 0": with thousands of positions an interval
    // excludes differences far too small to matter (measured: -0.0023 nats for a BatchTopK crosscoder
    // whose two decoders differ only by their random initialisation), and a plant moves the same
    // measurement by several nats.
    const double m = opt.thresholds.equivalence_margin, far = std::max(std::abs(ed.ci.lo), std::abs(ed.ci.hi));
    checks.push_back(check("ablating the largest change: distilled - base effect, 95% CI's farther end from 0 (nats)", far,
                           "< " + fmt_num(m), far < m));
  }
  r["checks"] = checks;
  return r;
}

// A null or reference pair: how much difference the crosscoder reports (no checks; read side by side).
Json difference_figures(const std::string& analysis) {
  const Json s = read_json_file(analysis + "/summary.json");
  const auto [alive, other] = alive_and_not_shared(s);
  double mass = 0, top = 0;
  std::vector<double> masses;
  for (const Json& row : feature_rows(analysis))
    if (row["change_mass"].is_number()) masses.push_back(row["change_mass"].get<double>());
  std::sort(masses.begin(), masses.end(), std::greater<>());
  for (size_t i = 0; i < masses.size(); ++i) (i < 20 ? top : mass) += masses[i];
  mass += top;
  return {{"alive", alive}, {"class_counts", s["class_counts"]}, {"not_shared", other},
          {"not_shared_share", alive > 0 ? double(other) / double(alive) : 0.0}, {"change_mass_total", mass}, {"change_mass_top20", top},
          {"checks", Json::array()}};
}

bool all_pass(const Json& checks, int64_t& n, int64_t& passed) {
  bool ok = true;
  for (const Json& c : checks) {
    ++n;
    passed += c["pass"].get<bool>();
    ok = ok && c["pass"].get<bool>();
  }
  return ok;
}

}  // namespace

Json calibration_settings(const CalibrationOptions& opt) {
  Json xc = Json::object();
  for (const CalibrationCrosscoder& c : opt.crosscoders) {
    xc[c.name] = c.cfg.to_json();
    xc[c.name]["buffer_rows"] = c.buffer_rows;
  }
  Json corpora = Json::array();
  for (const CorpusSpec& c : opt.corpora) corpora.push_back(c.text());
  Json probe_corpora = Json::array();
  for (const CorpusSpec& c : opt.probe_corpora) probe_corpora.push_back(c.text());
  const CalibrationThresholds& t = opt.thresholds;
  return {{"model", opt.base}, {"hook", opt.hook}, {"triggers", opt.triggers}, {"target", opt.target}, {"strength_in", opt.strength_in},
          {"strength_out", opt.strength_out}, {"plant_seed", opt.plant_seed},
          {"concept_triggers", opt.concept_triggers}, {"concept_seed", opt.concept_seed}, {"finetuned", opt.finetuned}, {"reference", opt.reference}, {"corpora", corpora}, {"tokens", opt.tokens},
          {"seq_len", opt.seq_len}, {"batch_seqs", opt.batch_seqs}, {"seed", opt.seed}, {"eval_fraction", opt.eval_fraction},
          {"held_out", opt.held_out_list}, {"crosscoders", xc}, {"changed_below", opt.analysis.changed_below},
          {"changed_min_ratio", opt.analysis.changed_min_ratio}, {"lexicon", opt.analysis.lexicon}, {"probe_corpora", probe_corpora}, {"sequences", opt.sequences},
          {"alphas", opt.alphas}, {"identical_null", opt.identical_null}, {"compute", opt.mode == ComputeMode::F32 ? "f32" : "bf16"},
          {"thresholds", {{"min_cos", t.min_cos}, {"max_rank", t.max_rank}, {"max_base_effect", t.max_base_effect}, {"max_nu", t.max_nu},
                          {"null_max_share", t.null_max_share}, {"equivalence_margin", t.equivalence_margin}}}};
}

std::string run_calibration(const CalibrationOptions& opt) {
  if (opt.crosscoders.empty()) fail("", "calibration", "has no crosscoder to train", "at least one");
  make_dirs(opt.out);
  const Plant token = plant_model(opt, opt.triggers, opt.plant_seed, opt.out + "/planted-model");
  std::vector<Pair> pairs = {{"planted", opt.base, opt.out + "/planted-model", opt.out + "/planted", token.triggers, token.target,
                              token.record["measured"]}};
  Json result = {{"plant", token.record}, {"settings", calibration_settings(opt)}};
  if (!opt.concept_triggers.empty()) {
    const Plant cp = plant_model(opt, opt.concept_triggers, opt.concept_seed, opt.out + "/concept-model");
    pairs.push_back({"concept", opt.base, opt.out + "/concept-model", opt.out + "/concept", cp.triggers, cp.target, cp.record["measured"]});
    result["concept_plant"] = cp.record;
  }
  if (opt.identical_null) pairs.push_back({"identical", opt.base, opt.base, opt.out + "/identical", token.triggers, token.target, {}});
  if (!opt.finetuned.empty()) pairs.push_back({"finetuned", opt.base, opt.finetuned, opt.out + "/finetuned", {}, -1, {}});
  if (!opt.reference.empty()) pairs.push_back({"reference", opt.base, opt.reference, opt.out + "/reference", {}, -1, {}});
  int64_t n = 0, passed = 0;
  bool ok = true;
  for (const Pair& pr : pairs) {
    const std::string store_dir = harvest_pair(opt, pr);
    const ActivationStore store(store_dir);
    for (const CalibrationCrosscoder& cc : opt.crosscoders) {
      std::string ckpt;
      const std::string analysis = train_and_analyse(opt, cc, store_dir, pr, ckpt);
      Json r = pr.name == "planted" || pr.name == "concept" ? check_planted(opt, ckpt, analysis, store, pr)
               : pr.name == "identical"                     ? check_identical(opt, ckpt, analysis, pr)
                                                            : difference_figures(analysis);
      r["architecture"] = arch_name(cc.cfg.architecture);
      r["eval"] = read_json_file(ckpt + "/eval.json");
      ok = all_pass(r["checks"], n, passed) && ok;
      result["pairs"][pr.name][cc.name] = r;
    }
  }
  result["checks"] = n;
  result["passed"] = passed;
  result["all_pass"] = ok;
  const std::string path = opt.out + "/calibration.json";
  write_file_atomic(path, result.dump(2) + "\n");
  return path;
}

Json read_calibration_json(const std::string& path) {
  const Json c = read_json_file(path);
  reading_json(path, [&] {
    (void)c.at("checks").get<int64_t>();
    (void)c.at("passed").get<int64_t>();
    if (!c.at("pairs").is_object()) fail(path, "pairs", "is not an object");
    for (const auto& [pair, per] : c["pairs"].items()) {
      if (!per.is_object()) fail(path, "pairs." + pair, "is not an object");
      for (const auto& [name, r] : per.items())
        for (const Json& k : r.at("checks")) {
          (void)k.at("check").get<std::string>();
          (void)k.at("figure").get<double>();
          (void)k.at("threshold").get<std::string>();
          (void)k.at("pass").get<bool>();
        }
    }
  });
  return c;
}

}  // namespace cc

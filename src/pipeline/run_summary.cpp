#include "pipeline/run_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/json_file.hpp"
#include "core/progress.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

double num(const Json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; }

void manifest_lines(std::ostringstream& o, const Json& m);

void store_lines(std::ostringstream& o, const Experiment& e) {
  const std::string mp = e.store.out + "/manifest.json";
  if (!fs::exists(mp)) return;
  reading_json(mp, [&] { manifest_lines(o, read_json_file(mp)); });
}

void manifest_lines(std::ostringstream& o, const Json& m) {
  o << "  store: " << m.value("tokens", int64_t(0)) << " tokens x 2 models at " << m.value("hook", std::string()) << ", d " << m.value("d_model", 0);
  if (m.contains("corpus_tokens_taken") && m.contains("corpora")) {
    o << "; tokens per corpus:";
    const bool shares = m.contains("corpus_share_asked") && m.contains("corpus_share_got");
    for (size_t i = 0; i < m["corpora"].size() && i < m["corpus_tokens_taken"].size(); ++i) {
      o << " " << fs::path(m["corpora"][i].value("path", std::string())).filename().string() << " " << m["corpus_tokens_taken"][i];
      if (shares && i < m["corpus_share_asked"].size() && i < m["corpus_share_got"].size())
        o << " (asked " << fmt("%.1f%%", 100 * m["corpus_share_asked"][i].get<double>()) << ", got "
          << fmt("%.1f%%", 100 * m["corpus_share_got"][i].get<double>()) << ")";
    }
  }
  o << "\n";
}

std::string interval(const Json& ci, const char* f) {
  if (!ci.is_array() || ci.size() != 2 || !ci[0].is_number() || !ci[1].is_number()) return "[no interval]";
  return "[" + fmt(f, ci[0].get<double>()) + ", " + fmt(f, ci[1].get<double>()) + "]";
}

// The crosscoder spliced into each model: loss recovered and the cross-entropy it adds, with their
// 95% intervals over sequences; an added loss whose interval holds 0 is called not significant.
void spliced_loss_lines(std::ostringstream& o, const std::string& path) {
  if (!fs::exists(path)) return;
  reading_json(path, [&] {
  const Json j = read_json_file(path);
  o << "    spliced into each model at " << j.value("positions", int64_t(0)) << (j.value("held_out", false) ? " held-out" : " (not held-out)")
    << " positions (95% intervals over sequences):\n";
  for (const char* m : {"base", "distilled"}) {
    if (!j.contains(m)) continue;
    const Json& x = j[m];
    const Json& ci = x["ce_increase_ci95"];
    const bool zero_inside = ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number() &&
                             ci[0].get<double>() <= 0 && ci[1].get<double>() >= 0;
    o << "      " << m << ": loss recovered " << fmt("%.3f", num(x, "loss_recovered")) << " " << interval(x["loss_recovered_ci95"], "%.3f")
      << "; CE " << fmt("%.3f", num(x, "ce_clean")) << " -> " << fmt("%.3f", num(x, "ce_spliced")) << " nats ("
      << fmt("%+.4f", num(x, "ce_increase")) << " " << interval(ci, "%+.4f") << (zero_inside ? ", not significant" : "")
      << "; zero-ablated " << fmt("%.3f", num(x, "ce_zero")) << "); KL to clean " << fmt("%.4f", num(x, "kl_spliced")) << "\n";
  }
  });
}

void crosscoder_lines(std::ostringstream& o, const Experiment& e) {
  for (const auto& n : e.crosscoders) {
    const std::string lp = n.train.out + "/train_log.jsonl";
    if (!fs::exists(lp)) continue;
    Json last;
    for_each_jsonl(lp, [&](const Json& j, size_t) { last = j; });
    if (last.is_null()) continue;
    reading_json(lp, [&] {
      o << "  crosscoder " << n.name << " (" << arch_name(n.cfg.architecture) << ", " << n.cfg.dict_size << " features, "
        << last.value("tokens", int64_t(0)) << " training tokens)";
    });
    const std::string ep = n.train.out + "/eval.json";
    if (fs::exists(ep)) reading_json(ep, [&] {
      const Json ev = read_json_file(ep);
      const Json fvu = ev.value("fvu", Json::array({0, 0}));
      o << ": on " << ev.value("rows", int64_t(0)) << (ev.value("held_out", false) ? " held-out" : " (not held-out)")
        << " tokens, FVU base " << fmt("%.3f", fvu[0].get<double>()) << " distilled " << fmt("%.3f", fvu[1].get<double>()) << ", L0 "
        << fmt("%.1f", num(ev, "l0")) << ", never active " << fmt("%.1f%%", 100 * num(ev, "inactive_frac"));
    });
    reading_json(lp, [&] { o << "; last training batch: dead " << fmt("%.1f%%", 100 * num(last, "dead_frac")) << "\n"; });
    spliced_loss_lines(o, n.train.out + "/spliced_loss.json");
  }
}

// The analysis's ranked "what changed" table, five rows.
void largest_changes_lines(std::ostringstream& o, const Json& s) {
  if (!s.contains("largest_changes") || s["largest_changes"].empty()) return;
  o << "\n  largest changes (change mass = freq x mean act x ||d_B - d_A||):";
  for (const Json& r : s["largest_changes"]) {
    if (num(r, "rank") > 5) break;
    o << "\n    #" << r["rank"] << " feature " << r["feature"] << " " << r["class"].get<std::string>() << ", mass "
      << fmt("%.4f", num(r, "change_mass")) << ", cos_ab " << fmt("%.2f", num(r, "cos_ab")) << ", fires on \""
      << r.value("top_tokens", std::string()) << "\"";
  }
}

void analysis_lines(std::ostringstream& o, const Experiment& e) {
  const std::string sp = e.analyze.out + "/summary.json", cp = e.analyze.out + "/categories.json";
  if (!fs::exists(sp) || !fs::exists(cp)) return;
  reading_json(sp, [&] {
    const Json s = read_json_file(sp);
    o << "  features of " << e.analysis_of << ": " << s.value("dead", 0) << " dead;";
    for (const char* k : {"base-only", "shared", "distilled-only", "changed"})
      if (s.contains("class_counts") && s["class_counts"].contains(k)) o << " " << k << " " << s["class_counts"][k];
    largest_changes_lines(o, s);
  });
  reading_json(cp, [&] {
    const Json c = read_json_file(cp);
    o << "\n  reasoning categories (features whose top contexts are mostly that category):";
    for (auto& [k, v] : c["categories"].items()) o << " " << k << " " << v.size();
    o << "\n";
  });
}

void ablation_lines(std::ostringstream& o, const Experiment& e) {
  const std::string ap = e.ablate.out + "/ablation.json";
  if (!e.ablate_on || !fs::exists(ap)) return;
  reading_json(ap, [&] {
  const Json a = read_json_file(ap);
  double kmax = 0;
  for (const Json& r : a["results"]) kmax = std::max(kmax, num(r, "k"));
  // category -> model -> condition -> "mean ± se"
  std::map<std::string, std::map<std::string, std::map<std::string, std::string>>> t;
  for (const Json& r : a["results"])
    if (num(r, "k") == kmax)
      t[r.value("category", std::string())][r.value("model", std::string())][r.value("condition", std::string())] =
          fmt("%+.3f", num(r, "mean_delta_logit")) + " ± " + fmt("%.3f", num(r, "se"));
  if (!a.contains("headline")) {  // an ablation written before matched controls
    o << "  ablation of the top " << fmt("%g", kmax) << "% NRN>" << fmt("%g", e.ablate.nrn_above)
      << " features (target-logit change; top | random | shared):\n";
    for (auto& [cat, models] : t)
      for (auto& [model, conds] : models)
        o << "    " << cat << ", " << model << ": " << conds["top"] << " | " << conds["random"] << " | " << conds["shared"] << "\n";
    return;
  }
  // Δ log p of the target token, top set minus a control matched on removed activity, with 95%
  // bootstrap intervals over sequences; then that effect in the distilled model minus the base's.
  // Two decimals, or four when the effect is that small (so that "significant" never reads +0.00).
  auto ci = [](const Json& s) {
    const Json& c = s["ci95"];
    double scale = std::abs(num(s, "mean"));
    for (const Json& e : c)
      if (e.is_number()) scale = std::max(scale, std::abs(e.get<double>()));
    const char* f = scale < 0.05 ? "%+.4f" : "%+.2f";
    return fmt(f, num(s, "mean")) + " [" + (c[0].is_number() ? fmt(f, c[0].get<double>()) : "?") + ", " +
           (c[1].is_number() ? fmt(f, c[1].get<double>()) : "?") + "]";
  };
  const std::string source = a.value("categories_from", std::string("none"));
  o << "  ablation, top " << fmt("%g", kmax) << "% of NRN>" << fmt("%g", e.ablate.nrn_above)
    << " features" << (source == "none" ? std::string() : " that " + source + " puts in each category")
    << " minus a matched control (Δ log p(target); 95% bootstrap over sequences";
  int64_t comparisons = 0;
  for (const Json& h : a["headline"]) comparisons += num(h, "k") == kmax;
  // Each row is its own 95% interval, uncorrected: about 1 in 20 excludes 0 by chance alone.
  o << "; " << comparisons << " comparisons, each interval uncorrected for multiplicity: about " << fmt("%.1f", 0.05 * double(comparisons))
    << " would exclude 0 by chance):\n";
  for (const Json& h : a["headline"]) {
    if (num(h, "k") != kmax) continue;
    const Json& dmb = h["distilled_minus_base"];
    o << "    " << h.value("category", std::string()) << " vs " << h.value("control", std::string()) << (h.value("controls_matched", false) ? "" : " (not matched)")
      << ": base " << ci(h["base"]) << ", distilled " << ci(h["distilled"]) << "; distilled - base " << ci(dmb)
      << (dmb.value("significant", false) ? " significant" : " not significant") << "\n";
  }
  });
}

void steer_lines(std::ostringstream& o, const Experiment& e) {
  const std::string sp = e.steer.out + "/steer.json";
  if (!e.steer_on || !fs::exists(sp)) return;
  reading_json(sp, [&] {
  const Json s = read_json_file(sp);
  o << "  steering feature " << s.value("feature", int64_t(-1)) << " (" << s.value("feature_choice", std::string()) << ") on the "
    << fs::path(s.value("model", std::string())).filename().string() << " model, " << s.value("n_prompts", 0) << " prompts:\n";
  for (const Json& r : s["table"]) {
    auto mean = [&](const Json& cell) { return cell.contains("mean") && cell["mean"].is_number() ? cell["mean"].get<double>() : 0.0; };
    o << "    alpha " << fmt("%+g", num(r, "alpha")) << " " << r.value("decoding", std::string()) << ": " << fmt("%.0f", mean(r["tokens"]))
      << " tokens, </think> closed " << fmt("%.0f%%", 100 * mean(r["think_closed"])) << ", self-reflection words "
      << fmt("%.2f", r["counts"].contains("self-reflection") ? mean(r["counts"]["self-reflection"]) : 0.0) << ", deductive "
      << fmt("%.2f", r["counts"].contains("deductive") ? mean(r["counts"]["deductive"]) : 0.0) << ", accuracy "
      << fmt("%.0f%%", 100 * mean(r["accuracy"])) << "\n";
  }
  // Steered minus unsteered, paired by prompt and decoding.
  for (const Json& c : s.value("contrasts", Json::array())) {
    const std::string m = c.value("metric", std::string());
    if (m != "tokens" && m != "accuracy" && m != "words:self-reflection") continue;
    o << "    alpha " << fmt("%+g", num(c, "alpha")) << " minus alpha 0, " << m << ": " << fmt("%+.2f", num(c, "mean_diff")) << " "
      << interval(c["ci95"], "%+.2f") << " over " << c.value("prompts", 0) << " prompts, sign test p = " << fmt("%.3f", num(c, "sign_test_p"))
      << ", Wilcoxon p = " << fmt("%.3f", num(c, "wilcoxon_p")) << (c.value("significant", false) ? " significant" : " not significant")
      << "\n";
  }
  });
}

void geometry_lines(std::ostringstream& o, const Experiment& e) {
  const std::string gp = e.geometry.out + "/geometry.json";
  if (!e.geometry_on || !fs::exists(gp)) return;
  reading_json(gp, [&] {
  const Json g = read_json_file(gp);
  if (!g.contains("summary") || g["summary"].empty()) return;
  const Json& s = g["summary"][0];
  const double ps = num(s, "sign_test_p"), pw = num(s, "wilcoxon_p");
  o << "  geometry: parallelogram loss lower in the distilled model on " << s.value("distilled_lower", 0) << " of "
    << s.value("tasks", 0) << " tasks (" << fmt("%.0f%%", 100 * num(s, "fraction_distilled_lower")) << "; mean difference distilled - base "
    << fmt("%+.4f", num(s, "mean_diff")) << ")";
  if (s.contains("sign_test_p") && s.contains("wilcoxon_p"))
    o << "; paired across tasks: sign test p = " << fmt("%.3f", ps) << ", Wilcoxon p = " << fmt("%.3f", pw)
      << (std::max(ps, pw) < 0.05 ? " (significant at 0.05)" : std::min(ps, pw) < 0.05 ? " (the two tests disagree at 0.05)" : " (not significant at 0.05)");
  o << "\n";
  });
}

// enrichment.json: what was tested, the enriched pairs against the shuffled-tag null, the categories
// it gives, and its agreement with the lexicon (and labels, when given).
void enrichment_lines(std::ostringstream& o, const Experiment& e) {
  const std::string ep = e.enrich.out + "/enrichment.json";
  if (!e.enrich_on || !fs::exists(ep)) return;
  reading_json(ep, [&] {
    const Json j = read_json_file(ep);
    auto total = [](const Json& per) {
      int64_t n = 0;
      for (const auto& [k, v] : per.items()) n += v.get<int64_t>();
      return n;
    };
    // Named copies: a range-for over .items() of a temporary would iterate a destroyed object.
    const Json null = j.value("null", Json::object()), per_category = j.value("features_per_category", Json::object()),
               agreement = j.value("agreement", Json::object());
    o << "  enrichment: " << j.value("features_tested", 0) << " features tested on " << j.value("sentences", 0) << " tagged sentences; "
      << total(j.value("enriched_features_per_tag", Json::object())) << " enriched (feature, tag) pairs at FDR " << fmt("%g", num(j, "fdr"))
      << " vs " << total(null.value("enriched_features_per_tag", Json::object())) << " with the tags shuffled; categories:";
    for (const auto& [k, v] : per_category.items()) o << " " << k << " " << v.get<int64_t>();
    for (const auto& [k, a] : agreement.items())
      o << "; " << k << " kappa " << (a.contains("kappa") && a["kappa"].is_number() ? fmt("%.3f", a["kappa"].get<double>()) : "n/a") << " over "
        << a.value("assessed", 0) << " features";
    o << "\n";
  });
}

// calibration.json: per pair and crosscoder, the plant's signature, and every check that failed.
void calibration_lines(std::ostringstream& o, const Experiment& e) {
  const std::string cp = e.calibration.out + "/calibration.json";
  if (!e.calibration_on || !fs::exists(cp)) return;
  const Json c = read_calibration_json(cp);
  reading_json(cp, [&] {
    o << "  calibration (" << c["passed"] << " of " << c["checks"] << " checks pass; " << cp << "):\n";
    for (auto& [pair, per] : c["pairs"].items())
      for (auto& [name, r] : per.items()) {
        int64_t n = 0, ok = 0;
        for (const Json& k : r["checks"]) n++, ok += k["pass"].get<bool>();
        o << "    " << pair << " / " << name << ": " << (n == 0 ? std::string("figures only (a null or reference pair)") : std::to_string(ok) + " of " + std::to_string(n) + " pass");
        if (r.contains("feature")) {
          const Json& f = r["feature"];
          o << "; plant in feature " << f["index"] << " (" << f["class"].get<std::string>() << ", NRN " << fmt("%.2f", num(f, "nrn"))
            << ", cos_ab " << fmt("%.2f", num(f, "cos_ab")) << ", change rank " << f["change_rank"] << "), cos(d_B - d_A, u) "
            << fmt("%.3f", num(f, "cos_delta_u"));
        }
        if (r.contains("not_shared")) o << "; " << r["not_shared"] << " of " << r["alive"] << " alive features not shared";
        if (r.contains("change_mass_total")) o << ", change mass " << fmt("%.4g", num(r, "change_mass_total"));
        if (r.contains("signature")) o << "; " << (r["signature"]["one_feature_for_all"].get<bool>() ? "one feature for all triggers" : "features differ by trigger");
        for (const Json& k : r["checks"])
          if (!k["pass"].get<bool>()) o << "\n      FAILED: " << k["check"].get<std::string>() << " = " << fmt("%.4g", num(k, "figure"))
                                        << " (needs " << k["threshold"].get<std::string>() << ")";
        o << "\n";
      }
  });
}

}  // namespace

std::string run_summary(const Experiment& e, const std::vector<StageOutcome>& stages) {
  std::ostringstream o;
  o << "run " << e.out << " (" << e.file << ")\n";
  double total = 0;
  o << "  stages:";
  for (const auto& s : stages) {
    o << " " << s.name << " " << human_duration(s.seconds) << (s.skipped ? " (earlier)" : "");
    if (!s.skipped) total += s.seconds;
  }
  o << "; this invocation " << human_duration(total) << "\n";
  std::string cpu;
  for (const auto& s : stages)
    if (!s.skipped)
      cpu += " " + s.name + " " + std::to_string(int(std::lround(s.usage.user_s))) + "/" + std::to_string(int(std::lround(s.usage.system_s))) +
             " (" + std::to_string(int(std::lround(100 * s.usage.system_share()))) + "%)";
  if (!cpu.empty()) o << "  CPU seconds user/system (system share):" << cpu << "\n";
  calibration_lines(o, e);
  store_lines(o, e);
  crosscoder_lines(o, e);
  analysis_lines(o, e);
  ablation_lines(o, e);
  steer_lines(o, e);
  geometry_lines(o, e);
  enrichment_lines(o, e);
  if (fs::exists(e.report.out)) o << "  report: " << e.report.out << " (one self-contained file; open it in a browser)\n";
  return o.str();
}

}  // namespace cc

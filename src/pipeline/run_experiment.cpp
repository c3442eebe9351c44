#include "pipeline/run_experiment.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>

#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/strings.hpp"
#include "dist/comm.hpp"
#include "pipeline/stage_record.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

struct Stage {
  std::string name;
  Json settings;                     // everything that determines the output, inputs' stamps included
  std::vector<std::string> deps;     // stages whose outputs it reads
  std::string dir;                   // its output folder (removed before a fresh start)
  std::function<std::string(bool resume)> run;  // returns a note
  std::function<bool()> resumable;   // true when partial output can be continued
  bool distributed = false;          // under mpirun every rank runs it (harvest, train, analyze, ...); else rank 0 alone
};

Json corpora_json(const std::vector<CorpusSpec>& cs) {
  Json a = Json::array();
  for (const auto& c : cs) a.push_back({{"spec", c.text()}, {"stamp", file_stamp(c.path)}});
  return a;
}

Json models_json(const HarvestConfig& h) {
  return {{"base", h.base_dir}, {"distilled", h.distilled_dir}, {"base_stamp", file_stamp(h.base_dir)},
          {"distilled_stamp", file_stamp(h.distilled_dir)}, {"tokenizer", h.tokenizer}, {"tokenizer_stamp", file_stamp(h.tokenizer)}};
}

const char* mode_name(ComputeMode m) { return m == ComputeMode::F32 ? "f32" : "bf16"; }

// The first candidate that names a feature: an index, a category with features in the analysis,
// or "top-nrn" (the live feature with the highest NRN: the most distilled-only one).
std::string pick_steer_feature(const std::vector<std::string>& candidates, const std::string& analysis) {
  std::string tried;
  for (const auto& c : candidates) {
    if (!c.empty() && c.find_first_not_of("0123456789") == std::string::npos) return c;
    if (c == "top-nrn") {
      int64_t best = -1;
      double best_nrn = -1;
      for_each_jsonl(analysis + "/features.jsonl", [&](const Json& j, size_t) {
        if (j.value("dead", true) || !j.contains("nrn") || !j["nrn"].is_number()) return;
        if (j["nrn"].get<double>() > best_nrn) {
          best_nrn = j["nrn"].get<double>();
          best = j.value("feature", int64_t(-1));
        }
      });
      if (best >= 0) return std::to_string(best);
      tried += (tried.empty() ? "" : ", ") + c;
      continue;
    }
    const std::string cp = analysis + "/categories.json";
    const Json root = read_json_file(cp);
    if (root.contains("categories") && root["categories"].contains(c) && root["categories"][c].is_array() && !root["categories"][c].empty())
      return c;
    tried += (tried.empty() ? "" : ", ") + c;
  }
  fail(analysis + "/categories.json", "steering.feature", "names no category with a feature in this analysis", "", tried,
       "add a feature index or another category to [steering].feature");
}

// harvest: both models to the hook over the corpora → store/.
void add_harvest_stage(const Experiment& e, std::vector<Stage>& st) {
  const HarvestConfig& h = e.harvest;
  Json s = h.to_json();
  s["models"] = models_json(h);
  s["corpora"] = corpora_json(h.corpora);
  s["held_out_stamp"] = file_stamp(h.pack.held_out_list);
  s["tokens"] = e.store.tokens;
  s["shard_rows"] = e.store.shard_rows;
  s["norm_rows"] = e.store.norm_rows;
  s["store_dtype"] = dtype_name(e.store.dtype);
  st.push_back({"harvest", s, {}, e.store.out,
                [&e](bool resume) {
                  StoreOptions o = e.store;
                  o.resume = resume;
                  o.progress = e.progress;
                  const int64_t rows = harvest_to_store(e.harvest, o);
                  return std::to_string(rows) + " tokens";
                },
                [&e] { return fs::exists(e.store.out + "/manifest.json"); }, true});
}

// train-NAME: one crosscoder per [crosscoder.NAME] table → crosscoder-NAME/.
void add_train_stages(const Experiment& e, std::vector<Stage>& st) {
  for (const NamedCrosscoder& n : e.crosscoders) {
    Json s = n.cfg.to_json();
    s["buffer_rows"] = n.train.buffer_rows;
    s["save_every"] = n.train.save_every;
    st.push_back({"train-" + n.name, s, {"harvest"}, n.train.out,
                  [&n, &e](bool resume) {
                    TrainOptions t = n.train;
                    t.resume = resume;
                    t.progress = e.progress;
                    const TrainSummary r = train_crosscoder(n.cfg, t);
                    char buf[160];
                    std::snprintf(buf, sizeof buf, "held-out FVU %.3f / %.3f, L0 %.1f, never active %.1f%%", r.eval.fvu[0],
                                  r.eval.fvu[1], r.eval.l0, 100 * r.eval.inactive_frac);
                    return std::string(buf);
                  },
                  [&n] { return fs::exists(n.train.out + "/trainer_state.safetensors"); }, true});
  }
}

// spliced-loss-NAME: each crosscoder in the models' loop → crosscoder-NAME/spliced_loss.json.
void add_spliced_loss_stages(const Experiment& e, std::vector<Stage>& st) {
  const HarvestConfig& h = e.harvest;
  if (e.spliced_loss_on) {
    const SplicedLossOptions& o = e.spliced_loss;
    for (const NamedCrosscoder& n : e.crosscoders) {
      Json s = {{"corpora", corpora_json(o.corpora)}, {"sequences", o.sequences}, {"seq_len", o.seq_len}, {"seed", o.seed},
                {"eval_fraction", o.eval_fraction}, {"held_out_list", o.held_out_list},
                {"held_out_stamp", file_stamp(o.held_out_list)}, {"batch_tokens", o.batch_tokens}, {"bootstrap", o.bootstrap},
                {"compute", mode_name(o.mode)}, {"models", models_json(h)}};
      st.push_back({"spliced-loss-" + n.name, s, {"train-" + n.name}, "",
                    [&n, &e](bool) {
                      SplicedLossOptions o = e.spliced_loss;
                      o.crosscoder = n.train.out;
                      o.out = n.train.out + "/spliced_loss.json";
                      o.progress = e.progress;
                      const SplicedLoss r = run_spliced_loss(o);
                      char buf[160];
                      std::snprintf(buf, sizeof buf, "loss recovered %.3f / %.3f, CE %+.4f / %+.4f nats", r.model[0].recovered,
                                    r.model[1].recovered, r.model[0].ce_spliced - r.model[0].ce_clean,
                                    r.model[1].ce_spliced - r.model[1].ce_clean);
                      return std::string(buf);
                    },
                    nullptr});
    }
  }
}

// analyze: the analysed crosscoder's feature tables → analysis/.
void add_analyze_stage(const Experiment& e, std::vector<Stage>& st) {
  const HarvestConfig& h = e.harvest;
  const AnalyzeOptions& a = e.analyze;
  Json s = {{"crosscoder", a.crosscoder}, {"tokens", a.max_tokens}, {"top", a.top_n}, {"samples", a.samples},
            {"context", a.context}, {"base_only_below", a.base_only_below}, {"distilled_only_above", a.distilled_only_above},
            {"changed_below", a.changed_below}, {"changed_min_ratio", a.changed_min_ratio}, {"majority", a.category_majority}, {"logit_tokens", a.logit_tokens}, {"lexicon", a.lexicon},
            {"lexicon_stamp", file_stamp(a.lexicon)}, {"logit_lens", !a.base_model.empty()}, {"models", models_json(h)}};
  st.push_back({"analyze", s, {"train-" + e.analysis_of}, a.out,
                [&e](bool) {
                  AnalyzeOptions a = e.analyze;
                  a.progress = e.progress;
                  analyze_crosscoder(a);
                  return std::string();
                },
                nullptr, true});
}

// ablate: feature ablation in both models → ablation/.
void add_ablate_stage(const Experiment& e, std::vector<Stage>& st) {
  const HarvestConfig& h = e.harvest;
  if (e.ablate_on) {
    const AblateOptions& b = e.ablate;
    Json ks(b.ks);
    Json s = {{"corpora", corpora_json(b.corpora)}, {"categories", b.categories}, {"k", ks}, {"sequences", b.sequences},
              {"seq_len", b.seq_len}, {"positions", b.positions}, {"rank_positions", b.rank_positions}, {"nrn_above", b.nrn_above},
              {"seed", b.seed}, {"eval_fraction", b.eval_fraction}, {"held_out_list", b.held_out_list},
              {"held_out_stamp", file_stamp(b.held_out_list)}, {"batch_tokens", b.batch_tokens}, {"compute", mode_name(b.mode)}, {"models", models_json(h)},
              {"lexicon", b.lexicon}, {"lexicon_stamp", file_stamp(b.lexicon)},
              {"categories_from", category_source_name(b.categories_from)}};
    std::vector<std::string> deps = {"analyze"};
    if (b.categories_from == CategorySource::Enrichment) deps.push_back("enrich");
    if (b.categories_from == CategorySource::Labels) {
      s["labels"] = b.labels;
      s["labels_stamp"] = file_stamp(b.labels);
    }
    st.push_back({"ablate", s, deps, b.out,
                  [&e](bool) {
                    AblateOptions b = e.ablate;
                    b.progress = e.progress;
                    run_ablation(b);
                    return std::string();
                  },
                  nullptr, true});
  }
}

// steer: the steering sweep → steer/.
void add_steer_stage(const Experiment& e, std::vector<Stage>& st) {
  const HarvestConfig& h = e.harvest;
  if (e.steer_on) {
    const SteerSweepOptions& v = e.steer;
    Json s = {{"features", e.steer_features}, {"model", v.model}, {"slice", v.slice}, {"alphas", v.alphas}, {"prompts", v.prompts},
              {"prompts_stamp", file_stamp(v.prompts)}, {"problems", v.problems}, {"samples", v.samples}, {"greedy", v.greedy},
              {"temperature", v.temperature}, {"top_p", v.top_p}, {"max_new_tokens", v.max_new_tokens}, {"chat", v.chat},
              {"generated_only", v.generated_only}, {"compute", mode_name(v.mode)}, {"models", models_json(h)},
              {"problems_file", v.problems_file}, {"problems_file_stamp", file_stamp(v.problems_file)},
              {"lexicon", v.lexicon}, {"lexicon_stamp", file_stamp(v.lexicon)}};
    st.push_back({"steer", s, {"analyze"}, v.out,
                  [&e](bool resume) {
                    SteerSweepOptions o = e.steer;
                    o.feature = pick_steer_feature(e.steer_features, o.analysis);
                    o.resume = resume;
                    o.progress = e.progress;
                    run_steer_sweep(o);
                    return "feature " + o.feature;
                  },
                  [&e] { return fs::exists(e.steer.out + "/transcripts.jsonl"); }, true});
  }
}

// geometry: parallelogram loss of both models → geometry/.
void add_geometry_stage(const Experiment& e, std::vector<Stage>& st) {
  const HarvestConfig& h = e.harvest;
  if (e.geometry_on) {
    const GeometryOptions& g = e.geometry;
    Json s = {{"datasets", g.datasets}, {"datasets_stamp", file_stamp(g.datasets)}, {"hook", g.layer}, {"tasks", g.tasks},
              {"pca", g.pca}, {"template", g.word_template}, {"start", g.start}, {"bootstrap", g.bootstrap}, {"seed", g.seed},
              {"batch_tokens", g.batch_tokens}, {"compute", mode_name(g.mode)}, {"models", models_json(h)}};
    st.push_back({"geometry", s, {}, g.out,
                  [&e](bool) {
                    GeometryOptions g = e.geometry;
                    g.progress = e.progress;
                    run_geometry(g);
                    return std::string();
                  },
                  nullptr, true});
  }
}

// enrich: sentence-tag enrichment of the analysed crosscoder, compared with the analysis's lexicon
// categories → enrichment/.
void add_enrich_stage(const Experiment& e, std::vector<Stage>& st) {
  if (!e.enrich_on) return;
  const EnrichRunOptions& r = e.enrich;
  Json s = {{"crosscoder", r.crosscoder}, {"sentences", r.sentences}, {"sentences_stamp", file_stamp(r.sentences)},
            {"permutations", r.stats.permutations}, {"min_sentences", r.stats.min_sentences},
            {"seed", r.stats.seed}, {"fdr", r.fdr}, {"min_ratio", r.min_ratio}, {"seq_len", r.seq_len}, {"max_traces", r.max_traces},
            {"compute", mode_name(r.models.mode)}, {"models", models_json(e.harvest)}};
  st.push_back({"enrich", s, {"analyze"}, r.out,
                [&e](bool) {
                  EnrichRunOptions r = e.enrich;
                  r.models.progress = e.progress;
                  run_enrichment(r);
                  return std::string();
                },
                nullptr});
}

// report: everything above → report.html.
void add_report_stage(const Experiment& e, std::vector<Stage>& st) {
  const ReportOptions& r = e.report;
  Json s = {{"file", r.out}, {"top_examples", r.top_examples}, {"sample_examples", r.sample_examples}, {"context", r.context},
            {"transcript_chars", r.transcript_chars}, {"assets", r.assets},
            {"assets_stamp", {file_stamp(r.assets + "/app.js"), file_stamp(r.assets + "/style.css")}}};
  std::vector<std::string> deps;
  for (const Stage& x : st) deps.push_back(x.name);
  st.push_back({"report", s, deps, "",
                [&e](bool) {
                  const size_t bytes = write_report(e.report);
                  return e.report.out + " (" + human_bytes(double(bytes)) + ")";
                },
                nullptr});
}

// calibration: the planted and identical pairs → calibration/calibration.json. Independent of the
// pair's stages, so it runs first and the report can open with it.
void add_calibration_stage(const Experiment& e, std::vector<Stage>& st) {
  if (!e.calibration_on) return;
  const CalibrationOptions& c = e.calibration;
  Json s = calibration_settings(c);
  s["model_stamp"] = file_stamp(c.base);
  s["corpora"] = corpora_json(c.corpora);
  s["probe_corpora"] = corpora_json(c.probe_corpora);
  s["held_out_stamp"] = file_stamp(c.held_out_list);
  s["lexicon_stamp"] = file_stamp(c.analysis.lexicon);
  st.push_back({"calibration", s, {}, c.out,
                [&e](bool resume) {
                  CalibrationOptions c = e.calibration;
                  c.progress = e.progress;
                  c.resume = resume;
                  const Json r = read_json_file(run_calibration(c));
                  return std::to_string(r["passed"].get<int64_t>()) + " of " + std::to_string(r["checks"].get<int64_t>()) + " checks pass";
                },
                [&e] { return fs::exists(e.calibration.out + "/planted"); }});
}

// A distributed stage on every rank; any other on rank 0 alone, with the cores the other ranks on
// its machine leave idle meanwhile (unless the run fixed its thread count).
void run_stage(const Stage& s, bool resume, int threads, std::string& note) {
  if (s.distributed || dist::size() == 1) {
    note = s.run(resume);
    // Rank 0 may still be writing the stage's files when the others are done with their share; the
    // next stage may read them (steering picks its feature from the analysis) on every rank.
    dist::barrier();
    return;
  }
  dist::root_alone([&] {
    if (threads <= 0) set_num_threads(allowed_cpus());
    note = s.run(resume);
    set_num_threads(threads);
  });
}

std::vector<Stage> plan(const Experiment& e) {
  std::vector<Stage> st;
  add_calibration_stage(e, st);
  if (!e.pair_on) return st;
  add_harvest_stage(e, st);
  add_train_stages(e, st);
  add_spliced_loss_stages(e, st);
  add_analyze_stage(e, st);
  add_enrich_stage(e, st);  // before ablate, which can take its categories from it
  add_ablate_stage(e, st);
  add_steer_stage(e, st);
  add_geometry_stage(e, st);
  add_report_stage(e, st);
  return st;
}

}  // namespace

std::vector<std::string> stage_names(const Experiment& e) {
  std::vector<std::string> n;
  for (const Stage& s : plan(e)) n.push_back(s.name);
  return n;
}

std::vector<StageOutcome> run_experiment(const Experiment& e, const RunOptions& opt) {
  const std::vector<Stage> stages = plan(e);
  if (!opt.until.empty()) {
    bool known = false;
    for (const Stage& s : stages) known |= s.name == opt.until;
    if (!known) {
      std::string all;
      for (const Stage& s : stages) all += (all.empty() ? "" : ", ") + s.name;
      fail(e.file, "--until " + opt.until, "is not a stage of this experiment", all);
    }
  }
  std::error_code ec;
  if (dist::root()) fs::create_directories(e.out, ec);
  if (ec) fail(e.out, "", "cannot create the run folder: " + ec.message());
  dist::barrier();
  set_num_threads(e.threads);
  StageRecord rec(e.out);
  std::map<std::string, std::string> fps;
  std::vector<StageOutcome> outcomes;
  const size_t total = stages.size();
  for (size_t i = 0; i < total; ++i) {
    const Stage& s = stages[i];
    std::string text = s.settings.dump();
    for (const auto& d : s.deps) text += "|" + d + "=" + fps.at(d);
    const std::string fp = fingerprint_of(text);
    fps[s.name] = fp;
    StageOutcome o;
    o.name = s.name;
    const std::string tag = "[run " + std::to_string(i + 1) + "/" + std::to_string(total) + "] " + s.name;
    // Rank 0 decides (it alone keeps RUN/stages.json), every rank follows.
    std::string decision;
    if (dist::root()) {
      const bool skip = !opt.force && rec.done(s.name, fp);
      const bool resume = !skip && !opt.force && rec.started(s.name, fp) && s.resumable && s.resumable();
      decision = skip ? "skip" : resume ? "resume" : "run";
    }
    dist::broadcast(decision);
    if (decision == "skip") {
      o.skipped = true;
      o.seconds = rec.json()[s.name].value("seconds", 0.0);
      if (dist::root())
        std::fprintf(stderr, "%s: up to date (took %s when it ran), skipped\n", tag.c_str(), human_duration(o.seconds).c_str());
      outcomes.push_back(o);
    } else {
      const bool resume = decision == "resume";
      if (dist::root()) {
        if (!resume && !s.dir.empty()) fs::remove_all(s.dir, ec);
        std::fprintf(stderr, "%s: %s\n", tag.c_str(), resume ? "resuming the interrupted stage" : "running");
        rec.mark_started(s.name, fp, s.settings);
      }
      dist::barrier();
      const auto t0 = std::chrono::steady_clock::now();
      const ResourceUsage u0 = ResourceUsage::now();
      run_stage(s, resume, e.threads, o.note);
      o.usage = ResourceUsage::now() - u0;
      o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (dist::root()) {
        rec.mark_done(s.name, o.seconds, o.usage);
        std::fprintf(stderr, "%s: done in %s (CPU: user %.1f s, system %.1f s = %.1f%% of user, %lld minor page faults)%s%s\n", tag.c_str(),
                     human_duration(o.seconds).c_str(), o.usage.user_s, o.usage.system_s, 100 * o.usage.system_share(),
                     (long long)o.usage.minor_faults, o.note.empty() ? "" : ": ", o.note.c_str());
      }
      outcomes.push_back(o);
    }
    if (s.name == opt.until) break;
  }
  return outcomes;
}

}  // namespace cc

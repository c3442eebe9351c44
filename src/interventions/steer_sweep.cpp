// The steering sweep: runs (alpha × prompt × decoding) of one prompt are decoded together in batches
// (generate_batch: each run's tokens are those it would get alone), each with its own KV cache;
// a batch's runs are appended to transcripts.jsonl when it finishes, so an interrupted sweep
// resumes where it stopped (--resume); the table is recomputed from every transcript at the end.
#include "interventions/steer_sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "data/lexicon.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/jsonl_log.hpp"
#include "core/progress.hpp"
#include "core/stats.hpp"
#include "data/answer.hpp"
#include "dist/bytes.hpp"
#include "dist/comm.hpp"
#include "interventions/steering.hpp"
#include "model/generate.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace fs = std::filesystem;

int64_t resolve_steer_feature(const std::string& feature, const std::string& analysis, std::string* why) {
  if (feature.empty()) fail("", "--feature", "is empty", "an index or a category name");
  if (feature.find_first_not_of("0123456789") == std::string::npos) {
    if (why) *why = "index";
    return std::stoll(feature);
  }
  if (analysis.empty()) fail("", "--feature " + feature, "is a category name, which needs --analysis DIR (from `crosscoder analyze`)");
  const std::string cp = analysis + "/categories.json";
  const Json root = read_json_file(cp);
  if (!root.is_object() || !root.contains("categories") || !root["categories"].is_object())
    fail(cp, "categories", "is missing or not an object; is this a `crosscoder analyze` output?");
  const Json& cats = root["categories"];
  if (!cats.contains(feature)) {
    std::string all;
    for (auto& [k, v] : cats.items()) all += (all.empty() ? "" : ", ") + k;
    fail(cp, "category '" + feature + "'", "does not exist", all, feature);
  }
  const Json& ids = cats[feature];
  if (!ids.is_array() || ids.empty()) fail(cp, "category '" + feature + "'", "has no feature in this analysis");
  // NRN from features.jsonl, to prefer a distilled-leaning feature as the paper steers.
  std::map<int64_t, double> nrn;
  const std::string fp = analysis + "/features.jsonl";
  if (fs::exists(fp)) {
    for_each_jsonl(fp, [&](const Json& j, size_t) { nrn[j.value("feature", int64_t(-1))] = j.value("nrn", 0.0); });
  }
  for (const Json& id : ids) {
    const int64_t i = id.get<int64_t>();
    if (nrn.count(i) && nrn[i] > 0.5) {
      if (why) *why = "top feature of category '" + feature + "' with NRN > 0.5 (NRN " + std::to_string(nrn[i]) + ")";
      return i;
    }
  }
  if (why) *why = "top feature of category '" + feature + "' (none has NRN > 0.5)";
  return ids[0].get<int64_t>();
}

namespace {

std::string run_key(double alpha, size_t prompt, int seed) {
  return Json({alpha, prompt, seed}).dump();
}

struct Stat {
  std::vector<double> v;
  Json json() const {
    if (v.empty()) return {{"n", 0}, {"mean", nullptr}, {"ci95", nullptr}};
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= double(v.size());
    for (double x : v) s += (x - m) * (x - m);
    const double se = v.size() > 1 ? std::sqrt(s / double(v.size() - 1) / double(v.size())) : 0;
    return {{"n", v.size()}, {"mean", m}, {"ci95", {m - 1.96 * se, m + 1.96 * se}}};
  }
};

// Reads the finished runs; a torn last line (the process died mid-write) is dropped.
std::map<std::string, Json> read_transcripts(const std::string& path) {
  std::map<std::string, Json> done;
  const JsonlLog log(path);
  for (size_t i = 0; i < log.lines().size(); ++i) {
    const Json& j = log.lines()[i];
    const std::string at = path + ":" + std::to_string(i + 1);
    done[run_key(json_get<double>(j, "alpha", at), size_t(json_get<int64_t>(j, "prompt", at)), int(json_get<int64_t>(j, "seed", at)))] = j;
  }
  return done;
}

// The settings a resumed sweep must share (alphas and samples may grow).
Json sweep_settings(const SteerSweepOptions& opt, int64_t feature, const ChatTemplate& tmpl) {
  return {{"crosscoder", opt.crosscoder}, {"model", opt.model}, {"feature", feature}, {"slice", opt.slice == 1 ? "B" : "A"},
          {"chat", chat_template_name(tmpl)}, {"temperature", opt.temperature}, {"top_p", opt.top_p},
          {"max_new_tokens", opt.max_new_tokens}, {"generated_only", opt.generated_only},
          {"prompts", opt.prompts.empty() ? "default" : opt.prompts}, {"problems", opt.problems},
          {"compute", opt.mode == ComputeMode::F32 ? "f32" : "bf16"}};
}

// The finished runs of an earlier sweep in OUT (with --resume, and only under the same settings).
std::map<std::string, Json> finished_runs(const std::string& tpath, const std::string& spath, const Json& settings, bool resume) {
  if (!fs::exists(tpath)) return {};
  if (!resume) fail(tpath, "", "already exists", "", "", "pass --resume to continue that sweep, or another --out");
  if (fs::exists(spath)) {
    const Json old = read_json_file(spath);
    for (auto& [k, v] : settings.items())
      if (old.value(k, Json()) != v) fail(spath, k, "differs from this sweep's; cannot resume", old.value(k, Json()).dump(), v.dump());
  }
  return read_transcripts(tpath);
}

struct Run {
  double alpha;
  size_t prompt;
  int seed;  // 0 = greedy
};

std::vector<Run> plan_runs(const SteerSweepOptions& opt, size_t n_prompts) {
  std::vector<Run> runs;
  for (double a : opt.alphas)
    for (size_t p = 0; p < n_prompts; ++p) {
      if (opt.greedy) runs.push_back({a, p, 0});
      for (int s = 1; s <= opt.samples; ++s) runs.push_back({a, p, s});
    }
  return runs;
}

// The runs still to do, grouped by prompt into decode batches of at most batch_runs.
std::vector<std::vector<Run>> decode_batches(const std::vector<Run>& runs, const std::map<std::string, Json>& done, size_t n_prompts,
                                             int batch_runs) {
  std::vector<std::vector<Run>> out;
  for (size_t p = 0; p < n_prompts; ++p) {
    std::vector<Run> cur;
    for (const Run& r : runs) {
      if (r.prompt != p || done.count(run_key(r.alpha, r.prompt, r.seed))) continue;
      cur.push_back(r);
      if (int(cur.size()) == batch_runs) out.push_back(std::move(cur)), cur.clear();
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  return out;
}

// The finished runs' keys on every rank (rank 0 read them) with empty values: enough for
// decode_batches, which only asks whether a run is done.
std::map<std::string, Json> share_done(const std::map<std::string, Json>& done) {
  std::string keys;
  if (dist::root())
    for (const auto& [k, v] : done) keys += k + "\n";
  dist::broadcast(keys);
  std::map<std::string, Json> out;
  for (size_t at = 0, nl; (nl = keys.find('\n', at)) != std::string::npos; at = nl + 1) out[keys.substr(at, nl - at)] = Json();
  return out;
}

// One transcript line: where </think> completes (in tokens), reasoning-word counts, the answer.
Json transcript_line(const Run& r, const GenerateResult& res, double seconds, const Tokenizer& tok, const Lexicon& lex,
                     const SteerPrompt& p) {
  std::string bytes;
  Json think = nullptr;
  for (size_t i = 0; i < res.tokens.size(); ++i) {
    const size_t from = bytes.size() > 8 ? bytes.size() - 8 : 0;
    bytes += tok.decode_bytes({res.tokens[i]});
    if (think.is_null() && bytes.find("</think>", from) != std::string::npos) think = int64_t(i + 1);
  }
  const std::string text = tok.decode(res.tokens);
  const auto counts = lex.count(text);
  Json cj = Json::object();
  for (size_t c = 0; c < counts.size(); ++c) cj[lex.categories[c]] = counts[c];
  const auto ans = extract_answer(text);
  Json correct = nullptr;
  if (!p.answer.empty()) correct = ans && answers_match(*ans, p.answer);
  return {{"alpha", r.alpha}, {"prompt", r.prompt}, {"seed", r.seed}, {"decoding", r.seed == 0 ? "greedy" : "sampled"},
          {"tokens", res.tokens.size()}, {"think_tokens", think}, {"stopped_on_eos", res.stopped_on_eos},
          {"counts", cj}, {"answer", ans ? Json(*ans) : Json(nullptr)}, {"reference", p.answer}, {"correct", correct},
          {"seconds", seconds}, {"question", p.question}, {"text", text}};
}

// The table over alpha and decoding from every transcript of the runs asked for: rows into table,
// the same as CSV.
void sweep_table(const SteerSweepOptions& opt, const std::vector<Run>& runs, const std::map<std::string, Json>& done,
                 const Lexicon& lex, Json& table, std::ostringstream& csv) {
  csv << "alpha,decoding,runs,tokens_mean,tokens_lo,tokens_hi,think_closed,think_tokens_mean,think_tokens_lo,think_tokens_hi,"
         "accuracy,accuracy_lo,accuracy_hi";
  for (const auto& c : lex.categories) csv << "," << c << "_mean";
  csv << "\n";
  for (double a : opt.alphas)
    for (const char* dec : {"greedy", "sampled"}) {
      Stat tokens, think, closed, acc;
      std::vector<Stat> cnt(lex.categories.size());
      for (const Run& r : runs) {
        if (r.alpha != a || (r.seed == 0) != (std::string(dec) == "greedy")) continue;
        const Json& j = done.at(run_key(r.alpha, r.prompt, r.seed));
        tokens.v.push_back(j["tokens"].get<double>());
        closed.v.push_back(j["think_tokens"].is_null() ? 0.0 : 1.0);
        if (!j["think_tokens"].is_null()) think.v.push_back(j["think_tokens"].get<double>());
        if (!j["correct"].is_null()) acc.v.push_back(j["correct"].get<bool>() ? 1.0 : 0.0);
        for (size_t c = 0; c < cnt.size(); ++c) cnt[c].v.push_back(j["counts"].value(lex.categories[c], 0.0));
      }
      if (tokens.v.empty()) continue;
      Json counts = Json::object();
      for (size_t c = 0; c < cnt.size(); ++c) counts[lex.categories[c]] = cnt[c].json();
      const Json row = {{"alpha", a}, {"decoding", dec}, {"runs", tokens.v.size()}, {"tokens", tokens.json()},
                        {"think_closed", closed.json()}, {"think_tokens", think.json()}, {"accuracy", acc.json()}, {"counts", counts}};
      table.push_back(row);
      auto f = [](const Json& s, const char* k) { return s[k].is_null() ? std::string() : s[k].dump(); };
      auto ci = [](const Json& s, int i) { return s["ci95"].is_null() ? std::string() : s["ci95"][i].dump(); };
      csv << a << "," << dec << "," << tokens.v.size() << "," << f(row["tokens"], "mean") << "," << ci(row["tokens"], 0) << ","
          << ci(row["tokens"], 1) << "," << f(row["think_closed"], "mean") << "," << f(row["think_tokens"], "mean") << ","
          << ci(row["think_tokens"], 0) << "," << ci(row["think_tokens"], 1) << "," << f(row["accuracy"], "mean") << ","
          << ci(row["accuracy"], 0) << "," << ci(row["accuracy"], 1);
      for (size_t c = 0; c < cnt.size(); ++c) csv << "," << f(counts[lex.categories[c]], "mean");
      csv << "\n";
    }
}

// Each steered alpha against alpha 0, run by run: the same prompt and decoding (greedy, or the same
// sampling seed), so the prompt's own difficulty cancels. Per metric: the mean paired difference,
// its 95% bootstrap interval over prompts (the runs of one prompt are not independent), and exact
// sign and Wilcoxon signed-rank p-values over the prompts' mean differences.
Json contrasts_to_unsteered(const SteerSweepOptions& opt, const std::vector<Run>& runs, const std::map<std::string, Json>& done,
                            const Lexicon& lex) {
  Json out = Json::array();
  if (std::find(opt.alphas.begin(), opt.alphas.end(), 0.0) == opt.alphas.end()) return out;
  // metric name → value of one run (NaN when the run has none, e.g. no answer to grade)
  std::vector<std::pair<std::string, std::function<double(const Json&)>>> metrics = {
      {"tokens", [](const Json& j) { return j["tokens"].get<double>(); }},
      {"think_closed", [](const Json& j) { return j["think_tokens"].is_null() ? 0.0 : 1.0; }},
      {"accuracy", [](const Json& j) { return j["correct"].is_null() ? NAN : (j["correct"].get<bool>() ? 1.0 : 0.0); }}};
  for (const std::string& c : lex.categories)
    metrics.push_back({"words:" + c, [c](const Json& j) { return j["counts"].value(c, 0.0); }});
  for (double a : opt.alphas) {
    if (a == 0) continue;
    for (const auto& [name, value] : metrics) {
      std::vector<double> d;
      std::vector<int64_t> unit;
      std::map<int64_t, std::pair<double, int>> per_prompt;
      for (const Run& r : runs) {
        if (r.alpha != a) continue;
        const double v = value(done.at(run_key(a, r.prompt, r.seed))), v0 = value(done.at(run_key(0.0, r.prompt, r.seed)));
        if (!std::isfinite(v) || !std::isfinite(v0)) continue;
        d.push_back(v - v0);
        unit.push_back(int64_t(r.prompt));
        per_prompt[int64_t(r.prompt)].first += v - v0;
        per_prompt[int64_t(r.prompt)].second += 1;
      }
      if (d.empty()) continue;
      std::vector<double> pm;
      int64_t pos = 0, neg = 0;
      for (const auto& [k, sn] : per_prompt) {
        pm.push_back(sn.first / sn.second);
        pos += pm.back() > 0;
        neg += pm.back() < 0;
      }
      double mean = 0;
      for (double x : d) mean += x / double(d.size());
      const Interval ci = bootstrap_mean_ci(d, unit, 2000, 17);
      const double ps = sign_test_p(pos, neg), pw = wilcoxon_signed_rank_p(pm);
      out.push_back({{"alpha", a}, {"metric", name}, {"runs", d.size()}, {"prompts", per_prompt.size()}, {"mean_diff", mean},
                     {"ci95", {ci.lo, ci.hi}}, {"sign_test_p", ps}, {"wilcoxon_p", pw},
                     {"significant", (ci.lo > 0 || ci.hi < 0) && std::max(ps, pw) < 0.05}});
    }
  }
  return out;
}

}  // namespace

// One decode batch (runs of one prompt, each with its own alpha, seed and hook) → its transcript
// tokens generated, the seconds taken and one transcript line per run, as a message for rank 0.
std::string decode_batch(Qwen2Model& model, const SteeringVector& sv, const std::vector<Run>& batch, const SteerSweepOptions& opt,
                         const std::vector<std::vector<int32_t>>& ids, const Tokenizer& tok, const Lexicon& lex,
                         const std::vector<SteerPrompt>& prompts) {
  std::vector<Hooks> hooks(batch.size());
  std::vector<GenerateRequest> req;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Run& r = batch[i];
    hooks[i].add(sv.site, make_add_hook(sv.v, float(r.alpha), opt.generated_only ? int32_t(ids[r.prompt].size()) : 0));
    req.push_back({ids[r.prompt], r.seed == 0 ? SamplingParams{} : SamplingParams{opt.temperature, 0, opt.top_p, uint64_t(r.seed)},
                   &hooks[i]});
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<GenerateResult> res = generate_batch(model, req, opt.max_new_tokens, model.config().eos_token_ids);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t tokens = 0;
  for (const GenerateResult& r : res) tokens += int64_t(r.tokens.size());
  dist::ByteWriter w;
  w.put(tokens);
  w.put(sec);
  for (size_t i = 0; i < batch.size(); ++i) w.put_string(transcript_line(batch[i], res[i], sec, tok, lex, prompts[batch[i].prompt]).dump());
  return std::move(w.bytes());
}

std::string run_steer_sweep(const SteerSweepOptions& opt) {
  if (opt.alphas.empty()) fail("", "--alpha", "is empty");
  if (opt.samples < 0 || (!opt.greedy && opt.samples == 0)) fail("", "--samples", "leaves no run (use --samples >= 1 or greedy)");
  if (opt.max_new_tokens < 1) fail("", "--max-new-tokens", "must be >= 1");
  if (opt.batch_runs < 1 || opt.batch_runs > kMaxDecodeRows)
    fail("", "--batch-runs", "is out of range", "1.." + std::to_string(kMaxDecodeRows), std::to_string(opt.batch_runs));
  std::string why;
  const int64_t feature = resolve_steer_feature(opt.feature, opt.analysis, &why);
  const std::vector<SteerPrompt> prompts = opt.prompts.empty() ? default_steer_prompts(opt.problems, opt.problems_file) : load_steer_prompts(opt.prompts);
  auto tok = Tokenizer::load(opt.tokenizer.empty() ? opt.model : opt.tokenizer);
  const Lexicon lex = load_lexicon(opt.lexicon);
  const ChatTemplate tmpl = opt.chat == "auto" ? detect_chat_template(*tok) : chat_template_from_name(opt.chat);
  std::vector<std::vector<int32_t>> ids;
  for (const auto& p : prompts) ids.push_back(encode_prompt(*tok, p.question, chat_template_name(tmpl)));
  auto model = Qwen2Model::load(opt.model, opt.mode);
  const SteeringVector sv =
      load_steering_vector(opt.crosscoder, feature, opt.slice, model->config().num_hidden_layers, model->config().hidden_size);

  // Under mpirun the decode batches are dealt to the ranks; rank 0 reads and writes OUT.
  const Json settings = sweep_settings(opt, feature, tmpl);
  const std::string tpath = opt.out + "/transcripts.jsonl", spath = opt.out + "/sweep_settings.json";
  std::map<std::string, Json> done;
  std::ofstream tout;  // append-only: every finished run survives a kill
  if (dist::root()) {
    make_dirs(opt.out);
    done = finished_runs(tpath, spath, settings, opt.resume);
    write_file_atomic(spath, settings.dump(2));
    tout.open(tpath, std::ios::app);
    if (!tout) fail(tpath, "", "cannot be opened for writing");
  }
  const std::vector<Run> runs = plan_runs(opt, prompts.size());
  const std::vector<std::vector<Run>> batches = decode_batches(runs, share_done(done), prompts.size(), opt.batch_runs);
  int64_t todo = 0;
  for (const auto& b : batches) todo += int64_t(b.size());
  Progress bar("steer", todo, "run", opt.progress && dist::root());
  int64_t gen_tokens = 0;
  double gen_seconds = 0;
  dist::deal_units(
      int64_t(batches.size()), [&](int64_t i) { return decode_batch(*model, sv, batches[size_t(i)], opt, ids, *tok, lex, prompts); },
      [&](int64_t i, std::string&& msg) {
        dist::ByteReader rd(msg);
        gen_tokens += rd.take<int64_t>();
        gen_seconds += rd.take<double>();
        for (const Run& r : batches[size_t(i)]) {
          const std::string line = rd.take_string();
          tout << line << "\n";
          done[run_key(r.alpha, r.prompt, r.seed)] = Json::parse(line);
        }
        tout.flush();
        if (!tout) fail(tpath, "", "write failed (disk full?)");
        bar.add(int64_t(batches[size_t(i)].size()));
        bar.note(std::to_string(int(double(gen_tokens) / std::max(gen_seconds, 1e-9))) + " tok/s");
      });
  bar.finish();
  if (!dist::root()) return opt.out + "/steer.json";  // rank 0 writes the tables

  Json table = Json::array();
  std::ostringstream csv;
  sweep_table(opt, runs, done, lex, table, csv);
  Json doc = settings;
  doc["feature_choice"] = why;
  doc["alphas"] = opt.alphas;
  doc["samples"] = opt.samples;
  doc["greedy"] = opt.greedy;
  doc["n_prompts"] = prompts.size();
  doc["hook"] = hook_site_name(sv.site, model->config().num_hidden_layers);
  doc["generation_tokens_per_s"] = gen_seconds > 0 ? double(gen_tokens) / gen_seconds : 0.0;
  doc["generated_tokens_this_session"] = gen_tokens;
  doc["table"] = table;
  doc["warnings"] = Json::array();  // kept for readers of older sweeps; nothing warns any more
  doc["intervals"] = "mean ± 1.96 standard errors over runs (normal approximation)";
  doc["contrasts"] = contrasts_to_unsteered(opt, runs, done, lex);
  doc["contrasts_about"] = "alpha minus alpha 0 on the same prompt and decoding; ci95: bootstrap over prompts; "
                           "p: sign and Wilcoxon tests over prompts; significant: the interval excludes 0 and both p < 0.05";
  const std::string path = opt.out + "/steer.json";
  write_file_atomic(path, doc.dump(2));
  write_file_atomic(opt.out + "/steer.csv", csv.str());
  return path;
}

}  // namespace cc

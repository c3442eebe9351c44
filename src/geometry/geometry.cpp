// Word representations are computed once per model for every distinct word of every task (short
// sequences packed into ragged batches, stopped at the hook), then each task is analysed from them.
#include "geometry/geometry.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "core/json_file.hpp"
#include "core/progress.hpp"
#include "dist/bytes.hpp"
#include "dist/comm.hpp"
#include "geometry/parallelogram.hpp"
#include "geometry/pca.hpp"
#include "geometry/word_pairs.hpp"
#include "model/hooks.hpp"
#include "model/qwen2.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

struct ModelReps {
  std::string label, dir, hook;
  int64_t d = 0;
  std::vector<int32_t> start;
  std::map<std::string, std::vector<float>> rep;  // word → stream at the hook on its last token
  std::map<std::string, int64_t> n_tokens;        // word → tokens (0 = skipped)
};

std::string fill_template(const std::string& t, const std::string& word) {
  const size_t p = t.find("{word}");
  if (p == std::string::npos) fail("", "--template", "has no {word}", "e.g. \"{word}\" or \" {word}\"", t);
  return t.substr(0, p) + word + t.substr(p + 6);
}

std::vector<int32_t> start_ids(const GeometryOptions& opt, const Tokenizer& tok) {
  if (opt.start == "none") return {};
  if (opt.start == "auto") {
    if (!tok.prefix_ids().empty()) return tok.prefix_ids();
    const int32_t eot = tok.token_to_id("<|endoftext|>");
    if (eot >= 0) return {eot};
    return {};
  }
  char* end = nullptr;
  const long id = std::strtol(opt.start.c_str(), &end, 10);
  if (opt.start.empty() || *end || id < 0) fail("", "--start", "is not auto, none or a token id", "", opt.start);
  return {int32_t(id)};
}

void compute_reps(ModelReps& m, const GeometryOptions& opt, const std::vector<std::string>& words, Progress& bar) {
  auto tok = Tokenizer::load(opt.tokenizer.empty() ? m.dir : opt.tokenizer);
  auto model = Qwen2Model::load(m.dir, opt.mode);
  const int64_t L = model->config().num_hidden_layers;
  const int site = opt.layer.empty() ? int(L / 2) : parse_hook_site(opt.layer, L);
  m.hook = hook_site_name(site, L);
  m.d = model->config().hidden_size;
  m.start = start_ids(opt, *tok);
  std::vector<std::vector<int32_t>> ids(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    auto t = tok->encode(fill_template(opt.word_template, words[i]), false);
    m.n_tokens[words[i]] = int64_t(t.size());
    if (t.empty()) {
      bar.add(1);
      continue;
    }
    ids[i] = m.start;
    ids[i].insert(ids[i].end(), t.begin(), t.end());
  }
  size_t w0 = 0;
  std::vector<float> x;
  while (w0 < words.size()) {
    std::vector<size_t> group;
    int64_t T = 0;
    for (; w0 < words.size(); ++w0) {
      if (ids[w0].empty()) continue;
      if (!group.empty() && T + int64_t(ids[w0].size()) > opt.batch_tokens) break;
      group.push_back(w0);
      T += int64_t(ids[w0].size());
    }
    if (group.empty()) break;
    std::vector<SeqInput> in;
    for (size_t w : group) in.push_back({ids[w], nullptr});
    model->stream_at(in, site, x);
    int64_t r = 0;
    for (size_t w : group) {
      r += int64_t(ids[w].size());
      const float* row = x.data() + (r - 1) * m.d;
      for (int64_t q = 0; q < m.d; ++q)
        if (!std::isfinite(row[q])) fail(m.dir, "residual stream", "is not finite for the word '" + words[w] + "'");
      m.rep[words[w]].assign(row, row + m.d);
    }
    bar.add(int64_t(group.size()));
  }
}

Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

namespace {

// The models compared: base, distilled, then each --more-models folder (labels made unique).
std::vector<ModelReps> geometry_models(const GeometryOptions& opt) {
  std::vector<ModelReps> models;
  models.push_back({"base", opt.base, "", 0, {}, {}, {}});
  models.push_back({"distilled", opt.distilled, "", 0, {}, {}, {}});
  for (const auto& dir : opt.more) {
    std::string label = fs::path(dir).filename().string();
    if (label.empty()) label = fs::path(dir).parent_path().filename().string();
    for (const auto& m : models)
      if (m.label == label) label += "#" + std::to_string(models.size());
    models.push_back({label, dir, "", 0, {}, {}, {}});
  }
  return models;
}

std::vector<std::string> distinct_words(const std::vector<WordPairTask>& tasks) {
  std::vector<std::string> words;
  for (const auto& t : tasks)
    for (const auto& [a, b] : t.pairs) {
      words.push_back(a);
      words.push_back(b);
    }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

// One task's pairs that every model can represent, as indices into the task's own word list.
struct TaskPairs {
  std::vector<std::string> words;
  std::vector<std::pair<int32_t, int32_t>> pairs;
  int64_t skipped = 0;
};

TaskPairs usable_pairs(const WordPairTask& task, const std::vector<ModelReps>& models) {
  TaskPairs t;
  std::map<std::string, int32_t> index;
  for (const auto& [a, b] : task.pairs) {
    bool ok = true;
    for (const auto& m : models) ok = ok && m.n_tokens.at(a) > 0 && m.n_tokens.at(b) > 0;
    if (!ok) {
      ++t.skipped;
      continue;
    }
    for (const std::string* w : {&a, &b})
      if (!index.count(*w)) {
        index[*w] = int32_t(t.words.size());
        t.words.push_back(*w);
      }
    t.pairs.push_back({index[a], index[b]});
  }
  return t;
}

// The shuffled-pairs null (the same words, outputs re-assigned to other inputs at random) and the
// bootstrap weights over pairs, shared by every model so differences are paired.
struct Resamples {
  std::vector<std::pair<int32_t, int32_t>> shuffled;
  std::vector<std::vector<int>> boots;
};

Resamples resample_pairs(const std::vector<std::pair<int32_t, int32_t>>& pairs, int bootstrap, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Resamples r;
  r.shuffled = pairs;
  std::vector<int32_t> outs;
  for (auto& p : pairs) outs.push_back(p.second);
  std::shuffle(outs.begin(), outs.end(), rng);
  for (size_t i = 0; i < r.shuffled.size(); ++i) r.shuffled[i].second = outs[i];
  std::uniform_int_distribution<size_t> pick(0, pairs.size() - 1);
  for (int b = 0; b < bootstrap; ++b) {
    std::vector<int> w(pairs.size(), 0);
    for (size_t i = 0; i < pairs.size(); ++i) ++w[pick(rng)];
    int distinct = 0;
    for (int c : w) distinct += c > 0;
    if (distinct >= 2) r.boots.push_back(std::move(w));
  }
  return r;
}

// One model on one task: the loss after per-task PCA, without PCA, on shuffled pairs, and under
// each bootstrap weighting.
struct ModelLoss {
  int64_t k = 0;  // components kept
  double loss = 0, loss_raw = 0, shuffled = 0, explained = 1;
  std::vector<double> boot;
};

ModelLoss model_loss(const ModelReps& m, const TaskPairs& t, const Resamples& rs, int64_t pca) {
  const int64_t n = int64_t(t.words.size());
  std::vector<double> X(size_t(n * m.d));
  for (int64_t i = 0; i < n; ++i) {
    const auto& r = m.rep.at(t.words[size_t(i)]);
    for (int64_t q = 0; q < m.d; ++q) X[size_t(i * m.d + q)] = r[size_t(q)];
  }
  ModelLoss l;
  // Without PCA: centred raw vectors (a full-rank "PCA").
  const std::vector<double> Xc = centre_rows(X, n, m.d);
  l.loss_raw = parallelogram_loss(Xc, m.d, t.pairs);
  const PcaResult pc = pca > 0 ? pca_project(X, n, m.d, pca) : PcaResult{};
  const std::vector<double>& Y = pca > 0 ? pc.Y : Xc;
  l.k = pca > 0 ? pc.k : m.d;
  l.loss = parallelogram_loss(Y, l.k, t.pairs);
  l.shuffled = parallelogram_loss(Y, l.k, rs.shuffled);
  for (const auto& w : rs.boots) l.boot.push_back(parallelogram_loss(Y, l.k, t.pairs, &w));
  double ev = 0;
  for (double e : pc.eigenvalues) ev += e;
  l.explained = pca > 0 && pc.total > 0 ? ev / pc.total : 1.0;
  return l;
}

// Across tasks, for one comparison: the fraction where the distilled model is lower, the mean
// difference, and paired tests (the unit is the task; two-sided; ties dropped).
Json comparison_summary(const std::string& base, const std::string& distilled, const std::vector<double>& diffs,
                        const std::vector<double>& raw_diffs) {
  auto count = [](const std::vector<double>& v, bool below) {
    return int64_t(std::count_if(v.begin(), v.end(), [&](double x) { return below ? x < 0 : x > 0; }));
  };
  const double n = double(diffs.size());
  const int64_t lower = count(diffs, true), higher = count(diffs, false);
  return {{"base", base}, {"distilled", distilled}, {"tasks", diffs.size()},
          {"fraction_distilled_lower", n > 0 ? double(lower) / n : 0.0},
          {"fraction_distilled_lower_no_pca", n > 0 ? double(count(raw_diffs, true)) / n : 0.0},
          {"mean_diff", n > 0 ? std::accumulate(diffs.begin(), diffs.end(), 0.0) / n : 0.0},
          {"distilled_lower", lower}, {"distilled_higher", higher}, {"sign_test_p", sign_test_p(lower, higher)},
          {"wilcoxon_p", wilcoxon_signed_rank_p(diffs)}};
}

}  // namespace

// Each model's representations computed by one rank (models dealt to the ranks), then every
// model's on every rank: the tasks that follow need them all.
void compute_all_reps(std::vector<ModelReps>& models, const GeometryOptions& opt, const std::vector<std::string>& words, Progress& bar) {
  std::string all;
  dist::deal_units(
      int64_t(models.size()),
      [&](int64_t i) {
        ModelReps& m = models[size_t(i)];
        compute_reps(m, opt, words, bar);
        if (dist::size() == 1) return std::string();  // computed in place: nothing to share
        dist::ByteWriter w;
        w.put_string(m.hook);
        w.put(m.d);
        w.put_vector(m.start);
        for (const std::string& word : words) {
          w.put(m.n_tokens.at(word));
          w.put_vector(m.rep.count(word) ? m.rep.at(word) : std::vector<float>());
        }
        return std::move(w.bytes());
      },
      [&](int64_t, std::string&& msg) {
        dist::ByteWriter w;
        w.put_string(msg);
        all += w.bytes();
      });
  if (dist::size() == 1) return;
  dist::broadcast(all);
  dist::ByteReader rd(all);
  for (ModelReps& m : models) {
    const std::string msg = rd.take_string();
    dist::ByteReader one(msg);
    m.hook = one.take_string();
    m.d = one.take<int64_t>();
    m.start = one.take_vector<int32_t>();
    m.rep.clear();
    for (const std::string& word : words) {
      m.n_tokens[word] = one.take<int64_t>();
      if (std::vector<float> r = one.take_vector<float>(); !r.empty()) m.rep[word] = std::move(r);
    }
  }
}

// One task's part of the results: its row of geometry.json, its lines of geometry.csv and, per
// comparison, the distilled − base loss difference with and without PCA (none when skipped).
struct TaskResult {
  Json row;
  std::string csv;
  std::vector<double> diff, raw_diff;
  std::string to_bytes() const {
    dist::ByteWriter w;
    w.put_string(row.dump());
    w.put_string(csv);
    w.put_vector(diff);
    w.put_vector(raw_diff);
    return std::move(w.bytes());
  }
  static TaskResult from_bytes(const std::string& msg) {
    dist::ByteReader rd(msg);
    TaskResult t;
    t.row = Json::parse(rd.take_string());
    t.csv = rd.take_string();
    t.diff = rd.take_vector<double>();
    t.raw_diff = rd.take_vector<double>();
    return t;
  }
};

TaskResult task_result(const WordPairTask& task, size_t ti, const std::vector<ModelReps>& models,
                       const std::vector<std::pair<size_t, size_t>>& comparisons, const GeometryOptions& opt) {
  TaskResult out;
  const TaskPairs tp = usable_pairs(task, models);
  Json& row = out.row;
  row = {{"task", task.name}, {"file", task.path}, {"pairs", tp.pairs.size()}, {"skipped_pairs", tp.skipped}};
  if (tp.pairs.size() < 3) {
    row["error"] = "fewer than 3 usable pairs";
    return out;
  }
  row["words"] = tp.words.size();
  const Resamples rs = resample_pairs(tp.pairs, opt.bootstrap, opt.seed + ti * 7919);
  std::vector<ModelLoss> ml;
  Json mrows = Json::array();
  std::ostringstream csv;
  for (const ModelReps& m : models) {
    const ModelLoss& l = ml.emplace_back(model_loss(m, tp, rs, opt.pca));
    const Interval ci = percentile_95(l.boot);
    mrows.push_back({{"model", m.label}, {"dir", m.dir}, {"hook", m.hook}, {"pca_k", l.k}, {"loss", l.loss},
                     {"ci95", {number_or_null(ci.lo), number_or_null(ci.hi)}}, {"loss_no_pca", l.loss_raw},
                     {"loss_shuffled", l.shuffled}, {"ratio_to_shuffled", l.loss / l.shuffled}, {"explained_variance", l.explained}});
    csv << task.name << "," << m.label << "," << tp.pairs.size() << "," << tp.words.size() << "," << l.k << "," << l.loss << ","
        << ci.lo << "," << ci.hi << "," << l.loss_raw << "," << l.shuffled << "," << l.loss / l.shuffled << "," << l.explained << "\n";
  }
  out.csv = csv.str();
  row["models"] = mrows;
  Json crows = Json::array();
  for (const auto& [a, b] : comparisons) {
    std::vector<double> d;
    for (size_t i = 0; i < rs.boots.size(); ++i) d.push_back(ml[b].boot[i] - ml[a].boot[i]);
    const Interval iv = percentile_95(d);
    const double diff = ml[b].loss - ml[a].loss;
    out.diff.push_back(diff);
    out.raw_diff.push_back(ml[b].loss_raw - ml[a].loss_raw);
    crows.push_back({{"base", models[a].label}, {"distilled", models[b].label}, {"diff", diff},
                     {"ci95", {number_or_null(iv.lo), number_or_null(iv.hi)}}, {"distilled_lower", diff < 0},
                     {"diff_no_pca", ml[b].loss_raw - ml[a].loss_raw}});
  }
  row["comparisons"] = crows;
  return out;
}

std::string run_geometry(const GeometryOptions& opt) {
  if (opt.pca < 0) fail("", "--pca", "must be >= 0");
  if (opt.bootstrap < 0) fail("", "--bootstrap", "must be >= 0");
  const std::vector<WordPairTask> tasks = load_word_pair_tasks(opt.datasets, opt.tasks);
  std::vector<ModelReps> models = geometry_models(opt);
  std::vector<std::pair<size_t, size_t>> comparisons = {{0, 1}};
  for (size_t i = 0; i + 1 < opt.more.size(); i += 2) comparisons.push_back({2 + i, 3 + i});
  const std::vector<std::string> words = distinct_words(tasks);
  // Under mpirun the models, then the tasks, are dealt to the ranks; rank 0 writes.
  Progress bar("geometry", int64_t(words.size() * models.size()), "word", opt.progress && dist::root());
  compute_all_reps(models, opt, words, bar);
  bar.finish();
  std::vector<TaskResult> results(tasks.size());
  dist::deal_units(
      int64_t(tasks.size()), [&](int64_t i) { return task_result(tasks[size_t(i)], size_t(i), models, comparisons, opt).to_bytes(); },
      [&](int64_t i, std::string&& msg) { results[size_t(i)] = TaskResult::from_bytes(msg); });
  const std::string path = opt.out + "/geometry.json";
  if (!dist::root()) return path;

  Json task_rows = Json::array();
  std::ostringstream csv;
  csv << "task,model,pairs,words,pca_k,loss,loss_lo,loss_hi,loss_no_pca,loss_shuffled,ratio_to_shuffled,explained_variance\n";
  std::vector<std::vector<double>> diffs(comparisons.size()), raw_diffs(comparisons.size());  // distilled − base, per task
  for (const TaskResult& t : results) {
    task_rows.push_back(t.row);
    csv << t.csv;
    for (size_t ci = 0; ci < t.diff.size(); ++ci) {
      diffs[ci].push_back(t.diff[ci]);
      raw_diffs[ci].push_back(t.raw_diff[ci]);
    }
  }
  Json summary = Json::array();
  for (size_t ci = 0; ci < comparisons.size(); ++ci)
    summary.push_back(comparison_summary(models[comparisons[ci].first].label, models[comparisons[ci].second].label, diffs[ci], raw_diffs[ci]));
  Json mj = Json::array();
  for (const auto& m : models)
    mj.push_back({{"label", m.label}, {"dir", m.dir}, {"hook", m.hook}, {"start_ids", m.start}});
  const Json doc = {{"datasets", opt.datasets}, {"models", mj}, {"pca", opt.pca}, {"template", opt.word_template},
                    {"bootstrap", opt.bootstrap}, {"seed", opt.seed}, {"compute", opt.mode == ComputeMode::F32 ? "f32" : "bf16"},
                    {"loss", "mean_{i!=j} ||d_i - d_j||^2 / mean_w ||y(w)||^2 after centring and per-task PCA (PAPER.md §6)"},
                    {"tasks", task_rows}, {"summary", summary}};
  make_dirs(opt.out);
  write_file_atomic(path, doc.dump(2));
  write_file_atomic(opt.out + "/geometry.csv", csv.str());
  return path;
}

}  // namespace cc

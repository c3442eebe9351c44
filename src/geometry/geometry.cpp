// Word representations are computed once per model for every distinct word of every task (short
// sequences packed into ragged batches, stopped at the hook), then each task is analysed from them.
#include "geometry/geometry.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "core/json_file.hpp"
#include "core/progress.hpp"
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
    Hooks h;
    h.add(site, [&](HookContext& c) { x.assign(c.x, c.x + c.rows * c.d); });
    ForwardOptions fo;
    fo.logits = LogitsMode::None;
    fo.stop_at_site = site;
    fo.hooks = &h;
    model->forward(in, fo);
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

std::string run_geometry(const GeometryOptions& opt) {
  if (opt.pca < 0) fail("", "--pca", "must be >= 0");
  if (opt.bootstrap < 0) fail("", "--bootstrap", "must be >= 0");
  const std::vector<WordPairTask> tasks = load_word_pair_tasks(opt.datasets, opt.tasks);
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
  std::vector<std::pair<size_t, size_t>> comparisons = {{0, 1}};
  for (size_t i = 0; i + 1 < opt.more.size(); i += 2) comparisons.push_back({2 + i, 3 + i});

  std::vector<std::string> words;
  for (const auto& t : tasks)
    for (const auto& [a, b] : t.pairs) {
      words.push_back(a);
      words.push_back(b);
    }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  Progress bar("geometry", int64_t(words.size() * models.size()), "word", opt.progress);
  for (ModelReps& m : models) compute_reps(m, opt, words, bar);
  bar.finish();

  Json task_rows = Json::array();
  std::ostringstream csv;
  csv << "task,model,pairs,words,pca_k,loss,loss_lo,loss_hi,loss_no_pca,loss_shuffled,ratio_to_shuffled,explained_variance\n";
  std::vector<int> lower(comparisons.size(), 0), lower_raw(comparisons.size(), 0), compared(comparisons.size(), 0);
  std::vector<double> diff_sum(comparisons.size(), 0.0);
  std::vector<std::vector<double>> task_diffs(comparisons.size());  // per comparison: distilled − base loss, one per task
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    const WordPairTask& task = tasks[ti];
    // Pairs every model can represent; word rows shared across models.
    std::vector<std::pair<std::string, std::string>> kept;
    int64_t skipped = 0;
    for (const auto& pr : task.pairs) {
      bool ok = true;
      for (const auto& m : models) ok = ok && m.n_tokens.at(pr.first) > 0 && m.n_tokens.at(pr.second) > 0;
      if (ok) {
        kept.push_back(pr);
      } else {
        ++skipped;
      }
    }
    Json row = {{"task", task.name}, {"file", task.path}, {"pairs", kept.size()}, {"skipped_pairs", skipped}};
    if (kept.size() < 3) {
      row["error"] = "fewer than 3 usable pairs";
      task_rows.push_back(row);
      continue;
    }
    std::map<std::string, int32_t> index;
    std::vector<std::string> task_words;
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (const auto& [a, b] : kept) {
      for (const std::string* w : {&a, &b})
        if (!index.count(*w)) {
          index[*w] = int32_t(task_words.size());
          task_words.push_back(*w);
        }
      pairs.push_back({index[a], index[b]});
    }
    const int64_t n = int64_t(task_words.size());
    row["words"] = n;
    // Shuffled-pairs null: the same words, outputs re-assigned to other inputs at random.
    std::mt19937_64 rng(opt.seed + ti * 7919);
    std::vector<std::pair<int32_t, int32_t>> shuffled = pairs;
    {
      std::vector<int32_t> outs;
      for (auto& p : pairs) outs.push_back(p.second);
      std::shuffle(outs.begin(), outs.end(), rng);
      for (size_t i = 0; i < shuffled.size(); ++i) shuffled[i].second = outs[i];
    }
    // Bootstrap weights, shared by every model so differences are paired.
    std::vector<std::vector<int>> boots;
    std::uniform_int_distribution<size_t> pick(0, pairs.size() - 1);
    for (int b = 0; b < opt.bootstrap; ++b) {
      std::vector<int> w(pairs.size(), 0);
      for (size_t i = 0; i < pairs.size(); ++i) ++w[pick(rng)];
      int distinct = 0;
      for (int c : w) distinct += c > 0;
      if (distinct >= 2) boots.push_back(std::move(w));
    }
    std::vector<double> loss(models.size()), loss_raw(models.size());
    std::vector<std::vector<double>> boot_loss(models.size());
    Json mrows = Json::array();
    for (size_t mi = 0; mi < models.size(); ++mi) {
      const ModelReps& m = models[mi];
      std::vector<double> X(size_t(n * m.d));
      for (int64_t i = 0; i < n; ++i) {
        const auto& r = m.rep.at(task_words[size_t(i)]);
        for (int64_t q = 0; q < m.d; ++q) X[size_t(i * m.d + q)] = r[size_t(q)];
      }
      // Without PCA: centred raw vectors (a full-rank "PCA").
      const std::vector<double> Xc = centre_rows(X, n, m.d);
      loss_raw[mi] = parallelogram_loss(Xc, m.d, pairs);
      const PcaResult pc = opt.pca > 0 ? pca_project(X, n, m.d, opt.pca) : PcaResult{};
      const std::vector<double>& Y = opt.pca > 0 ? pc.Y : Xc;
      const int64_t k = opt.pca > 0 ? pc.k : m.d;
      loss[mi] = parallelogram_loss(Y, k, pairs);
      const double shuf = parallelogram_loss(Y, k, shuffled);
      for (const auto& w : boots) boot_loss[mi].push_back(parallelogram_loss(Y, k, pairs, &w));
      const Interval ci = percentile_95(boot_loss[mi]);
      double ev = 0;
      for (double e : pc.eigenvalues) ev += e;
      const double explained = opt.pca > 0 && pc.total > 0 ? ev / pc.total : 1.0;
      mrows.push_back({{"model", m.label}, {"dir", m.dir}, {"hook", m.hook}, {"pca_k", k}, {"loss", loss[mi]},
                       {"ci95", {number_or_null(ci.lo), number_or_null(ci.hi)}}, {"loss_no_pca", loss_raw[mi]},
                       {"loss_shuffled", shuf}, {"ratio_to_shuffled", loss[mi] / shuf}, {"explained_variance", explained}});
      csv << task.name << "," << m.label << "," << kept.size() << "," << n << "," << k << "," << loss[mi] << "," << ci.lo << ","
          << ci.hi << "," << loss_raw[mi] << "," << shuf << "," << loss[mi] / shuf << "," << explained << "\n";
    }
    row["models"] = mrows;
    Json crows = Json::array();
    for (size_t ci = 0; ci < comparisons.size(); ++ci) {
      const auto [a, b] = comparisons[ci];
      std::vector<double> d;
      for (size_t i = 0; i < boots.size(); ++i) d.push_back(boot_loss[b][i] - boot_loss[a][i]);
      const Interval iv = percentile_95(d);
      const double diff = loss[b] - loss[a];
      ++compared[ci];
      lower[ci] += diff < 0;
      lower_raw[ci] += loss_raw[b] < loss_raw[a];
      diff_sum[ci] += diff;
      task_diffs[ci].push_back(diff);
      crows.push_back({{"base", models[a].label}, {"distilled", models[b].label}, {"diff", diff},
                       {"ci95", {number_or_null(iv.lo), number_or_null(iv.hi)}}, {"distilled_lower", diff < 0},
                       {"diff_no_pca", loss_raw[b] - loss_raw[a]}});
    }
    row["comparisons"] = crows;
    task_rows.push_back(row);
  }
  Json summary = Json::array();
  for (size_t ci = 0; ci < comparisons.size(); ++ci) {
    const auto [a, b] = comparisons[ci];
    summary.push_back({{"base", models[a].label}, {"distilled", models[b].label}, {"tasks", compared[ci]},
                       {"fraction_distilled_lower", compared[ci] ? double(lower[ci]) / compared[ci] : 0.0},
                       {"fraction_distilled_lower_no_pca", compared[ci] ? double(lower_raw[ci]) / compared[ci] : 0.0},
                       {"mean_diff", compared[ci] ? diff_sum[ci] / compared[ci] : 0.0},
                       // Paired tests across tasks (the unit is the task): is the distilled model's loss
                       // systematically lower or higher? Two-sided; ties (equal losses) dropped.
                       {"distilled_lower", lower[ci]},
                       {"distilled_higher", int64_t(std::count_if(task_diffs[ci].begin(), task_diffs[ci].end(), [](double x) { return x > 0; }))},
                       {"sign_test_p", sign_test_p(std::count_if(task_diffs[ci].begin(), task_diffs[ci].end(), [](double x) { return x < 0; }),
                                                   std::count_if(task_diffs[ci].begin(), task_diffs[ci].end(), [](double x) { return x > 0; }))},
                       {"wilcoxon_p", wilcoxon_signed_rank_p(task_diffs[ci])}});
  }
  Json mj = Json::array();
  for (const auto& m : models)
    mj.push_back({{"label", m.label}, {"dir", m.dir}, {"hook", m.hook}, {"start_ids", m.start}});
  const Json doc = {{"datasets", opt.datasets}, {"models", mj}, {"pca", opt.pca}, {"template", opt.word_template},
                    {"bootstrap", opt.bootstrap}, {"seed", opt.seed}, {"compute", opt.mode == ComputeMode::F32 ? "f32" : "bf16"},
                    {"loss", "mean_{i!=j} ||d_i - d_j||^2 / mean_w ||y(w)||^2 after centring and per-task PCA (PAPER.md §6)"},
                    {"tasks", task_rows}, {"summary", summary}};
  make_dirs(opt.out);
  const std::string path = opt.out + "/geometry.json";
  write_file_atomic(path, doc.dump(2));
  write_file_atomic(opt.out + "/geometry.csv", csv.str());
  return path;
}

}  // namespace cc

#include "labels/labeller.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/jsonl_log.hpp"
#include "core/progress.hpp"
#include "crosscoder/crosscoder.hpp"
#include "crosscoder/step.hpp"
#include "harvest/activation_store.hpp"
#include "labels/label_prompt.hpp"

namespace cc {

namespace {

struct Context {
  int64_t row = 0;
  int64_t center = 0;
  std::vector<std::string> texts;
  std::string marked() const { return marked_context(texts, center); }
};

struct Examples {
  std::vector<Context> top, sample;
};

// examples.jsonl: every feature's contexts, top and sampled, in file order.
std::map<int64_t, Examples> read_examples(const std::string& path) {
  std::map<int64_t, Examples> out;
  for_each_jsonl(path, [&](const Json& j, size_t line) {
    const std::string at = path + ":" + std::to_string(line);
    if (!j.is_object() || !j.contains("feature") || !j.contains("texts") || !j.contains("center") || !j.contains("row"))
      fail(at, "", "needs {\"feature\", \"kind\", \"row\", \"center\", \"texts\"}");
    if (!j["texts"].is_array()) fail(at, "texts", "must be a list of strings");
    Context c{json_get<int64_t>(j, "row", at), json_get<int64_t>(j, "center", at), {}};
    for (const Json& t : j["texts"]) {
      if (!t.is_string()) fail(at, "texts", "must be a list of strings");
      c.texts.push_back(t.get<std::string>());
    }
    auto& e = out[json_get<int64_t>(j, "feature", at)];
    (j.value("kind", "top") == "top" ? e.top : e.sample).push_back(std::move(c));
  });
  return out;
}

// The alive features of features.jsonl that pass the options' filters, in feature order.
std::vector<int64_t> select_features(const LabelOptions& o) {
  const std::set<int64_t> wanted(o.features.begin(), o.features.end());
  std::vector<int64_t> out;
  const std::string path = o.analysis + "/features.jsonl";
  for_each_jsonl(path, [&](const Json& j, size_t line) {
    const std::string at = path + ":" + std::to_string(line);
    const int64_t f = json_get<int64_t>(j, "feature", at);
    if (j.value("dead", false) || (!wanted.empty() && !wanted.count(f))) return;
    const auto in = [&](const std::vector<std::string>& set, const char* key) {
      return set.empty() || (j.contains(key) && j[key].is_string() && std::count(set.begin(), set.end(), j[key].get<std::string>()));
    };
    const double nrn = j.contains("nrn") && j["nrn"].is_number() ? j["nrn"].get<double>() : -1;
    if (!in(o.classes, "class") || !in(o.categories, "category") || nrn < o.nrn_min || nrn > o.nrn_max) return;
    out.push_back(f);
  });
  if (o.limit > 0 && int64_t(out.size()) > o.limit) out.resize(size_t(o.limit));
  return out;
}

// Whether feature j fires on a store row: the crosscoder's inference encoder on that one row.
class FiringOracle {
 public:
  FiringOracle(const std::string& crosscoder, const std::string& acts) : store_(acts) {
    load_crosscoder(crosscoder, p_, c_);
    if (store_.d_model() != p_.d) fail(acts, "d_model", "does not match the crosscoder", std::to_string(p_.d), std::to_string(store_.d_model()));
    decoder_norms(p_, norms_);
  }
  bool fires(int64_t j, int64_t row) {
    std::lock_guard lock(mu_);  // the store opens its shards lazily
    if (row < 0 || row >= store_.rows()) return true;  // unknown: never use it as a negative
    ActivationBatch b = store_.read(row, 1);
    crosscoder_scale_inputs(c_, b.acts.data(), 1);
    return crosscoder_encode_one(p_, c_, b.acts.data(), j, norms_) > 0;
  }

 private:
  ActivationStore store_;
  CrosscoderParams p_;
  CrosscoderConfig c_;
  std::vector<float> norms_;
  std::mutex mu_;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

struct Usage {
  std::atomic<int64_t> requests{0}, hits{0};
};

// One chat completion through the cache: key = hash(labeller, prompt, schema).
class CachedChat {
 public:
  CachedChat(ChatBackend& b, const std::string& dir) : b_(b), log_(dir + "/cache.jsonl") {
    // A line without a string key and content (edited by hand, another tool's) is no answer: that
    // prompt is asked again.
    for (const Json& j : log_.lines())
      if (j.contains("key") && j["key"].is_string() && j.contains("content") && j["content"].is_string())
        cache_[j["key"].get<std::string>()] = j;
  }
  // (reply, prompt tokens, completion tokens, from cache)
  std::tuple<std::string, int64_t, int64_t, bool> ask(const ChatRequest& r, Usage& u) {
    const std::string key = std::to_string(fnv1a(b_.describe() + "\n" + r.prompt + "\n" + r.schema.dump()));
    {
      std::lock_guard lock(mu_);
      if (auto it = cache_.find(key); it != cache_.end()) {
        ++u.hits;
        return {it->second["content"].get<std::string>(), it->second.value("prompt_tokens", int64_t(0)),
                it->second.value("completion_tokens", int64_t(0)), true};
      }
    }
    ++u.requests;
    const ChatReply reply = b_.complete(r);
    const Json entry = {{"key", key}, {"content", reply.content}, {"prompt_tokens", reply.prompt_tokens}, {"completion_tokens", reply.completion_tokens}};
    log_.append(entry);
    std::lock_guard lock(mu_);
    cache_[key] = entry;
    return {reply.content, reply.prompt_tokens, reply.completion_tokens, false};
  }

 private:
  ChatBackend& b_;
  JsonlLog log_;
  std::map<std::string, Json> cache_;
  std::mutex mu_;
};

struct Detection {
  std::vector<std::string> contexts;
  std::vector<bool> positive;
};

// Held-out activating contexts (beyond those shown) and non-activating ones from other features.
Detection detection_set(int64_t j, const Examples& own, const std::vector<const Context*>& pool, FiringOracle& oracle, const LabelOptions& o) {
  std::mt19937_64 rng(o.seed ^ (0x9E3779B97F4A7C15ull * uint64_t(j + 1)));
  std::vector<const Context*> pos;
  for (size_t k = size_t(o.shown_top); k < own.top.size(); ++k) pos.push_back(&own.top[k]);
  for (size_t k = size_t(o.shown_samples); k < own.sample.size(); ++k) pos.push_back(&own.sample[k]);
  std::shuffle(pos.begin(), pos.end(), rng);
  if (int(pos.size()) > o.detect_positive) pos.resize(size_t(o.detect_positive));
  std::vector<const Context*> neg;
  for (int tries = 0; tries < 20 * o.detect_negative && int(neg.size()) < o.detect_negative && !pool.empty(); ++tries) {
    const Context* c = pool[rng() % pool.size()];
    if (!oracle.fires(j, c->row)) neg.push_back(c);
  }
  std::vector<std::pair<const Context*, bool>> all;
  for (auto* c : pos) all.push_back({c, true});
  for (auto* c : neg) all.push_back({c, false});
  std::shuffle(all.begin(), all.end(), rng);
  Detection d;
  for (auto& [c, p] : all) {
    d.contexts.push_back(c->marked());
    d.positive.push_back(p);
  }
  return d;
}

Json detection_score(const Detection& d, const std::set<int>& said) {
  int64_t tp = 0, fn = 0, tn = 0, fp = 0;
  for (size_t i = 0; i < d.positive.size(); ++i) {
    const bool yes = said.count(int(i) + 1);
    if (d.positive[i]) (yes ? tp : fn)++;
    else (yes ? fp : tn)++;
  }
  const double tpr = tp + fn ? double(tp) / double(tp + fn) : 0, tnr = tn + fp ? double(tn) / double(tn + fp) : 0;
  return {{"balanced_accuracy", (tp + fn && tn + fp) ? Json((tpr + tnr) / 2) : Json(nullptr)}, {"tpr", tpr}, {"tnr", tnr},
          {"positives", tp + fn}, {"negatives", tn + fp}};
}

}  // namespace

// The labelling of one feature: its line for labels.jsonl, or a reason it failed.
struct Outcome {
  Json line;
  std::string failure;
};

static Outcome label_one(int64_t j, const Examples& ex, const std::vector<const Context*>& pool, FiringOracle* oracle, CachedChat& chat,
                         Usage& u, const LabelOptions& o, const std::string& who) {
  std::vector<std::string> shown;
  for (size_t k = 0; k < ex.top.size() && int(k) < o.shown_top; ++k) shown.push_back(ex.top[k].marked());
  for (size_t k = 0; k < ex.sample.size() && int(k) < o.shown_samples; ++k) shown.push_back(ex.sample[k].marked());
  if (shown.empty()) return {{}, "no contexts in examples.jsonl"};
  auto [reply, pin, pout, cached] = chat.ask({labelling_prompt(j, shown), label_schema(), o.max_tokens}, u);
  const auto answer = parse_label_reply(reply);
  if (!answer) return {{}, "unreadable label reply: " + reply.substr(0, 200)};
  Json line = {{"feature", j}, {"label", answer->label}, {"category", answer->category}, {"labeller", who}, {"detection", nullptr}};
  int64_t tin = pin, tout = pout;
  if (o.detection && oracle) {
    const Detection d = detection_set(j, ex, pool, *oracle, o);
    if (!d.contexts.empty()) {
      auto [dr, din, dout, dc] = chat.ask({detection_prompt(answer->label, d.contexts), detection_schema(), o.max_tokens}, u);
      tin += din;
      tout += dout;
      const auto said = parse_detection_reply(dr, int(d.contexts.size()));
      if (!said) return {{}, "unreadable detection reply: " + dr.substr(0, 200)};
      line["detection"] = detection_score(d, *said);
    }
  }
  line["usage"] = {{"prompt_tokens", tin}, {"completion_tokens", tout}};
  return {line, ""};
}

static void write_usage(const LabelOptions& o, const std::vector<Json>& lines, const LabelRunStats& s) {
  int64_t tin = 0, tout = 0;
  for (const Json& l : lines)
    if (l.contains("usage")) tin += l["usage"].value("prompt_tokens", int64_t(0)), tout += l["usage"].value("completion_tokens", int64_t(0));
  const Json u = {{"labelled_features", lines.size()}, {"prompt_tokens", tin}, {"completion_tokens", tout},
                  {"cost", (double(tin) * o.price_in + double(tout) * o.price_out) / 1e6},
                  {"price_per_million", {{"prompt", o.price_in}, {"completion", o.price_out}}},
                  {"this_run", {{"requests", s.requests}, {"cache_hits", s.cache_hits}, {"failed", s.failed}}}};
  write_file_atomic(o.out + "/usage.json", u.dump(2) + "\n");
}

LabelRunStats run_labelling(const LabelOptions& opt, ChatBackend& backend) {
  LabelOptions o = opt;
  const Json summary = read_json_file(o.analysis + "/summary.json");
  if (o.crosscoder.empty() && summary.contains("crosscoder") && summary["crosscoder"].is_string()) o.crosscoder = summary["crosscoder"];
  if (o.acts.empty() && summary.contains("acts") && summary["acts"].is_string()) o.acts = summary["acts"];
  make_dirs(o.out);
  const auto examples = read_examples(o.analysis + "/examples.jsonl");
  std::unique_ptr<FiringOracle> oracle;
  if (o.detection) oracle = std::make_unique<FiringOracle>(o.crosscoder, o.acts);
  std::vector<const Context*> pool;  // every context of every feature: the negatives' candidates
  for (const auto& [f, e] : examples)
    for (const auto* v : {&e.top, &e.sample})
      for (const auto& c : *v) pool.push_back(&c);
  JsonlLog labels(o.out + "/labels.jsonl"), failed(o.out + "/failed.jsonl");
  std::set<int64_t> done;
  for (const Json& l : labels.lines()) done.insert(l.value("feature", int64_t(-1)));
  std::vector<int64_t> todo;
  LabelRunStats stats;
  for (int64_t f : select_features(o)) {
    if (done.count(f)) ++stats.skipped;
    else todo.push_back(f);
  }
  CachedChat chat(backend, o.out);
  Usage usage;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> ok{0}, bad{0};
  Progress bar("label", int64_t(todo.size()), "feat", o.progress);
  std::mutex bar_mu;
  std::exception_ptr error;        // the first failure that ends the run (written under bar_mu)
  std::atomic<bool> stopping{false};  // read by every worker between features
  auto worker = [&] {
    for (size_t i; !stopping && (i = next++) < todo.size();) {
      const int64_t j = todo[i];
      try {  // nothing may escape a worker thread: a write error ends the run as any other error
        Outcome r;
        try {
          static const Examples none;
          r = label_one(j, examples.count(j) ? examples.at(j) : none, pool, oracle.get(), chat, usage, o, backend.describe());
        } catch (const ChatFailure& e) {
          r.failure = e.what;
        }
        if (r.failure.empty()) labels.append(r.line), ++ok;
        else failed.append({{"feature", j}, {"error", r.failure}}), ++bad;
      } catch (...) {
        std::lock_guard lock(bar_mu);
        if (!error) error = std::current_exception();
        stopping = true;
        return;
      }
      std::lock_guard lock(bar_mu);
      bar.add(1);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::min<int>(backend.max_concurrency(), int(std::max<size_t>(todo.size(), 1))); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  bar.finish();
  if (error) std::rethrow_exception(error);
  stats.labelled = ok;
  stats.failed = bad;
  stats.requests = usage.requests;
  stats.cache_hits = usage.hits;
  write_usage(o, labels.lines(), stats);
  return stats;
}

}  // namespace cc

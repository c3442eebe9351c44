// The harvest loop: batches → shard buffer → shard file → manifest.
#include "harvest/store_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/safetensors.hpp"
#include "harvest/activation_store.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

struct NormAccumulator {
  double sum[2] = {0, 0};  // Σ ||x_m|| over the first `target` rows
  int64_t count = 0, target = 0;
  void add(const ActivationBatch& b) {
    for (int64_t r = 0; r < b.rows && count < target; ++r, ++count)
      for (int m = 0; m < 2; ++m) {
        const float* x = b.acts.data() + (r * 2 + m) * b.d;
        double s = 0;
        for (int64_t i = 0; i < b.d; ++i) s += double(x[i]) * x[i];
        sum[m] += std::sqrt(s);
      }
  }
  Json factors(int64_t d) const {  // s_m = sqrt(d) / mean ||x_m||
    if (count == 0) return nullptr;
    return Json::array({std::sqrt(double(d)) / (sum[0] / double(count)), std::sqrt(double(d)) / (sum[1] / double(count))});
  }
};

void write_shard(const std::string& path, const ActivationBatch& b, DType dt) {
  std::vector<uint16_t> half;
  const void* acts = b.acts.data();
  if (dt == DType::BF16) {
    half.resize(b.acts.size());
    convert_f32_to_bf16(b.acts.data(), half.data(), half.size());
    acts = half.data();
  }
  write_safetensors(path, {{"acts", dt, {b.rows, 2, b.d}, acts},
                           {"tokens", DType::I32, {b.rows}, b.tokens.data()},
                           {"doc", DType::I32, {b.rows}, b.doc.data()},
                           {"pos", DType::I32, {b.rows}, b.pos.data()},
                           {"corpus", DType::U8, {b.rows}, b.corpus.data()},
                           {"split", DType::U8, {b.rows}, b.split.data()}},
                    {{"format", kStoreFormat}});
}

}  // namespace

int64_t harvest_to_store(const HarvestConfig& cfg_in, const StoreOptions& opt) {
  if (opt.tokens <= 0) fail("", "--tokens", "must be positive", "> 0", std::to_string(opt.tokens));
  if (opt.shard_rows <= 0) fail("", "--shard-tokens", "must be positive");
  if (opt.dtype != DType::BF16 && opt.dtype != DType::F32) fail("", "--store-dtype", "must be bf16 or f32");
  std::error_code ec;
  fs::create_directories(opt.out, ec);
  if (ec) fail(opt.out, "", "cannot create the store directory: " + ec.message());
  const std::string mpath = opt.out + "/manifest.json";
  if (fs::exists(mpath) && !opt.resume)
    fail(mpath, "", "already exists", "", "", "use --resume to continue it, or choose another --out");

  PairHarvester h(cfg_in);
  for (const auto& w : h.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const HarvestConfig& cfg = h.config();
  Json settings = cfg.to_json();
  settings["store_dtype"] = dtype_name(opt.dtype);
  settings["shard_rows"] = opt.shard_rows;
  settings["norm_rows"] = opt.norm_rows;

  // Absolute, so a store analysed or trained on from another working directory still finds them.
  auto absolute = [](const std::string& p) { return p.empty() ? p : fs::absolute(p).lexically_normal().string(); };
  Json m = {{"format", kStoreFormat}, {"models", {{"base", absolute(cfg.base_dir)}, {"distilled", absolute(cfg.distilled_dir)}}},
            {"hook", h.hook_name()}, {"site", h.site()}, {"d_model", h.d_model()}, {"dtype", dtype_name(opt.dtype)},
            {"bytes_per_token", int64_t(2 * h.d_model() * int64_t(dtype_size(opt.dtype)))},
            {"tokenizer", absolute(cfg.tokenizer)}, {"seq_len", cfg.pack.seq_len}, {"start_id", cfg.pack.start_id},
            {"sep_id", cfg.pack.sep_id}, {"target_tokens", opt.tokens}, {"settings", settings},
            {"eval_fraction", cfg.pack.eval_fraction}, {"eval_tokens", 0},
            {"shards", Json::array()}, {"tokens", 0}, {"complete", false}, {"norm_factors", nullptr}};
  Json dropped_ids(std::vector<int32_t>(h.packer().dropped_ids().begin(), h.packer().dropped_ids().end()));
  std::sort(dropped_ids.begin(), dropped_ids.end());
  m["dropped"] = {{"first_position", true}, {"separators", true}, {"special_ids", dropped_ids},
                  {"note", "norm factors are estimated over kept positions only (the reference includes position 0)"}};
  Json corpora = Json::array();
  for (const auto& s : cfg.corpora) corpora.push_back({{"spec", s.text()}, {"path", s.path}, {"field", s.field}, {"weight", s.weight}, {"chat", s.chat}});
  m["corpora"] = corpora;

  NormAccumulator norm;
  norm.target = opt.norm_rows;
  int64_t rows = 0, eval_rows = 0;
  if (opt.resume && fs::exists(mpath)) {
    Json old = read_json_file(mpath);
    // Written by us atomically, but a manifest can be edited or damaged by hand: check every field
    // used below, so a bad one is an error naming it rather than an exception from the JSON library.
    if (!old.is_object() || old.value("format", Json()) != kStoreFormat) fail(mpath, "format", "is not an activation store");
    if (!old.contains("settings") || !old["settings"].is_object()) fail(mpath, "settings", "is missing or not an object");
    for (auto it = settings.begin(); it != settings.end(); ++it)
      if (!old["settings"].contains(it.key()) || old["settings"][it.key()] != it.value())
        fail(mpath, "settings." + it.key(), "differs from this run's, so --resume would mix two harvests",
             it.value().dump(), old["settings"].value(it.key(), Json()).dump());
    if (json_get<int64_t>(old, "target_tokens", mpath) != opt.tokens)
      fail(mpath, "target_tokens", "differs from --tokens", std::to_string(opt.tokens), old["target_tokens"].dump());
    const int64_t old_tokens = json_get<int64_t>(old, "tokens", mpath);
    if (json_get<bool>(old, "complete", mpath)) {
      std::fprintf(stderr, "%s is already complete (%lld tokens)\n", opt.out.c_str(), (long long)old_tokens);
      return old_tokens;
    }
    const Json& ns = old.contains("norm_state") ? old["norm_state"] : Json();
    const bool ns_ok = ns.is_object() && ns.contains("sum") && ns["sum"].is_array() && ns["sum"].size() == 2 &&
                       ns["sum"][0].is_number() && ns["sum"][1].is_number() && ns.contains("count") && ns["count"].is_number_integer();
    if (!ns_ok) fail(mpath, "norm_state", "is missing or malformed", "{\"sum\": [a, b], \"count\": n}", ns.dump().substr(0, 80));
    if (!old.contains("shards") || !old["shards"].is_array()) fail(mpath, "shards", "is missing or not a list");
    m["shards"] = old["shards"];
    rows = old_tokens;
    eval_rows = old.contains("eval_tokens") ? json_get<int64_t>(old, "eval_tokens", mpath) : 0;
    norm.sum[0] = ns["sum"][0].get<double>();
    norm.sum[1] = ns["sum"][1].get<double>();
    norm.count = ns["count"].get<int64_t>();
    m["norm_factors"] = old.value("norm_factors", Json());
    h.packer().restore(old["packer_state"]);
  }

  // Remove leftovers of a killed run: temp files and shards the manifest does not list.
  const size_t listed = m["shards"].size();
  for (const auto& e : fs::directory_iterator(opt.out)) {
    const std::string n = e.path().filename().string();
    const bool tmp = n.find(".tmp-") != std::string::npos;
    const bool numbered = n.size() > 11 && n.rfind("shard-", 0) == 0 &&
                          std::all_of(n.begin() + 6, n.begin() + 11, [](char c) { return c >= '0' && c <= '9'; });
    const bool stray_shard = numbered && std::stoul(n.substr(6, 5)) >= listed;
    if (tmp || stray_shard) fs::remove(e.path());
  }

  auto save_manifest = [&](bool complete) {
    m["tokens"] = rows;
    m["eval_tokens"] = eval_rows;
    m["complete"] = complete;
    m["packer_state"] = h.packer().state();
    m["norm_state"] = {{"sum", {norm.sum[0], norm.sum[1]}}, {"count", norm.count}};
    Json taken = Json::array();
    for (size_t c = 0; c < cfg.corpora.size(); ++c) taken.push_back(h.packer().tokens_taken()[c]);
    m["corpus_tokens_taken"] = taken;
    // Asked vs got: each corpus's weight as a share, and its share of the tokens taken.
    double wsum = 0, tsum = 0;
    for (size_t c = 0; c < cfg.corpora.size(); ++c) {
      wsum += cfg.corpora[c].weight;
      tsum += double(h.packer().tokens_taken()[c]);
    }
    Json asked = Json::array(), got = Json::array();
    for (size_t c = 0; c < cfg.corpora.size(); ++c) {
      asked.push_back(cfg.corpora[c].weight / wsum);
      got.push_back(tsum > 0 ? double(h.packer().tokens_taken()[c]) / tsum : 0.0);
    }
    m["corpus_share_asked"] = asked;
    m["corpus_share_got"] = got;
    if (norm.count >= norm.target || complete) m["norm_factors"] = norm.factors(h.d_model());
    write_file_atomic(mpath, m.dump(2));
  };

  Progress bar("harvest", opt.tokens, "tok", opt.progress);
  bar.set(rows);
  ActivationBatch shard;
  while (rows < opt.tokens) {
    ActivationBatch b = h.next();
    const int64_t take = std::min(b.rows, opt.tokens - rows);
    ActivationBatch kept;
    kept.append(b, 0, take);
    norm.add(kept);
    for (uint8_t s : kept.split) eval_rows += s;
    shard.append(kept, 0, take);
    rows += take;
    bar.set(rows);
    if (shard.rows >= opt.shard_rows || rows >= opt.tokens) {
      const size_t idx = m["shards"].size();
      write_shard(opt.out + "/" + shard_name(idx), shard, opt.dtype);
      m["shards"].push_back({{"file", shard_name(idx)}, {"rows", shard.rows}});
      save_manifest(rows >= opt.tokens);
      shard = ActivationBatch();
    }
  }
  bar.finish();
  return rows;
}

}  // namespace cc

namespace cc {

void write_store(const std::string& dir, const ActivationBatch& rows, std::array<double, 2> norm_factors, DType dtype,
                 int64_t shard_rows) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "", "cannot create the store directory: " + ec.message());
  Json shards = Json::array();
  for (int64_t b = 0, i = 0; b < rows.rows; b += shard_rows, ++i) {
    ActivationBatch part;
    part.append(rows, b, std::min(shard_rows, rows.rows - b));
    write_shard(dir + "/" + shard_name(size_t(i)), part, dtype);
    shards.push_back({{"file", shard_name(size_t(i))}, {"rows", part.rows}});
  }
  Json m = {{"format", kStoreFormat}, {"d_model", rows.d}, {"dtype", dtype_name(dtype)}, {"tokens", rows.rows},
            {"target_tokens", rows.rows}, {"complete", true}, {"shards", shards}, {"hook", "synthetic"},
            {"models", {{"base", ""}, {"distilled", ""}}}, {"norm_factors", {norm_factors[0], norm_factors[1]}}};
  write_file_atomic(dir + "/manifest.json", m.dump(2));
}

}  // namespace cc

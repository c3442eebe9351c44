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
#include "dist/comm.hpp"
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

// One shard's rows as they will be written: a BF16 store's activations are converted as they
// arrive, so no f32 copy of the shard is held (805 MB at 65,536 rows x d 1,536; at the demo's d 256
// its first touch was a third of harvest's page faults). Allocated once, emptied after each write.
class ShardBuffer {
 public:
  ShardBuffer(DType dt, int64_t rows, int64_t d) : dt_(dt) {
    cols_.d = d;
    if (dt_ == DType::BF16) half_.reserve(size_t(rows * 2 * d));
    else cols_.acts.reserve(size_t(rows * 2 * d));
    for (auto* v : {&cols_.tokens, &cols_.doc, &cols_.pos}) v->reserve(size_t(rows));
    cols_.corpus.reserve(size_t(rows));
    cols_.split.reserve(size_t(rows));
  }
  int64_t rows() const { return cols_.rows; }
  void append(const ActivationBatch& b, int64_t begin, int64_t n) {
    if (dt_ != DType::BF16) return cols_.append(b, begin, n);
    const size_t at = half_.size(), count = size_t(n * 2 * b.d);
    half_.resize(at + count);
    convert_f32_to_bf16(b.acts.data() + begin * 2 * b.d, half_.data() + at, count);
    cols_.append_columns(b, begin, n);
  }
  void write(const std::string& path) {
    const void* acts = dt_ == DType::BF16 ? static_cast<const void*>(half_.data()) : cols_.acts.data();
    const ActivationBatch& b = cols_;
    write_safetensors(path, {{"acts", dt_, {b.rows, 2, b.d}, acts},
                             {"tokens", DType::I32, {b.rows}, b.tokens.data()},
                             {"doc", DType::I32, {b.rows}, b.doc.data()},
                             {"pos", DType::I32, {b.rows}, b.pos.data()},
                             {"corpus", DType::U8, {b.rows}, b.corpus.data()},
                             {"split", DType::U8, {b.rows}, b.split.data()}},
                      {{"format", kStoreFormat}});
    cols_.clear();
    half_.clear();
  }

 private:
  DType dt_;
  ActivationBatch cols_;          // every column; acts only in an F32 store
  std::vector<uint16_t> half_;    // a BF16 store's acts
};

// The manifest of a new store: models (absolute paths, so a store read from another working
// directory still finds them), hook, shapes, packing, the settings a resume must share, corpora.
Json new_manifest(const PairHarvester& h, const StoreOptions& opt, const Json& settings) {
  const HarvestConfig& cfg = h.config();
  auto absolute = [](const std::string& p) { return p.empty() ? p : fs::absolute(p).lexically_normal().string(); };
  Json m = {{"format", kStoreFormat}, {"models", {{"base", absolute(cfg.base_dir)}, {"distilled", absolute(cfg.distilled_dir)}}},
            {"hook", h.hook_name()}, {"site", h.site()}, {"d_model", h.d_model()}, {"dtype", dtype_name(opt.dtype)},
            {"bytes_per_token", int64_t(2 * h.d_model() * int64_t(dtype_size(opt.dtype)))},
            {"tokenizer", absolute(cfg.tokenizer)}, {"seq_len", cfg.pack.seq_len}, {"start_id", cfg.pack.start_id},
            {"sep_id", cfg.pack.sep_id}, {"target_tokens", opt.tokens}, {"settings", settings},
            {"eval_fraction", cfg.pack.eval_fraction}, {"held_out_list", absolute(cfg.pack.held_out_list)}, {"eval_tokens", 0},
            {"shards", Json::array()}, {"tokens", 0}, {"complete", false}, {"norm_factors", nullptr}};
  Json dropped_ids(std::vector<int32_t>(h.packer().dropped_ids().begin(), h.packer().dropped_ids().end()));
  std::sort(dropped_ids.begin(), dropped_ids.end());
  m["dropped"] = {{"first_position", true}, {"separators", true}, {"special_ids", dropped_ids},
                  {"note", "norm factors are estimated over kept positions only (the reference includes position 0)"}};
  Json corpora = Json::array();
  for (const auto& s : cfg.corpora) corpora.push_back({{"spec", s.text()}, {"path", s.path}, {"field", s.field}, {"weight", s.weight}, {"chat", s.chat}});
  m["corpora"] = corpora;
  return m;
}

// Where a harvest stands: rows written, held-out rows among them, the norm-factor sums.
struct HarvestProgress {
  int64_t rows = 0, eval_rows = 0;
  NormAccumulator norm;
  bool complete = false;
};

// Continues from MPATH written by an interrupted run with the same settings: its shards, counters,
// norm sums and packer state. Written by us atomically, but a manifest can be edited or damaged by
// hand: every field used is checked, so a bad one is an error naming it.
HarvestProgress resume_manifest(const std::string& mpath, const Json& settings, const StoreOptions& opt, Json& m, Packer& packer) {
  HarvestProgress hp;
  hp.norm.target = opt.norm_rows;
  Json old = read_json_file(mpath);
  if (!old.is_object() || old.value("format", Json()) != kStoreFormat) fail(mpath, "format", "is not an activation store");
  if (!old.contains("settings") || !old["settings"].is_object()) fail(mpath, "settings", "is missing or not an object");
  for (auto it = settings.begin(); it != settings.end(); ++it)
    if (!old["settings"].contains(it.key()) || old["settings"][it.key()] != it.value())
      fail(mpath, "settings." + it.key(), "differs from this run's, so --resume would mix two harvests",
           it.value().dump(), old["settings"].value(it.key(), Json()).dump());
  if (json_get<int64_t>(old, "target_tokens", mpath) != opt.tokens)
    fail(mpath, "target_tokens", "differs from --tokens", std::to_string(opt.tokens), old["target_tokens"].dump());
  hp.rows = json_get<int64_t>(old, "tokens", mpath);
  hp.complete = json_get<bool>(old, "complete", mpath);
  if (hp.complete) return hp;
  const Json& ns = old.contains("norm_state") ? old["norm_state"] : Json();
  const bool ns_ok = ns.is_object() && ns.contains("sum") && ns["sum"].is_array() && ns["sum"].size() == 2 &&
                     ns["sum"][0].is_number() && ns["sum"][1].is_number() && ns.contains("count") && ns["count"].is_number_integer();
  if (!ns_ok) fail(mpath, "norm_state", "is missing or malformed", "{\"sum\": [a, b], \"count\": n}", ns.dump().substr(0, 80));
  if (!old.contains("shards") || !old["shards"].is_array()) fail(mpath, "shards", "is missing or not a list");
  m["shards"] = old["shards"];
  hp.eval_rows = old.contains("eval_tokens") ? json_get<int64_t>(old, "eval_tokens", mpath) : 0;
  hp.norm.sum[0] = ns["sum"][0].get<double>();
  hp.norm.sum[1] = ns["sum"][1].get<double>();
  hp.norm.count = ns["count"].get<int64_t>();
  m["norm_factors"] = old.value("norm_factors", Json());
  packer.restore(old["packer_state"]);
  return hp;
}

// Leftovers of a killed run: temp files and shards the manifest does not list.
void remove_leftovers(const std::string& dir, size_t listed) {
  for (const fs::path& e : list_dir(dir)) {
    const std::string n = e.filename().string();
    const bool tmp = n.find(".tmp-") != std::string::npos;
    const bool numbered = n.size() > 11 && n.rfind("shard-", 0) == 0 &&
                          std::all_of(n.begin() + 6, n.begin() + 11, [](char c) { return c >= '0' && c <= '9'; });
    const bool stray_shard = numbered && std::stoul(n.substr(6, 5)) >= listed;
    std::error_code ec;
    if (tmp || stray_shard) fs::remove(e, ec);
    if (ec) fail(e.string(), "", "is a leftover of an interrupted harvest that cannot be removed: " + ec.message());
  }
}

// The manifest's running fields: counters, packer and norm state, tokens per corpus and each
// corpus's share asked (its weight) and got (its share of the tokens taken).
void update_manifest(Json& m, const HarvestProgress& hp, const HarvestConfig& cfg, const Json& packer_state, int64_t d, bool complete) {
  m["tokens"] = hp.rows;
  m["eval_tokens"] = hp.eval_rows;
  m["complete"] = complete;
  m["packer_state"] = packer_state;
  m["norm_state"] = {{"sum", {hp.norm.sum[0], hp.norm.sum[1]}}, {"count", hp.norm.count}};
  const std::vector<int64_t> taken = packer_state.at("taken").get<std::vector<int64_t>>();
  m["corpus_tokens_taken"] = taken;
  double wsum = 0, tsum = 0;
  for (size_t c = 0; c < cfg.corpora.size(); ++c) {
    wsum += cfg.corpora[c].weight;
    tsum += double(taken[c]);
  }
  Json asked = Json::array(), got = Json::array();
  for (size_t c = 0; c < cfg.corpora.size(); ++c) {
    asked.push_back(cfg.corpora[c].weight / wsum);
    got.push_back(tsum > 0 ? double(taken[c]) / tsum : 0.0);
  }
  m["corpus_share_asked"] = asked;
  m["corpus_share_got"] = got;
  if (hp.norm.count >= hp.norm.target || complete) m["norm_factors"] = hp.norm.factors(d);
}

}  // namespace

namespace {

// Where every rank starts: rank 0 reads the manifest (new, or the interrupted run's on --resume) and
// sends the packer state to the others, so all ranks pack the same sequences.
struct HarvestStart {
  Json manifest;
  HarvestProgress progress;
};

HarvestStart start_harvest(PairHarvester& h, const StoreOptions& opt, const std::string& mpath) {
  const HarvestConfig& cfg = h.config();
  Json settings = cfg.to_json();
  settings["store_dtype"] = dtype_name(opt.dtype);
  settings["shard_rows"] = opt.shard_rows;
  settings["norm_rows"] = opt.norm_rows;
  HarvestStart st{new_manifest(h, opt, settings), {}};
  st.progress.norm.target = opt.norm_rows;
  std::string shared;  // rank 0 -> all: {"complete": bool, "packer_state": state or null}
  if (dist::root()) {
    const bool resumed = opt.resume && fs::exists(mpath);
    if (resumed) st.progress = resume_manifest(mpath, settings, opt, st.manifest, h.packer());
    if (!st.progress.complete) remove_leftovers(opt.out, st.manifest["shards"].size());
    shared = Json({{"complete", st.progress.complete}, {"rows", st.progress.rows},
                   {"packer_state", resumed && !st.progress.complete ? h.packer().state() : Json()}})
                 .dump();
  }
  dist::broadcast(shared);
  if (!dist::root()) {
    const Json j = Json::parse(shared);
    st.progress.complete = j["complete"].get<bool>();
    st.progress.rows = j["rows"].get<int64_t>();
    if (!j["packer_state"].is_null()) h.packer().restore(j["packer_state"]);
  }
  return st;
}

}  // namespace

int64_t harvest_to_store(const HarvestConfig& cfg_in, const StoreOptions& opt) {
  if (opt.tokens <= 0) fail("", "--tokens", "must be positive", "> 0", std::to_string(opt.tokens));
  if (opt.shard_rows <= 0) fail("", "--shard-tokens", "must be positive");
  if (opt.dtype != DType::BF16 && opt.dtype != DType::F32) fail("", "--store-dtype", "must be bf16 or f32");
  const std::string mpath = opt.out + "/manifest.json";
  if (dist::root()) {
    make_dirs(opt.out);
    if (fs::exists(mpath) && !opt.resume)
      fail(mpath, "", "already exists", "", "", "use --resume to continue it, or choose another --out");
  }

  PairHarvester h(cfg_in);
  if (dist::root())
    for (const auto& w : h.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const HarvestConfig& cfg = h.config();
  auto [m, hp] = start_harvest(h, opt, mpath);
  if (hp.complete) {
    if (dist::root()) std::fprintf(stderr, "%s is already complete (%lld tokens)\n", opt.out.c_str(), (long long)hp.rows);
    return hp.rows;
  }

  Progress bar("harvest", opt.tokens, "tok", opt.progress && dist::root());
  bar.set(hp.rows);
  ShardBuffer shard(opt.dtype, dist::root() ? std::min(opt.shard_rows, opt.tokens) + int64_t(cfg.batch_seqs) * cfg.pack.seq_len : 0,
                    h.d_model());
  // Ranks take turns batch by batch. In each round every rank packs the same N batches (packing is
  // cheap and deterministic) and runs its own through both models; rank 0 receives them in order
  // and writes them exactly as one process would, with the packer state after each batch, so the
  // store, and a resume with any number of ranks, is the one-process store.
  const int N = dist::size();
  std::vector<Json> state_after(static_cast<size_t>(N));
  bool done = false;
  while (!done) {
    ActivationBatch mine;
    for (int i = 0; i < N; ++i) {
      std::vector<PackedSequence> seqs = h.take();
      if (i == dist::rank()) mine = h.run(seqs);
      if (dist::root()) state_after[size_t(i)] = h.packer().state();
    }
    // Rank 0 keeps its own batch (i = 0) and receives the others'.
    std::vector<std::string> parts = dist::gather(dist::root() ? std::string() : mine.to_bytes());
    for (int i = 0; i < N && dist::root() && !done; ++i) {
      ActivationBatch b = i == 0 ? std::move(mine) : ActivationBatch::from_bytes(parts[size_t(i)]);
      if (b.rows > opt.tokens - hp.rows) b = select_rows(b, -1, opt.tokens - hp.rows);  // the last batch, cut to the budget
      hp.norm.add(b);
      for (uint8_t s : b.split) hp.eval_rows += s;
      shard.append(b, 0, b.rows);
      hp.rows += b.rows;
      bar.set(hp.rows);
      done = hp.rows >= opt.tokens;
      if (shard.rows() >= opt.shard_rows || done) {
        const size_t idx = m["shards"].size();
        m["shards"].push_back({{"file", shard_name(idx)}, {"rows", shard.rows()}});
        shard.write(opt.out + "/" + shard_name(idx));
        update_manifest(m, hp, cfg, state_after[size_t(i)], h.d_model(), done);
        write_file_atomic(mpath, m.dump(2));
      }
    }
    done = dist::any(done);
  }
  bar.finish();
  std::string rows = std::to_string(hp.rows);
  dist::broadcast(rows);
  return std::stoll(rows);
}

}  // namespace cc

namespace cc {

void write_store(const std::string& dir, const ActivationBatch& rows, std::array<double, 2> norm_factors, DType dtype,
                 int64_t shard_rows) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "", "cannot create the store directory: " + ec.message());
  Json shards = Json::array();
  ShardBuffer part(dtype, std::min(shard_rows, rows.rows), rows.d);
  for (int64_t b = 0, i = 0; b < rows.rows; b += shard_rows, ++i) {
    const int64_t n = std::min(shard_rows, rows.rows - b);
    part.append(rows, b, n);
    part.write(dir + "/" + shard_name(size_t(i)));
    shards.push_back({{"file", shard_name(size_t(i))}, {"rows", n}});
  }
  Json m = {{"format", kStoreFormat}, {"d_model", rows.d}, {"dtype", dtype_name(dtype)}, {"tokens", rows.rows},
            {"target_tokens", rows.rows}, {"complete", true}, {"shards", shards}, {"hook", "synthetic"},
            {"models", {{"base", ""}, {"distilled", ""}}}, {"norm_factors", {norm_factors[0], norm_factors[1]}}};
  write_file_atomic(dir + "/manifest.json", m.dump(2));
}

}  // namespace cc

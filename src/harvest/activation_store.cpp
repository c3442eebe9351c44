// Store reader with full validation of manifest and shard headers.
#include "harvest/activation_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/finite.hpp"

namespace cc {

std::string shard_name(size_t i) {
  char b[40];
  std::snprintf(b, sizeof b, "shard-%05zu.safetensors", i);
  return b;
}

ActivationStore::ActivationStore(const std::string& dir) : dir_(dir) {
  const std::string mp = dir + "/manifest.json";
  if (!std::filesystem::exists(mp)) fail(mp, "", "not found", "", "", "is this an activation store made by `crosscoder harvest`?");
  manifest_ = read_json_file(mp);
  if (!manifest_.is_object()) fail(mp, "", "is not a JSON object");
  if (manifest_.value("format", Json()) != kStoreFormat)
    fail(mp, "format", "is not an activation store format this version reads", kStoreFormat, manifest_.value("format", Json("?")).dump());
  try {
    d_ = manifest_.at("d_model").get<int64_t>();
    const std::string dt = manifest_.at("dtype").get<std::string>();
    auto t = dtype_from_name(dt);
    if (!t || (*t != DType::BF16 && *t != DType::F32)) fail(mp, "dtype", "is not BF16 or F32", "BF16|F32", dt);
    dtype_ = *t;
    const Json& nf = manifest_.at("norm_factors");
    if (!nf.is_null()) norm_ = {nf.at(0).get<float>(), nf.at(1).get<float>()};
    if (!std::isfinite(norm_[0]) || !std::isfinite(norm_[1]) || norm_[0] <= 0 || norm_[1] <= 0)
      fail(mp, "norm_factors", "must be two finite positive numbers", "", nf.dump());
    for (const Json& s : manifest_.at("shards")) {
      shard_begin_.push_back(rows_);
      shard_rows_.push_back(s.at("rows").get<int64_t>());
      if (shard_rows_.back() < 0) fail(mp, "shards[" + std::to_string(shard_rows_.size() - 1) + "].rows", "is negative");
      rows_ += shard_rows_.back();
    }
  } catch (const Json::exception& e) {
    fail(mp, "", std::string("is malformed: ") + e.what());
  }
  if (d_ <= 0) fail(mp, "d_model", "must be positive");
  shards_.resize(shard_rows_.size());
}

std::string ActivationStore::text(const std::string& dotted) const {
  const Json* v = &manifest_;
  for (const std::string& k : split(dotted, '.')) {
    if (!v->is_object() || !v->contains(k)) return "";
    v = &(*v)[k];
  }
  if (v->is_null()) return "";
  if (!v->is_string()) fail(dir_ + "/manifest.json", dotted, "is not a string", "a string", v->dump().substr(0, 60));
  return v->get<std::string>();
}

std::string ActivationStore::path(const std::string& dotted) const {
  const std::string p = text(dotted);
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (std::filesystem::path(dir_) / p).lexically_normal().string();
}

const SafetensorsFile& ActivationStore::shard(size_t i) const {
  if (!shards_[i]) {
    auto f = std::make_unique<SafetensorsFile>(dir_ + "/" + shard_name(i));
    const int64_t n = shard_rows_[i];
    auto check = [&](const char* name, DType dt, const Shape& shape) {
      const TensorInfo* t = f->find(name);
      if (!t) fail(f->path(), name, "is missing from the shard");
      if (t->dtype != dt) fail(f->path(), name, "has wrong dtype", dtype_name(dt), dtype_name(t->dtype));
      if (t->shape != shape) fail(f->path(), name, "has wrong shape", shape_str(shape), shape_str(t->shape), "manifest and shard disagree");
    };
    check("acts", dtype_, {n, 2, d_});
    check("tokens", DType::I32, {n});
    check("doc", DType::I32, {n});
    check("pos", DType::I32, {n});
    check("corpus", DType::U8, {n});
    if (f->find("split")) check("split", DType::U8, {n});  // absent in stores written before splits
    shards_[i] = std::move(f);
  }
  return *shards_[i];
}

ActivationBatch ActivationStore::read(int64_t begin, int64_t n) const {
  ActivationBatch out;
  read_into(begin, n, out);
  return out;
}

void ActivationStore::read_into(int64_t begin, int64_t n, ActivationBatch& out) const {
  if (begin < 0 || n < 0 || begin + n > rows_)
    fail(dir_, "rows", "requested beyond the store", "<= " + std::to_string(rows_), std::to_string(begin + n));
  out.d = d_;
  out.rows = n;
  out.acts.resize(size_t(n * 2 * d_));
  out.tokens.resize(size_t(n));
  out.doc.resize(size_t(n));
  out.pos.resize(size_t(n));
  out.corpus.resize(size_t(n));
  out.split.assign(size_t(n), 0);
  int64_t done = 0;
  size_t s = size_t(std::upper_bound(shard_begin_.begin(), shard_begin_.end(), begin) - shard_begin_.begin()) - 1;
  while (done < n) {
    const SafetensorsFile& f = shard(s);
    const int64_t off = begin + done - shard_begin_[s];
    const int64_t take = std::min(n - done, shard_rows_[s] - off);
    const TensorInfo* a = f.find("acts");
    float* dst = out.acts.data() + done * 2 * d_;
    convert_to_f32(dtype_, a->data + size_t(off * 2 * d_) * dtype_size(dtype_), dst, size_t(take * 2 * d_));
    // A store written by another tool (or damaged on disk) may hold NaN/Inf: name the row.
    if (const size_t j = find_non_finite(dst, size_t(take * 2 * d_)); j != kAllFinite) {
      const int64_t row = off + int64_t(j) / (2 * d_), col = int64_t(j) % (2 * d_);
      fail(f.path(), "acts", "holds " + non_finite_name(DType::F32, dst, j) + " at row " + std::to_string(row) + " of this shard (model " +
           (col < d_ ? std::string("0, base") : std::string("1, distilled")) + ", dimension " + std::to_string(col % d_) + ")",
           "finite activations", non_finite_name(DType::F32, dst, j), "re-harvest this shard, or the store");
    }
    auto copy_i32 = [&](const char* name, std::vector<int32_t>& v) {
      std::memcpy(v.data() + done, f.find(name)->data + off * 4, size_t(take) * 4);
    };
    copy_i32("tokens", out.tokens);
    copy_i32("doc", out.doc);
    copy_i32("pos", out.pos);
    std::memcpy(out.corpus.data() + done, f.find("corpus")->data + off, size_t(take));
    if (const TensorInfo* t = f.find("split")) std::memcpy(out.split.data() + done, t->data + off, size_t(take));
    done += take;
    ++s;
  }
}

}  // namespace cc

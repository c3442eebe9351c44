#include "pipeline/stage_record.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

namespace cc {

namespace fs = std::filesystem;

std::string fingerprint_of(const std::string& text) {
  const uint64_t h = fnv1a64(text);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {
Json stamp_one(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  const auto mtime = fs::last_write_time(p, ec);
  return {{"size", ec ? -1 : int64_t(size)}, {"mtime", ec ? 0 : int64_t(mtime.time_since_epoch().count())}};
}
}  // namespace

Json file_stamp(const std::string& path) {
  if (path.empty()) return nullptr;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return stamp_one(path);
  if (!fs::is_directory(path, ec)) return "missing";
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec))
    if (e.is_regular_file(ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Json out = Json::object();
  for (const auto& f : files) out[fs::relative(f, path, ec).string()] = stamp_one(f);
  return out;
}

StageRecord::StageRecord(std::string run_dir) : path_(std::move(run_dir) + "/stages.json") {
  j_ = fs::exists(path_) ? read_json_file(path_) : Json::object();
  if (!j_.is_object()) fail(path_, "", "is not a JSON object; delete it to start the run afresh");
  for (auto it = j_.begin(); it != j_.end(); ++it)
    if (!it.value().is_object()) fail(path_, it.key(), "is not a JSON object; delete stages.json to start the run afresh");
}

bool StageRecord::done(const std::string& stage, const std::string& fp) const {
  return j_.contains(stage) && j_[stage].value("fingerprint", Json()) == fp && j_[stage].value("state", Json()) == "done";
}

bool StageRecord::started(const std::string& stage, const std::string& fp) const {
  return j_.contains(stage) && j_[stage].value("fingerprint", Json()) == fp && j_[stage].value("state", Json()) == "started";
}

void StageRecord::mark_started(const std::string& stage, const std::string& fp, const Json& settings) {
  j_[stage] = {{"fingerprint", fp}, {"state", "started"}, {"settings", settings}};
  save();
}

void StageRecord::mark_done(const std::string& stage, double seconds, const ResourceUsage& usage) {
  j_[stage]["state"] = "done";
  j_[stage]["seconds"] = seconds;
  j_[stage]["cpu"] = {{"user_s", usage.user_s}, {"system_s", usage.system_s}, {"minor_page_faults", usage.minor_faults},
                      {"major_page_faults", usage.major_faults}};
  j_[stage]["finished_at"] = int64_t(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  save();
}

void StageRecord::save() const { write_file_atomic(path_, j_.dump(2)); }

}  // namespace cc

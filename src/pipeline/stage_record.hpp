// What `crosscoder run` remembers between invocations: RUN/stages.json, one entry per stage with the
// fingerprint of its settings and inputs, its state (started | done), its wall time and CPU usage. A stage is
// skipped when it is done under the same fingerprint; the fingerprint of a stage includes those of
// the stages it reads, so a change anywhere upstream redoes everything downstream.
#pragma once
#include <cstdint>
#include <string>

#include "core/json_file.hpp"
#include "core/resource_usage.hpp"

namespace cc {

// 64-bit FNV-1a of the text, as 16 hex digits: a change detector, not a security hash.
std::string fingerprint_of(const std::string& text);

// Size and modification time of a file, or of every file under a folder (sorted): cheap evidence
// that model weights or corpora changed between runs without hashing gigabytes.
Json file_stamp(const std::string& path);

class StageRecord {
 public:
  explicit StageRecord(std::string run_dir);  // reads RUN/stages.json when present

  bool done(const std::string& stage, const std::string& fp) const;
  bool started(const std::string& stage, const std::string& fp) const;  // started under fp, not finished
  void mark_started(const std::string& stage, const std::string& fp, const Json& settings);
  void mark_done(const std::string& stage, double seconds, const ResourceUsage& usage);
  const Json& json() const { return j_; }

 private:
  void save() const;
  std::string path_;
  Json j_;
};

}  // namespace cc

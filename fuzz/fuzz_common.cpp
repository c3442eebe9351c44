#include "fuzz_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <vector>

#include "core/parallel.hpp"

namespace cc::fuzz {

namespace {
struct Scratch {
  std::string path;
  Scratch() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/ccfuzz-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    path = buf.data();
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};
}  // namespace

void setup() {
  set_num_threads(1);
  (void)scratch();
}

bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("CCFUZZ_VERBOSE");
    return e && *e && *e != '0';
  }();
  return v;
}

const std::string& scratch() {
  static Scratch s;
  return s.path;
}

std::string put(const std::string& name, const uint8_t* data, size_t size) {
  const std::string p = scratch() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
  return p;
}

std::string put(const std::string& name, std::string_view text) {
  return put(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace cc::fuzz

namespace cc::fuzz {

namespace fs = std::filesystem;

static std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

static void spit(const fs::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
}

FixtureDir::FixtureDir(std::string dir) : dir_(std::move(dir)) {
  for (const auto& e : fs::recursive_directory_iterator(dir_))
    if (e.is_regular_file()) files_.emplace_back(fs::relative(e.path(), dir_).string(), slurp(e.path()));
  std::sort(files_.begin(), files_.end());
  if (files_.empty()) {
    std::fprintf(stderr, "fuzz: fixture %s is empty\n", dir_.c_str());
    std::abort();
  }
}

std::string FixtureDir::replace(const uint8_t* data, size_t size) {
  const size_t k = size ? data[0] % files_.size() : 0;
  const fs::path p = fs::path(dir_) / files_[k].first;
  spit(p, size ? std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1) : std::string_view());
  return p.string();
}

void FixtureDir::restore() {
  std::vector<fs::path> extra;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), dir_).string();
    if (!std::binary_search(files_.begin(), files_.end(), std::pair<std::string, std::string>(rel, ""),
                            [](const auto& a, const auto& b) { return a.first < b.first; }))
      extra.push_back(e.path());
  }
  for (const auto& p : extra) fs::remove(p);
  for (const auto& [rel, bytes] : files_) spit(fs::path(dir_) / rel, bytes);
}

void FixtureDir::write_seeds_if_asked() const {
  const char* out = std::getenv("CCFUZZ_WRITE_SEEDS");
  if (!out || !*out) return;
  fs::create_directories(out);
  for (size_t i = 0; i < files_.size(); ++i) {
    std::string name = files_[i].first;
    std::replace(name.begin(), name.end(), '/', '_');
    spit(fs::path(out) / ("fixture-" + name), std::string(1, char(i)) + files_[i].second);
  }
}

}  // namespace cc::fuzz

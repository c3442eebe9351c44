// Shared by every fuzz target. A target writes the fuzzer's bytes to a real file in a private
// scratch folder and calls the same path-taking loader a user's command calls, so what is fuzzed
// is the product's entry point, mmap and all. The only acceptable way to refuse input is
// cc::Error (a message naming the file); any other exception, a crash, a sanitizer report, a hang
// or a blown memory limit is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace cc::fuzz {

// Every target's LLVMFuzzerInitialize calls this first: one library thread (a fuzzer process is
// one of many run side by side, and single-threaded runs replay exactly) and the scratch folder.
void setup();

// A per-process scratch folder under $TMPDIR, removed at exit.
const std::string& scratch();

// Writes bytes to scratch()/name (plain write, not atomic: the loader must cope with anything).
std::string put(const std::string& name, const uint8_t* data, size_t size);
std::string put(const std::string& name, std::string_view text);

// A folder of valid files (a model, a store, a checkpoint) of which each input replaces one: the
// input's first byte picks the file (modulo the count), the rest is its new content. The other
// files stay valid, so the fuzzer works on one format at a time with real neighbours.
class FixtureDir {
 public:
  explicit FixtureDir(std::string dir);  // snapshots every regular file under dir
  const std::string& dir() const { return dir_; }
  // Writes the replacement; returns the replaced file's path.
  std::string replace(const uint8_t* data, size_t size);
  // Puts every file back as snapshotted and removes files that were not there (a loader that
  // writes, such as a resumed training run, may change more than the replaced file).
  void restore();
  // With CCFUZZ_WRITE_SEEDS=FOLDER set, writes one seed per file (its index byte + its bytes).
  void write_seeds_if_asked() const;

 private:
  std::string dir_;
  std::vector<std::pair<std::string, std::string>> files_;  // relative name, bytes
};

// Runs f; swallows cc::Error (the documented refusal). Everything else propagates to the fuzzer.
// CCFUZZ_VERBOSE=1 prints each refusal, to see whether seeds get past the checks.
bool verbose();
template <class F>
void refuse_ok(F&& f) {
  try {
    f();
    if (verbose()) std::fprintf(stderr, "  accepted\n");
  } catch (const cc::Error& e) {
    if (verbose()) std::fprintf(stderr, "  refused: %s\n", e.what());
  }
}

// The LLVMFuzzerInitialize of a target without a fixture.
#define CC_FUZZ_INIT_WITHOUT_FIXTURE                         \
  extern "C" int LLVMFuzzerInitialize(int*, char***) { \
    cc::fuzz::setup();                                  \
    return 0;                                           \
  }

// An invariant of the harness itself: a violation aborts so the fuzzer records the input.
#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

}  // namespace cc::fuzz

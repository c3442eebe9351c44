// `crosscoder train` killed with SIGKILL at seeded random moments and resumed ends bit-identical to
// an uninterrupted run (same seed and thread count), its log included; no file under a final name
// is ever partial.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/atomic_file.hpp"
#include "core/safetensors.hpp"
#include "harvest/store_writer.hpp"
#include "kill_harness.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

namespace fs = std::filesystem;

void make_store(const std::string& dir) {
  ActivationBatch b;
  b.d = 8;
  std::mt19937 r(3);
  std::normal_distribution<float> n(0.f, 1.f);
  for (int t = 0; t < 20000; ++t) {
    for (int i = 0; i < 16; ++i) b.acts.push_back(n(r));
    b.tokens.push_back(0);
    b.doc.push_back(t);
    b.pos.push_back(0);
    b.corpus.push_back(0);
    ++b.rows;
  }
  write_store(dir, b, {1.0, 1.0});
}

// The log without its wall-clock field, one line per logged step.
std::string log_without_timing(const std::string& path) {
  std::string out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line);  // a cut line would throw: the resumed log must be whole
    j.erase("tokens_per_s");
    out += j.dump() + "\n";
  }
  return out;
}

// Files under final names in a checkpoint folder being written are whole.
void expect_checkpoint_files_whole(const std::string& out) {
  for (const char* n : {"crosscoder.safetensors", "trainer_state.safetensors"}) {
    const std::string p = out + "/" + n;
    if (!fs::exists(p)) continue;
    try {
      SafetensorsFile f(p);
      EXPECT_NE(f.find("W_dec"), nullptr) << n;
    } catch (const std::exception& x) {
      ADD_FAILURE() << n << " is visible but not whole: " << x.what();
    }
  }
  if (fs::exists(out + "/config.json")) {
    EXPECT_NO_THROW(read_json_file(out + "/config.json"));
  }
}

TEST(TrainCli, KilledAtRandomMomentsAndResumedEqualsUninterrupted) {
  test::TempDir d;
  make_store(d / "store");
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"argv0", "train", "--acts", d / "store", "--out", out, "--dict-size", "256",
                                    "--batch-size", "256", "--tokens", std::to_string(256 * 600), "--save-every", "20",
                                    "--quiet", "--threads", "2", "--lr", "1e-3"};
  };
  auto strip_argv0 = [](std::vector<std::string> a) { return std::vector<std::string>(a.begin() + 1, a.end()); };
  const double ref_s = test::run_cli(strip_argv0(args(d / "full")));
  ASSERT_GT(ref_s, 0);
  const std::string want = read_file(d / "full/crosscoder.safetensors");
  const std::string want_log = log_without_timing(d / "full/train_log.jsonl");
  int kills = 0, seed = 0;
  for (double at : test::kill_moments(ref_s, 5)) {
    ++seed;
    const std::string out = d / ("k" + std::to_string(seed));
    const test::KillOutcome k = test::kill_at(strip_argv0(args(out)), at, [&] { expect_checkpoint_files_whole(out); });
    kills += k.killed;
    auto a = strip_argv0(args(out));
    // Killed before its first checkpoint: nothing to resume, so it starts again (as a user would).
    if (fs::exists(out + "/trainer_state.safetensors")) a.push_back("--resume");
    ASSERT_GT(test::run_cli(a), 0) << "resume failed, seed " << seed;
    EXPECT_EQ(read_file(out + "/crosscoder.safetensors"), want) << "seed " << seed;
    EXPECT_EQ(log_without_timing(out + "/train_log.jsonl"), want_log) << "seed " << seed;
    for (const auto& e : fs::directory_iterator(out)) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos);
    std::printf("seed %d: killed at %.2f s of %.2f s (%s, %d looks)\n", seed, at, ref_s, k.killed ? "killed" : "had finished", k.looks);
  }
  EXPECT_GE(kills, 3) << "runs ended before the kill: resume was not exercised";
}

TEST(TrainCli, FullDiskIsAClearErrorAndTheLastCheckpointResumes) {
  test::TempDir d;
  make_store(d / "store");
  auto cmd = [&](const std::string& out) {
    return std::string(CROSSCODER_BIN) + " train --acts " + d / "store" + " --out " + out +
           " --dict-size 256 --batch-size 256 --tokens " + std::to_string(256 * 200) + " --save-every 20 --quiet --threads 2 --lr 1e-3";
  };
  ASSERT_EQ(test::run_shell(cmd(d / "full")), 0);
  // A checkpoint is ~137 KB (trainer_state + crosscoder.safetensors): the disk fills in the third.
  std::string log;
  const int rc = test::run_shell(test::full_disk_after(400'000) + cmd(d / "out"), &log);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  EXPECT_NE(log.find("intact"), std::string::npos) << log;
  for (const auto& e : fs::directory_iterator(d / "out")) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
  expect_checkpoint_files_whole(d / "out");
  // Space is back: --resume continues from the last checkpoint and ends where an undisturbed run does.
  ASSERT_EQ(test::run_shell(cmd(d / "out") + " --resume", &log), 0) << log;
  EXPECT_EQ(read_file(d / "out/crosscoder.safetensors"), read_file(d / "full/crosscoder.safetensors"));
  EXPECT_EQ(log_without_timing(d / "out/train_log.jsonl"), log_without_timing(d / "full/train_log.jsonl"));
}

}  // namespace
}  // namespace cc

// `crosscoder train` killed with SIGKILL at random points and resumed ends bit-identical to an
// uninterrupted run (same seed and thread count).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "core/atomic_file.hpp"
#include "core/safetensors.hpp"
#include "harvest/store_writer.hpp"
#include "test_util.hpp"

extern char** environ;

namespace cc {
namespace {

namespace fs = std::filesystem;

int64_t saved_step(const std::string& dir) {
  try {
    SafetensorsFile f(dir + "/trainer_state.safetensors");
    return Json::parse(f.metadata().value("state", std::string("{}"))).value("step", int64_t(0));
  } catch (const std::exception&) {
    return 0;
  }
}

TEST(TrainCli, KilledAndResumedEqualsUninterrupted) {
  test::TempDir d;
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
  write_store(d / "store", b, {1.0, 1.0});
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{CROSSCODER_BIN, "train", "--acts", d / "store", "--out", out, "--dict-size", "256",
                                    "--batch-size", "256", "--tokens", std::to_string(256 * 600), "--save-every", "20",
                                    "--quiet", "--threads", "2", "--lr", "1e-3"};
  };
  auto run = [&](std::vector<std::string> a) {
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid;
    EXPECT_EQ(posix_spawn(&pid, CROSSCODER_BIN, nullptr, nullptr, argv.data(), environ), 0);
    return pid;
  };
  auto wait_ok = [](pid_t pid) {
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
  };
  ASSERT_TRUE(wait_ok(run(args(d / "full"))));
  const std::string want = read_file(d / "full/crosscoder.safetensors");
  int kills = 0;
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string out = d / ("k" + std::to_string(seed));
    const pid_t pid = run(args(out));
    const int64_t at = 40 * seed + 7 * seed * seed;  // steps to wait for before the kill
    bool killed = false;
    for (int i = 0; i < 200000 && !killed; ++i) {
      if (saved_step(out) >= at) killed = kill(pid, SIGKILL) == 0;
      else std::this_thread::sleep_for(std::chrono::microseconds(300 + 50 * seed));
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (killed && WIFSIGNALED(st)) ++kills;
    auto a = args(out);
    a.push_back("--resume");
    ASSERT_TRUE(wait_ok(run(a))) << "resume failed, seed " << seed;
    EXPECT_EQ(read_file(out + "/crosscoder.safetensors"), want) << "seed " << seed;
    for (const auto& e : fs::directory_iterator(out)) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos);
  }
  EXPECT_GE(kills, 2) << "runs ended before the kill: resume was not exercised";
}

}  // namespace
}  // namespace cc

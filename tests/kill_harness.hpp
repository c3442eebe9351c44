// Kill tests: run a `crosscoder` command, watch its output folder while it runs, SIGKILL it at a
// seeded random moment, and check after every look that each file under a final name is whole.
#pragma once
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace cc::test {

inline pid_t spawn_cli(std::vector<std::string> args) {
  args.insert(args.begin(), CROSSCODER_BIN);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, CROSSCODER_BIN, nullptr, nullptr, argv.data(), environ), 0);
  return pid;
}

// Runs a shell command line; returns its exit status (-1 if killed), output in *out.
inline int run_shell(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  std::string o;
  while (fgets(buf, sizeof buf, p)) o += buf;
  if (out) *out = o;
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// The prefix that runs a command on a disk that fills after `bytes` bytes (tests/fault/).
inline std::string full_disk_after(long long bytes) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  // ASan insists on being first in the library list; the shim only wraps write()/writev().
  return "ENOSPC_AFTER=" + std::to_string(bytes) + " LD_PRELOAD=" + ENOSPC_PRELOAD + " ASAN_OPTIONS=" +
         (asan && *asan ? std::string(asan) + ":" : std::string()) + "verify_asan_link_order=0 ";
}

// Runs to the end; returns the wall time in seconds, or -1 when the command failed.
inline double run_cli(const std::vector<std::string>& args) {
  const auto t0 = std::chrono::steady_clock::now();
  int st = 0;
  waitpid(spawn_cli(args), &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct KillOutcome {
  bool killed = false;  // SIGKILL ended it (false: it finished first)
  int looks = 0;        // times check_visible ran while it was alive
};

// Starts the command and kills it after `after_s` seconds, calling check_visible (which should
// EXPECT that every final-named file is complete) about every half millisecond meanwhile and once
// after the kill.
inline KillOutcome kill_at(const std::vector<std::string>& args, double after_s, const std::function<void()>& check_visible) {
  KillOutcome o;
  const pid_t pid = spawn_cli(args);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(after_s);
  int st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      o.killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
      break;
    }
    check_visible();
    ++o.looks;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  check_visible();
  return o;
}

// Kill moments for `seeds` runs: uniform over [5%, 95%] of a reference run's wall time.
inline std::vector<double> kill_moments(double ref_s, int seeds) {
  std::vector<double> t;
  for (int s = 1; s <= seeds; ++s) {
    std::mt19937 r{static_cast<uint32_t>(s)};
    t.push_back(ref_s * std::uniform_real_distribution<double>(0.05, 0.95)(r));
  }
  return t;
}

}  // namespace cc::test

// A progress line on stderr for long jobs: done/total, rate, ETA; redrawn at most 4 times a second
// and only when stderr is a terminal (otherwise one line every 10% so CI logs stay short).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace cc {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "tok", bool enabled = true);
  ~Progress();  // finishes the line
  void add(int64_t n);
  void set(int64_t done);
  void finish();
  void note(std::string s) { note_ = std::move(s); }  // shown after the rate, e.g. "loss 1.23 L0 95"

 private:
  void draw(bool final);
  std::string label_, unit_, note_;
  int64_t total_, done_ = 0, start_done_ = -1;
  std::chrono::steady_clock::time_point start_, last_;
  bool tty_, enabled_, finished_ = false;
  int last_decile_ = -1;
};

std::string human_count(double n);     // 1.2k, 3.4M
std::string human_duration(double s);  // 5m12s

}  // namespace cc

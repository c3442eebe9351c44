// Progress rendering.
#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace cc {

std::string human_count(double n) {
  char b[32];
  if (n >= 1e9) std::snprintf(b, sizeof b, "%.2fG", n / 1e9);
  else if (n >= 1e6) std::snprintf(b, sizeof b, "%.2fM", n / 1e6);
  else if (n >= 1e3) std::snprintf(b, sizeof b, "%.1fk", n / 1e3);
  else std::snprintf(b, sizeof b, "%.0f", n);
  return b;
}

std::string human_duration(double s) {
  char b[32];
  if (s < 0 || s > 1e8) return "?";
  const long t = long(s);
  if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(b, sizeof b, "%lds", t);
  return b;
}

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_(start_), tty_(isatty(STDERR_FILENO) != 0), enabled_(enabled) {}

Progress::~Progress() { finish(); }

void Progress::add(int64_t n) { set(done_ + n); }

void Progress::set(int64_t done) {
  if (start_done_ < 0) start_done_ = done_;  // work done before this process (resume) is not in the rate
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_ < std::chrono::milliseconds(250)) return;
  } else {
    const int decile = total_ > 0 ? int(10 * done_ / total_) : 0;
    if (decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_ = now;
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  if (!enabled_) return;
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = el > 0 ? double(done_ - std::max<int64_t>(start_done_, 0)) / el : 0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : -1;
  const double pct = total_ > 0 ? 100.0 * double(done_) / double(total_) : 0;
  std::fprintf(stderr, "%s[%s] %5.1f%% %s/%s %s  %s %s/s  %s %s%s%s%s", tty_ ? "\r" : "", label_.c_str(), pct,
               human_count(double(done_)).c_str(), human_count(double(total_)).c_str(), unit_.c_str(),
               human_count(rate).c_str(), unit_.c_str(), final ? "took" : "ETA",
               human_duration(final ? el : eta).c_str(), note_.empty() ? "" : "  ", note_.c_str(),
               (final || !tty_) ? "\n" : "  ");
  std::fflush(stderr);
}

}  // namespace cc

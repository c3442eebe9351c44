// ResourceUsage from getrusage(RUSAGE_SELF): every thread of the process.
#include "core/resource_usage.hpp"

#include <sys/resource.h>

namespace cc {

namespace {
double seconds(const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); }
}  // namespace

ResourceUsage ResourceUsage::now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return {seconds(u.ru_utime), seconds(u.ru_stime), int64_t(u.ru_minflt), int64_t(u.ru_majflt)};
}

ResourceUsage ResourceUsage::operator-(const ResourceUsage& e) const {
  return {user_s - e.user_s, system_s - e.system_s, minor_faults - e.minor_faults, major_faults - e.major_faults};
}

}  // namespace cc

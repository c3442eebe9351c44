// CPU time and page faults of this process (getrusage), and their difference over a span of work:
// what `crosscoder run` records per stage and the training benchmark per step, so that time spent
// in the kernel (page faults from memory returned and taken again) shows next to the work.
#pragma once
#include <cstdint>

namespace cc {

struct ResourceUsage {
  double user_s = 0, system_s = 0;
  int64_t minor_faults = 0, major_faults = 0;

  static ResourceUsage now();
  ResourceUsage operator-(const ResourceUsage& earlier) const;
  double system_share() const { return user_s > 0 ? system_s / user_s : 0.0; }  // system / user
};

}  // namespace cc

// cpu_feature_summary from /proc/cpuinfo's first "flags" line.
#include "core/cpu_features.hpp"

#include <fstream>
#include <sstream>
#include <set>

namespace cc {

std::string cpu_feature_summary() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> have;
    for (std::string w; words >> w;) have.insert(w);
    std::string out;
    for (const char* f : {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"})
      if (have.count(f)) out += (out.empty() ? "" : " ") + std::string(f);
    return out;
  }
  return "";
}

}  // namespace cc

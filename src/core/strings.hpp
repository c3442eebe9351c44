// Small string helpers shared by the command line and config readers.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cc {

// "1,2, 3" → {1,2,3}; errors name `what` and the bad item.
std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what);
std::vector<std::string> split(const std::string& s, char sep);
std::string human_bytes(double bytes);  // "1.50 GiB"
// 64-bit FNV-1a: a stable hash for change detection and document splits, not for security.
uint64_t fnv1a64(std::string_view s);

}  // namespace cc

// NaN/Inf scan benchmark: what checking a checkpoint's weights on load costs. Scans a buffer of
// BF16 (as real checkpoints are stored) and F32 with find_non_finite on one thread and on all, next
// to the peers measured in the same run: memcpy of the same bytes (memory bandwidth) and a plain
// std::isfinite loop over the F32 buffer. Prints one JSON line.
// Usage: bench_finite [GIB]   (default 1 GiB per buffer)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtype.hpp"
#include "core/finite.hpp"
#include "core/parallel.hpp"
#include "bench_timing.hpp"

using namespace cc;
using bench::best_seconds;

int main(int argc, char** argv) {
  const double gib = argc > 1 ? std::atof(argv[1]) : 1.0;
  const size_t bytes = size_t(gib * double(1ull << 30));
  std::vector<uint16_t> bf16(bytes / 2, f32_to_bf16(0.5f));
  std::vector<float> f32(bytes / 4, 0.5f);
  std::vector<char> dst(bytes);
  for (size_t i = 0; i < bf16.size(); i += 4099) bf16[i] = f32_to_bf16(float(i % 97) - 48.f);
  size_t sink = 0;
  set_num_threads(1);
  const double bf16_1 = best_seconds([&] { sink += find_non_finite(DType::BF16, bf16.data(), bf16.size()); });
  const double f32_1 = best_seconds([&] { sink += find_non_finite(f32.data(), f32.size()); });
  const double isfinite_1 = best_seconds([&] {
    size_t bad = 0;
    for (float v : f32) bad += !std::isfinite(v);
    sink += bad;
  });
  const double memcpy_1 = best_seconds([&] { std::memcpy(dst.data(), bf16.data(), bytes); });
  set_num_threads(0);
  const int threads = num_threads();
  const double bf16_n = best_seconds([&] { sink += find_non_finite(DType::BF16, bf16.data(), bf16.size()); });
  const double gb = double(bytes) / 1e9;
  std::printf("{\"bytes\": %zu, \"threads\": %d, \"bf16_scan_gbps_1t\": %.2f, \"bf16_scan_gbps_all\": %.2f, "
              "\"f32_scan_gbps_1t\": %.2f, \"isfinite_loop_gbps_1t\": %.2f, \"memcpy_gbps_1t\": %.2f, "
              "\"bf16_scan_vs_memcpy\": %.2f, \"sink\": %zu}\n",
              bytes, threads, gb / bf16_1, gb / bf16_n, gb / f32_1, gb / isfinite_1, gb / memcpy_1, memcpy_1 / bf16_1, sink);
  return 0;
}

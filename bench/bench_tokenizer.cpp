// Tokenizer benchmark: load time of a tokenizer.json, encode throughput single-threaded and on all
// threads over a JSONL of {"text": ...} documents (the same file the HF peer reads). One JSON line.
// Usage: bench_tokenizer TOKENIZER_JSON DOCS_JSONL
#include <chrono>
#include <cstdio>
#include <fstream>

#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/parallel.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_tokenizer TOKENIZER_JSON DOCS_JSONL\n");
    return 2;
  }
  try {
    std::vector<std::string> docs;
    std::ifstream in(argv[2]);
    std::string line;
    size_t bytes = 0;
    while (std::getline(in, line))
      if (!line.empty()) {
        docs.push_back(Json::parse(line)["text"].get<std::string>());
        bytes += docs.back().size();
      }
    auto t0 = Clock::now();
    auto tok = Tokenizer::load(argv[1]);
    const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    size_t tokens = 0;
    set_num_threads(1);
    auto t1 = Clock::now();
    for (const auto& d : docs) tokens += tok->encode(d).size();
    const double single_s = std::chrono::duration<double>(Clock::now() - t1).count();
    set_num_threads(0);
    auto t2 = Clock::now();
    auto all = tok->encode_batch(docs);
    const double batch_s = std::chrono::duration<double>(Clock::now() - t2).count();
    std::printf("{\"impl\":\"crosscoder.cpp\",\"bytes\":%zu,\"docs\":%zu,\"tokens\":%zu,\"single_mb_s\":%.2f,"
                "\"batch_mb_s\":%.2f,\"threads\":%d,\"load_ms\":%.1f}\n",
                bytes, docs.size(), tokens, bytes / single_s / 1e6, bytes / batch_s / 1e6, num_threads(), load_ms);
  } catch (const cc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

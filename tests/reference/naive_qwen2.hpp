// A deliberately naive double-precision Qwen2 forward written from HF transformers'
// modeling_qwen2.py equations. It shares no code with src/ (own file reading, own math) so that
// agreement with the fast path means something.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ref {

struct Model {
  int64_t V, d, I, L, H, KV, hd;
  double eps, theta;
  bool tied;
  std::map<std::string, std::vector<double>> w;  // HF name -> values (row-major)
};

Model load(const std::string& dir);  // throws std::runtime_error

struct Result {
  std::vector<std::vector<double>> logits;             // [T][V]
  std::vector<std::vector<std::vector<double>>> resid;  // [L+1][T][d]: resid_pre of each layer, then resid_post of the last
};

// add_site/add_vec: add the vector to every position's residual at that site (-1 = none).
Result forward(const Model& m, const std::vector<int32_t>& tokens, int add_site = -1,
               const std::vector<double>& add_vec = {});

}  // namespace ref

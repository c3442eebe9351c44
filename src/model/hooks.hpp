// Hook points on the residual stream, named as in TransformerLens:
//   site L (0 <= L < n_layers)  = "blocks.L.hook_resid_pre"  (= HF hidden_states[L])
//   site n_layers               = "blocks.{n-1}.hook_resid_post" (before the final norm)
// "blocks.L.hook_resid_post" for L < n-1 is the same stream as site L+1. Note HF's last
// hidden_states entry has the final norm applied; site n_layers is the stream before it.
// A hook sees the rows of the batch at its site and may read, add to or overwrite them.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace cc {

struct RowInfo {
  int32_t seq;    // index of the sequence in the batch
  int32_t pos;    // absolute position in that sequence (counts cached tokens)
  int32_t token;  // token id at this position
};

struct HookContext {
  int site;
  float* x;  // [rows, d] row-major, mutable
  int64_t rows, d;
  std::span<const RowInfo> info;  // one per row
};

using HookFn = std::function<void(HookContext&)>;

class Hooks {
 public:
  void add(int site, HookFn fn);
  bool empty() const { return fns_.empty(); }
  int max_site() const;  // -1 when empty
  void run(HookContext& ctx) const;

 private:
  std::vector<std::pair<int, HookFn>> fns_;
};

// Parses "blocks.L.hook_resid_pre" / "blocks.L.hook_resid_post" or a bare layer number L
// (= resid_pre L, 0 <= L < n_layers) into a site; errors name the bad string and the valid range.
int parse_hook_site(const std::string& name, int64_t n_layers);
std::string hook_site_name(int site, int64_t n_layers);

// Adds `v` (length d) scaled by alpha to every row whose position is >= from_pos.
HookFn make_add_hook(std::vector<float> v, float alpha = 1.f, int32_t from_pos = 0);
// Copies the site's rows into *out ([rows, d], appended in batch order).
HookFn make_capture_hook(std::vector<float>* out);

}  // namespace cc

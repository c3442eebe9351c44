// oneDNN's BF16 matmul behind a one-call interface, and the f32 -> BF16 rounding of GEMM inputs.
// oneDNN (Debian libdnnl 2.6) picks its kernel for the CPU at run time (brgemm with AVX512-BF16 on
// Zen 4 / Sapphire Rapids); where it has none for BF16 (AVX2-only CPUs) creating the primitive
// fails, and that one probe decides the path for the whole run.
#include "model/gemm_bf16.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "core/dtype.hpp"
#include "core/parallel.hpp"

#ifdef CROSSCODER_ONEDNN
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace cc {

namespace {

Bf16GemmPath g_path = std::getenv("CROSSCODER_BF16_GEMM") && std::string(std::getenv("CROSSCODER_BF16_GEMM")) == "fallback"
                          ? Bf16GemmPath::Fallback
                          : Bf16GemmPath::Auto;

#ifdef CROSSCODER_ONEDNN
using dnnl::memory;

struct Onednn {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  // One primitive per shape: a model has a handful of GEMM shapes, each called every layer.
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, bool>, dnnl::matmul> prims;
  std::mutex m;
  std::string kernel;  // oneDNN's name for what it chose, e.g. "brg:avx512_core_bf16"
  bool ok = false;

  dnnl::matmul::primitive_desc describe(int64_t M, int64_t N, int64_t K, int64_t ldy, bool accumulate) {
    memory::desc xd({M, K}, memory::data_type::bf16, memory::dims{K, 1});
    memory::desc wd({K, N}, memory::data_type::bf16, memory::dims{1, K});  // w is [N, K] row-major
    memory::desc yd({M, N}, memory::data_type::f32, memory::dims{ldy, 1});
    dnnl::primitive_attr attr;
    if (accumulate) {
      dnnl::post_ops po;
      po.append_sum(1.f);
      attr.set_post_ops(po);
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(xd, wd, yd), attr, eng);
  }

  Onednn() {
    try {
      auto pd = describe(64, 64, 64, 64, false);
      kernel = pd.impl_info_str();
      // oneDNN's reference kernels also "support" BF16, at a small fraction of sgemm's speed.
      ok = kernel.find("ref") == std::string::npos;
    } catch (const dnnl::error&) {
      ok = false;
    }
  }
};

Onednn& onednn() {
  static Onednn o;
  return o;
}
#endif

}  // namespace

void set_bf16_gemm_path(Bf16GemmPath p) { g_path = p; }

bool bf16_gemm_native() {
#ifdef CROSSCODER_ONEDNN
  return g_path == Bf16GemmPath::Auto && onednn().ok;
#else
  return false;
#endif
}

bool bf16_dot_native() {
#if defined(__AVX512BF16__)
  return g_path == Bf16GemmPath::Auto;
#else
  return false;
#endif
}

const char* bf16_gemm_path_name() {
  static const std::string fallback = "fallback (sgemm on widened BF16)";
  static const std::string fallback_dot = "sgemm on widened BF16, vdpbf16ps decode";
#ifdef CROSSCODER_ONEDNN
  static const std::string native = "onednn (" + onednn().kernel + ")";
  static const std::string native_dot = native + ", vdpbf16ps decode";
  if (bf16_gemm_native()) return bf16_dot_native() ? native_dot.c_str() : native.c_str();
#endif
  return bf16_dot_native() ? fallback_dot.c_str() : fallback.c_str();
}

void gemm_bf16_onednn(float* y, int64_t ldy, const uint16_t* x, int64_t M, const uint16_t* w, int64_t N, int64_t K,
                      bool accumulate) {
#ifdef CROSSCODER_ONEDNN
  Onednn& o = onednn();
  std::lock_guard<std::mutex> lk(o.m);
  const auto key = std::make_tuple(M, N, K, ldy, accumulate);
  auto it = o.prims.find(key);
  if (it == o.prims.end()) it = o.prims.emplace(key, dnnl::matmul(o.describe(M, N, K, ldy, accumulate))).first;
  if (omp_get_max_threads() != num_threads()) omp_set_num_threads(num_threads());
  memory xm({{M, K}, memory::data_type::bf16, memory::dims{K, 1}}, o.eng, const_cast<uint16_t*>(x));
  memory wm({{K, N}, memory::data_type::bf16, memory::dims{1, K}}, o.eng, const_cast<uint16_t*>(w));
  memory ym({{M, N}, memory::data_type::f32, memory::dims{ldy, 1}}, o.eng, y);
  it->second.execute(o.stream, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
  o.stream.wait();
#else
  (void)y, (void)ldy, (void)x, (void)M, (void)w, (void)N, (void)K, (void)accumulate;
#endif
}

void round_rows_to_bf16(uint16_t* dst, const float* src, int64_t rows, int64_t cols, int64_t ld) {
  parallel_for(rows, std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, cols)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) convert_f32_to_bf16(src + r * ld, dst + r * cols, size_t(cols));
  });
}

}  // namespace cc

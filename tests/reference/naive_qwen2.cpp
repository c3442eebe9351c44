// Naive reference forward: plain loops, doubles, one sequence, no cache.
#include "reference/naive_qwen2.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace ref {

namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double half_to_double(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, f = h & 1023;
  double v = e == 0 ? std::ldexp(f, -24) : std::ldexp(1024 + f, e - 25);
  if (e == 31) v = f ? NAN : INFINITY;
  return s ? -v : v;
}

void read_safetensors(const std::string& path, std::map<std::string, std::vector<double>>& out) {
  const std::string s = slurp(path);
  uint64_t n = 0;
  std::memcpy(&n, s.data(), 8);
  auto h = nlohmann::json::parse(s.substr(8, n));
  for (auto& [name, v] : h.items()) {
    if (name == "__metadata__") continue;
    const std::string dt = v["dtype"];
    const size_t b = v["data_offsets"][0], e = v["data_offsets"][1];
    const char* p = s.data() + 8 + n + b;
    std::vector<double> x;
    if (dt == "F32") {
      for (size_t i = 0; i < (e - b) / 4; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        x.push_back(f);
      }
    } else if (dt == "BF16") {
      for (size_t i = 0; i < (e - b) / 2; ++i) {
        uint16_t u;
        std::memcpy(&u, p + 2 * i, 2);
        uint32_t w = uint32_t(u) << 16;
        float f;
        std::memcpy(&f, &w, 4);
        x.push_back(f);
      }
    } else if (dt == "F16") {
      for (size_t i = 0; i < (e - b) / 2; ++i) {
        uint16_t u;
        std::memcpy(&u, p + 2 * i, 2);
        x.push_back(half_to_double(u));
      }
    } else {
      throw std::runtime_error("reference: dtype " + dt);
    }
    out[name] = std::move(x);
  }
}

// y[out] = W[out,in] x[in] (+ b)
std::vector<double> matvec(const std::vector<double>& W, const std::vector<double>& x, int64_t out,
                           const std::vector<double>* b = nullptr) {
  const int64_t in = int64_t(x.size());
  std::vector<double> y(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double acc = b ? (*b)[size_t(o)] : 0.0;
    for (int64_t i = 0; i < in; ++i) acc += W[size_t(o * in + i)] * x[size_t(i)];
    y[size_t(o)] = acc;
  }
  return y;
}

std::vector<double> rmsnorm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double r = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = w[i] * x[i] * r;
  return y;
}

// HF: inv_freq = 1/theta^(arange(0,hd,2)/hd) in float32; angle = float32(pos * inv_freq).
void rope(std::vector<double>& x, int64_t heads, int64_t hd, int64_t pos, double theta) {
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < hd / 2; ++i) {
      const float inv = 1.0f / float(std::pow(theta, double(float(2 * i) / float(hd))));
      const double a = double(float(pos) * inv);
      const double c = std::cos(a), s = std::sin(a);
      double& x1 = x[size_t(h * hd + i)];
      double& x2 = x[size_t(h * hd + i + hd / 2)];
      const double a1 = x1, a2 = x2;
      x1 = a1 * c - a2 * s;  // x*cos + rotate_half(x)*sin, rotate_half = (-x2, x1)
      x2 = a2 * c + a1 * s;
    }
}

}  // namespace

Model load(const std::string& dir) {
  auto c = nlohmann::json::parse(slurp(dir + "/config.json"));
  Model m;
  m.V = c["vocab_size"];
  m.d = c["hidden_size"];
  m.I = c["intermediate_size"];
  m.L = c["num_hidden_layers"];
  m.H = c["num_attention_heads"];
  m.KV = c["num_key_value_heads"];
  m.hd = c.contains("head_dim") ? int64_t(c["head_dim"]) : m.d / m.H;
  m.eps = c["rms_norm_eps"];
  m.theta = c["rope_theta"];
  m.tied = c.value("tie_word_embeddings", false);
  std::ifstream idx(dir + "/model.safetensors.index.json");
  if (idx) {
    auto j = nlohmann::json::parse(slurp(dir + "/model.safetensors.index.json"));
    std::map<std::string, int> files;
    for (auto& [k, v] : j["weight_map"].items()) files[v.get<std::string>()] = 1;
    for (auto& [f, _] : files) read_safetensors(dir + "/" + f, m.w);
  } else {
    read_safetensors(dir + "/model.safetensors", m.w);
  }
  return m;
}

Result forward(const Model& m, const std::vector<int32_t>& tokens, int add_site, const std::vector<double>& add_vec) {
  const int64_t T = int64_t(tokens.size());
  auto W = [&](const std::string& n) -> const std::vector<double>& { return m.w.at(n); };
  std::vector<std::vector<double>> x(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const auto& E = W("model.embed_tokens.weight");
    x[size_t(t)].assign(E.begin() + tokens[size_t(t)] * m.d, E.begin() + (tokens[size_t(t)] + 1) * m.d);
  }
  Result r;
  auto at_site = [&](int s) {
    if (s == add_site)
      for (auto& row : x)
        for (int64_t i = 0; i < m.d; ++i) row[size_t(i)] += add_vec[size_t(i)];
    r.resid.push_back(x);
  };
  const int64_t group = m.H / m.KV;
  for (int64_t l = 0; l < m.L; ++l) {
    at_site(int(l));
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(static_cast<size_t>(T)), k(static_cast<size_t>(T)), v(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      auto h = rmsnorm(x[size_t(t)], W(p + "input_layernorm.weight"), m.eps);
      q[size_t(t)] = matvec(W(p + "self_attn.q_proj.weight"), h, m.H * m.hd, &W(p + "self_attn.q_proj.bias"));
      k[size_t(t)] = matvec(W(p + "self_attn.k_proj.weight"), h, m.KV * m.hd, &W(p + "self_attn.k_proj.bias"));
      v[size_t(t)] = matvec(W(p + "self_attn.v_proj.weight"), h, m.KV * m.hd, &W(p + "self_attn.v_proj.bias"));
      rope(q[size_t(t)], m.H, m.hd, t, m.theta);
      rope(k[size_t(t)], m.KV, m.hd, t, m.theta);
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> attn(size_t(m.H * m.hd), 0.0);
      for (int64_t h = 0; h < m.H; ++h) {
        const int64_t kh = h / group;  // repeat_kv
        std::vector<double> sc(size_t(t + 1));
        double mx = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          double s = 0;
          for (int64_t i = 0; i < m.hd; ++i) s += q[size_t(t)][size_t(h * m.hd + i)] * k[size_t(j)][size_t(kh * m.hd + i)];
          sc[size_t(j)] = s / std::sqrt(double(m.hd));
          mx = std::max(mx, sc[size_t(j)]);
        }
        double z = 0;
        for (auto& s : sc) z += (s = std::exp(s - mx));
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t i = 0; i < m.hd; ++i)
            attn[size_t(h * m.hd + i)] += sc[size_t(j)] / z * v[size_t(j)][size_t(kh * m.hd + i)];
      }
      auto o = matvec(W(p + "self_attn.o_proj.weight"), attn, m.d);
      for (int64_t i = 0; i < m.d; ++i) x[size_t(t)][size_t(i)] += o[size_t(i)];
    }
    for (int64_t t = 0; t < T; ++t) {
      auto h = rmsnorm(x[size_t(t)], W(p + "post_attention_layernorm.weight"), m.eps);
      auto g = matvec(W(p + "mlp.gate_proj.weight"), h, m.I);
      auto u = matvec(W(p + "mlp.up_proj.weight"), h, m.I);
      for (int64_t i = 0; i < m.I; ++i) g[size_t(i)] = g[size_t(i)] / (1 + std::exp(-g[size_t(i)])) * u[size_t(i)];
      auto dn = matvec(W(p + "mlp.down_proj.weight"), g, m.d);
      for (int64_t i = 0; i < m.d; ++i) x[size_t(t)][size_t(i)] += dn[size_t(i)];
    }
  }
  at_site(int(m.L));
  const auto& head = m.tied ? W("model.embed_tokens.weight") : W("lm_head.weight");
  for (int64_t t = 0; t < T; ++t) r.logits.push_back(matvec(head, rmsnorm(x[size_t(t)], W("model.norm.weight"), m.eps), m.V));
  return r;
}

}  // namespace ref

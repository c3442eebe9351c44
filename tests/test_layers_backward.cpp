// Every layer backward against central finite differences of the engine's own forward kernels:
// L = Σ g ⊙ f(x) for a random g, so dL/dx is exactly what the backward returns.
#include <cmath>
#include <random>

#include "model/layers.hpp"
#include "model/layers_backward.hpp"
#include "model/linear.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

std::vector<float> rnd(size_t n, uint64_t seed, float scale = 1.f) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> g(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = g(r);
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Central differences of loss() with respect to every entry of x, against `analytic`.
template <class F>
void expect_fd(std::vector<float>& x, const std::vector<float>& analytic, F loss, const char* what, double h = 1e-2) {
  ASSERT_EQ(x.size(), analytic.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float keep = x[i];
    x[i] = keep + float(h);
    const double up = loss();
    x[i] = keep - float(h);
    const double down = loss();
    x[i] = keep;
    const double fd = (up - down) / (2 * h);
    const double err = std::fabs(fd - analytic[i]) / (1e-2 + std::fabs(fd));
    worst = std::max(worst, err);
    EXPECT_LT(err, 2e-2) << what << "[" << i << "]: finite difference " << fd << ", backward " << analytic[i];
  }
  ::testing::Test::RecordProperty(what, std::to_string(worst));
}

TEST(LayersBackward, RmsNorm) {
  const int64_t T = 3, d = 8;
  auto x = rnd(size_t(T * d), 1), w = rnd(size_t(d), 2), g = rnd(size_t(T * d), 3);
  std::vector<float> y(x.size()), dx(x.size()), dw(size_t(d), 0.f);
  auto loss = [&] {
    rmsnorm_forward(y.data(), x.data(), w.data(), T, d, 1e-6f);
    return dot(y, g);
  };
  rmsnorm_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), T, d, 1e-6f);
  expect_fd(x, dx, loss, "dx");
  expect_fd(w, dw, loss, "dw");
}

TEST(LayersBackward, Rope) {
  const int64_t T = 4, nh = 2, hd = 8, ld = nh * hd;
  std::vector<int32_t> pos = {0, 1, 5, 9};
  std::vector<float> cs, sn;
  rope_tables(cs, sn, pos.data(), T, hd, 10000.0);
  auto x = rnd(size_t(T * ld), 4), g = rnd(size_t(T * ld), 5);
  std::vector<float> y, dx = g;
  auto loss = [&] {
    y = x;
    rope_forward(y.data(), ld, T, nh, hd, cs.data(), sn.data());
    return dot(y, g);
  };
  rope_backward(dx.data(), ld, T, nh, hd, cs.data(), sn.data());
  expect_fd(x, dx, loss, "dx");
}

TEST(LayersBackward, SwiGlu) {
  const int64_t n = 20;
  auto gate = rnd(size_t(n), 6, 2.f), up = rnd(size_t(n), 7), g = rnd(size_t(n), 8);
  std::vector<float> y(static_cast<size_t>(n)), dgate(static_cast<size_t>(n)), dup(static_cast<size_t>(n));
  auto loss = [&] {
    swiglu_forward(y.data(), gate.data(), up.data(), n);
    return dot(y, g);
  };
  swiglu_backward(dgate.data(), dup.data(), g.data(), gate.data(), up.data(), n);
  expect_fd(gate, dgate, loss, "dgate");
  expect_fd(up, dup, loss, "dup");
}

TEST(LayersBackward, Linear) {
  const int64_t M = 3, in = 5, out = 4;
  auto x = rnd(size_t(M * in), 9), W = rnd(size_t(out * in), 10), b = rnd(size_t(out), 11), g = rnd(size_t(M * out), 12);
  std::vector<float> y(size_t(M * out)), dx(x.size()), dW(W.size(), 0.f), db(b.size(), 0.f);
  auto loss = [&] {
    linear_forward(y.data(), out, x.data(), in, M, WeightMatrix{DType::F32, W.data(), out, in}, b.data());
    return dot(y, g);
  };
  linear_backward(dx.data(), dW.data(), db.data(), g.data(), x.data(), W.data(), M, in, out);
  expect_fd(x, dx, loss, "dx");
  expect_fd(W, dW, loss, "dW");
  expect_fd(b, db, loss, "db");
}

TEST(LayersBackward, CausalGroupedQueryAttention) {
  const int64_t T = 5, nh = 4, nkv = 2, hd = 4;
  auto q = rnd(size_t(T * nh * hd), 13), k = rnd(size_t(T * nkv * hd), 14), v = rnd(size_t(T * nkv * hd), 15),
       g = rnd(size_t(T * nh * hd), 16);
  std::vector<float> y(q.size()), dq(q.size()), dk(k.size()), dv(v.size()), scratch;
  auto loss = [&] {
    attention_forward(y.data(), nh * hd, q.data(), nh * hd, k.data(), v.data(), nkv * hd, T, 0, nh, nkv, hd);
    return dot(y, g);
  };
  attention_backward(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), T, nh, nkv, hd, scratch);
  expect_fd(q, dq, loss, "dq");
  expect_fd(k, dk, loss, "dk");
  expect_fd(v, dv, loss, "dv");
}

TEST(LayersBackward, CrossEntropyIgnoresMaskedRows) {
  const int64_t T = 4, V = 7;
  auto z = rnd(size_t(T * V), 17, 2.f);
  const std::vector<int32_t> tgt = {3, -1, 0, 6};
  auto loss = [&] {
    std::vector<float> c = z;
    int64_t n = 0;
    return cross_entropy_backward(c.data(), tgt.data(), T, V, &n) / double(n);
  };
  std::vector<float> dz = z;
  int64_t n = 0;
  const double total = cross_entropy_backward(dz.data(), tgt.data(), T, V, &n);
  EXPECT_EQ(n, 3);
  double ref = 0;  // plain log-softmax in double
  for (int64_t t : {0, 2, 3}) {
    double s = 0;
    for (int64_t i = 0; i < V; ++i) s += std::exp(double(z[size_t(t * V + i)]));
    ref += std::log(s) - z[size_t(t * V + tgt[size_t(t)])];
  }
  // float32 log-softmax over V logits vs the same in double: float32 rounding of a sum of three
  // losses of a few units, ~1e-6 relative; 1e-5 relative leaves margin.
  EXPECT_NEAR(total, ref, 1e-5 * std::max(1.0, std::abs(ref)));
  for (int64_t i = 0; i < V; ++i) EXPECT_EQ(dz[size_t(V + i)], 0.f);
  expect_fd(z, dz, loss, "dlogits", 1e-3);
}

}  // namespace
}  // namespace cc

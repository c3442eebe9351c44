// Geometry: the closed-form parallelogram loss equals brute force; exact parallelograms give 0
// under rotation, translation and scale; independent random words give 4 and a shuffled-pairs
// ratio of 1; PCA equals an independent Jacobi eigen-decomposition on both of its paths; the
// experiment's word representations equal single-sequence forward passes; bad task files are refused.
#include <cmath>
#include <fstream>
#include <random>

#include "core/json_file.hpp"
#include "geometry/geometry.hpp"
#include "geometry/parallelogram.hpp"
#include "geometry/pca.hpp"
#include "geometry/word_pairs.hpp"
#include "model/qwen2.hpp"
#include "pair_fixture.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using Pairs = std::vector<std::pair<int32_t, int32_t>>;

std::vector<double> random_matrix(int64_t n, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, 1);
  std::vector<double> x(static_cast<size_t>(n * d));
  for (auto& v : x) v = g(rng);
  return x;
}

// Cyclic Jacobi rotations on a symmetric matrix (row-major): eigenvalues on the diagonal, V's
// columns the eigenvectors. Slow and simple: the independent reference for dsyevd.
void jacobi(std::vector<double> A, int64_t n, std::vector<double>& eval, std::vector<double>& V) {
  V.assign(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) V[size_t(i * n + i)] = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += A[size_t(p * n + q)] * A[size_t(p * n + q)];
    if (off < 1e-26) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = A[size_t(p * n + q)];
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (A[size_t(q * n + q)] - A[size_t(p * n + p)]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = A[size_t(k * n + p)], akq = A[size_t(k * n + q)];
          A[size_t(k * n + p)] = c * akp - s * akq;
          A[size_t(k * n + q)] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = A[size_t(p * n + k)], aqk = A[size_t(q * n + k)];
          A[size_t(p * n + k)] = c * apk - s * aqk;
          A[size_t(q * n + k)] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = V[size_t(k * n + p)], vkq = V[size_t(k * n + q)];
          V[size_t(k * n + p)] = c * vkp - s * vkq;
          V[size_t(k * n + q)] = s * vkp + c * vkq;
        }
      }
  }
  eval.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) eval[size_t(i)] = A[size_t(i * n + i)];
}

TEST(Parallelogram, ClosedFormEqualsBruteForceIncludingRepeatedWordsAndWeights) {
  const int64_t n = 30, k = 5;
  const auto Y = random_matrix(n, k, 1);
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<int32_t> w(0, int32_t(n - 1));
  Pairs pairs;
  for (int i = 0; i < 25; ++i) pairs.push_back({w(rng), w(rng)});
  pairs.push_back(pairs[3]);  // a repeated pair and shared words
  EXPECT_NEAR(parallelogram_loss(Y, k, pairs), parallelogram_loss_brute(Y, k, pairs), 1e-12);
  std::vector<int> weights(pairs.size(), 0);
  Pairs expanded;
  for (size_t i = 0; i < pairs.size(); ++i) {
    weights[i] = int(i % 3);
    for (int r = 0; r < weights[i]; ++r) expanded.push_back(pairs[i]);
  }
  EXPECT_NEAR(parallelogram_loss(Y, k, pairs, &weights), parallelogram_loss_brute(Y, k, expanded), 1e-12);
  test::expect_error([&] { parallelogram_loss(Y, k, Pairs{{0, 1}}); }, {"at least two"});
}

TEST(Parallelogram, ExactParallelogramsGiveZeroUnderRotationTranslationAndScale) {
  const int64_t N = 40, d = 12;
  auto A = random_matrix(N, d, 3), delta = random_matrix(1, d, 4);
  std::vector<double> X(static_cast<size_t>(2 * N * d));
  Pairs pairs;
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t q = 0; q < d; ++q) {
      X[size_t(2 * i * d + q)] = A[size_t(i * d + q)];
      X[size_t((2 * i + 1) * d + q)] = A[size_t(i * d + q)] + delta[size_t(q)];
    }
    pairs.push_back({int32_t(2 * i), int32_t(2 * i + 1)});
  }
  // A random orthogonal matrix: the eigenvectors of a random symmetric one.
  auto S = random_matrix(d, d, 5);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < i; ++j) S[size_t(i * d + j)] = S[size_t(j * d + i)];
  std::vector<double> w;
  symmetric_eigen(S, d, w);
  std::vector<double> Z(X.size());
  for (int64_t r = 0; r < 2 * N; ++r)
    for (int64_t q = 0; q < d; ++q) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += X[size_t(r * d + j)] * S[size_t(q * d + j)];
      Z[size_t(r * d + q)] = 7.5 * s + 100.0 + double(q);
    }
  for (const auto* M : {&X, &Z}) {
    const PcaResult full = pca_project(*M, 2 * N, d, d);
    EXPECT_NEAR(parallelogram_loss(full.Y, full.k, pairs), 0.0, 1e-20 + 1e-12);
    const PcaResult three = pca_project(*M, 2 * N, d, 3);
    EXPECT_NEAR(parallelogram_loss(three.Y, three.k, pairs), 0.0, 1e-12);
  }
}

TEST(Parallelogram, IndependentRandomWordsGiveFourAndARatioOfOneToShuffledPairs) {
  const int64_t N = 400, d = 64;
  const auto X = random_matrix(2 * N, d, 6);
  Pairs pairs, shuffled;
  std::vector<int32_t> outs;
  for (int64_t i = 0; i < N; ++i) {
    pairs.push_back({int32_t(2 * i), int32_t(2 * i + 1)});
    outs.push_back(int32_t(2 * i + 1));
  }
  std::shuffle(outs.begin(), outs.end(), std::mt19937_64(7));
  for (int64_t i = 0; i < N; ++i) shuffled.push_back({int32_t(2 * i), outs[size_t(i)]});
  const PcaResult p = pca_project(X, 2 * N, d, d);
  const double loss = parallelogram_loss(p.Y, p.k, pairs), null = parallelogram_loss(p.Y, p.k, shuffled);
  EXPECT_NEAR(loss, 4.0, 0.25);
  EXPECT_NEAR(loss / null, 1.0, 0.08);
}

void expect_pca_matches_jacobi(int64_t n, int64_t d, int64_t k) {
  const auto X = random_matrix(n, d, uint64_t(n * 31 + d));
  const PcaResult r = pca_project(X, n, d, k);
  ASSERT_EQ(r.k, std::min({k, n - 1, d}));
  std::vector<double> Xc = X, mean(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[size_t(j)] += X[size_t(i * d + j)] / double(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) Xc[size_t(i * d + j)] -= mean[size_t(j)];
  std::vector<double> C(static_cast<size_t>(d * d), 0.0), ev, V;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = 0; b < d; ++b)
      for (int64_t i = 0; i < n; ++i) C[size_t(a * d + b)] += Xc[size_t(i * d + a)] * Xc[size_t(i * d + b)];
  jacobi(C, d, ev, V);
  std::vector<int64_t> order(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) order[size_t(i)] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ev[size_t(a)] > ev[size_t(b)]; });
  for (int64_t c = 0; c < r.k; ++c) {
    const int64_t e = order[size_t(c)];
    EXPECT_NEAR(r.eigenvalues[size_t(c)], ev[size_t(e)], 1e-9 * std::max(1.0, ev[size_t(e)])) << "component " << c;
    // Projections agree up to the eigenvector's sign.
    double same = 0, flip = 0;
    for (int64_t i = 0; i < n; ++i) {
      double proj = 0;
      for (int64_t j = 0; j < d; ++j) proj += Xc[size_t(i * d + j)] * V[size_t(j * d + e)];
      same = std::max(same, std::fabs(r.Y[size_t(i * r.k + c)] - proj));
      flip = std::max(flip, std::fabs(r.Y[size_t(i * r.k + c)] + proj));
    }
    EXPECT_LT(std::min(same, flip), 1e-8) << "component " << c;
  }
}

TEST(Pca, MatchesJacobiOnTheCovarianceAndGramPaths) {
  expect_pca_matches_jacobi(50, 8, 5);   // d <= n: covariance
  expect_pca_matches_jacobi(9, 20, 5);   // d > n: Gram
  expect_pca_matches_jacobi(6, 20, 20);  // k capped at n - 1
}

TEST(WordPairs, MalformedTaskFilesAreRefused) {
  test::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  test::expect_error([&] { load_word_pair_task(write("obj.json", R"({"input": "a"})")); }, {"obj.json", "not a JSON array"});
  test::expect_error([&] { load_word_pair_task(write("empty.json", "[]")); }, {"empty.json", "no word pair"});
  test::expect_error([&] { load_word_pair_task(write("miss.json", R"([{"input": "a", "output": "b"}, {"input": "c"}])")); },
                     {"miss.json", "element 1.output"});
  test::expect_error([&] { load_word_pair_task(write("num.json", R"([{"input": 3, "output": "b"}])")); }, {"num.json", "element 0.input"});
  test::expect_error([&] { load_word_pair_task(write("bad.json", R"([{"input": "a", )")); }, {"bad.json"});
  test::expect_error([&] { load_word_pair_tasks(dir.str(), {"antonym"}); }, {"task 'antonym'", "does not exist", "empty"});
  test::TempDir none;
  test::expect_error([&] { load_word_pair_tasks(none.str(), {}); }, {"no *.json task file"});
}

TEST(Geometry, WordRepresentationsEqualSingleSequenceForwardPasses) {
  test::PairFixture pair{32, 4};
  const std::string ds = pair.dir / "tasks";
  std::filesystem::create_directories(ds);
  std::ofstream(ds + "/opposites.json") << R"([{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"},
      {"input": "big", "output": "small"}, {"input": "", "output": "none"}, {"input": "left", "output": "right"}])";
  std::ofstream(ds + "/plural.json") << R"([{"input": "cat", "output": "cats"}, {"input": "dog", "output": "dogs"},
      {"input": "house", "output": "houses"}, {"input": "tree", "output": "trees"}])";
  GeometryOptions o;
  o.base = pair.a;
  o.distilled = pair.b;
  o.datasets = ds;
  o.layer = "2";
  o.pca = 3;
  o.bootstrap = 50;
  o.batch_tokens = 7;  // several batches
  o.mode = ComputeMode::F32;
  o.out = pair.dir / "geo";
  o.progress = false;
  const Json r = read_json_file(run_geometry(o));
  ASSERT_EQ(r["tasks"].size(), 2u);
  const Json& opp = r["tasks"][0];
  EXPECT_EQ(opp["task"], "opposites");
  EXPECT_EQ(opp["pairs"], 4);
  EXPECT_EQ(opp["skipped_pairs"], 1);  // the empty word
  EXPECT_EQ(r["summary"][0]["tasks"], 2);
  // The paired tests count the tasks' own differences: with two tasks the smallest two-sided sign
  // test p is 0.5 (both on one side), so nothing here can be significant.
  int lower = 0, higher = 0;
  for (const Json& t : r["tasks"]) (t["comparisons"][0]["diff"].get<double>() < 0 ? lower : higher)++;
  EXPECT_EQ(r["summary"][0]["distilled_lower"], lower);
  EXPECT_EQ(r["summary"][0]["distilled_higher"], higher);
  EXPECT_DOUBLE_EQ(r["summary"][0]["sign_test_p"].get<double>(), lower == 1 ? 1.0 : 0.5);
  EXPECT_DOUBLE_EQ(r["summary"][0]["wilcoxon_p"].get<double>(), lower == 1 ? 1.0 : 0.5);
  // Independent: each word alone through the model from <|endoftext|>, the stream at layer 2.
  auto tok = Tokenizer::load(pair.a);
  const std::vector<std::pair<std::string, std::string>> kept = {{"hot", "cold"}, {"up", "down"}, {"big", "small"}, {"left", "right"}};
  for (int m = 0; m < 2; ++m) {
    auto model = Qwen2Model::load(m == 0 ? pair.a : pair.b, ComputeMode::F32);
    std::vector<std::string> words;
    Pairs pairs;
    for (const auto& [a, b] : kept) {
      words.push_back(a);
      words.push_back(b);
      pairs.push_back({int32_t(words.size() - 2), int32_t(words.size() - 1)});
    }
    std::vector<double> X;
    for (const auto& w : words) {
      std::vector<int32_t> ids = {151643};
      for (int32_t t : tok->encode(w, false)) ids.push_back(t);
      std::vector<float> x;
      Hooks h;
      h.add(2, [&](HookContext& c) { x.assign(c.x + (c.rows - 1) * c.d, c.x + c.rows * c.d); });
      SeqInput in{ids, nullptr};
      ForwardOptions fo;
      fo.logits = LogitsMode::None;
      fo.stop_at_site = 2;
      fo.hooks = &h;
      model->forward(std::span<const SeqInput>(&in, 1), fo);
      X.insert(X.end(), x.begin(), x.end());
    }
    const int64_t n = int64_t(words.size());
    const PcaResult full = pca_project(X, n, 32, 32), three = pca_project(X, n, 32, 3);
    const Json& row = opp["models"][m];
    // The residuals come from float32 forwards batched differently (7-token batches vs one word at a
    // time), so they agree to a few float32 ulps (~1e-7 relative) per element; PCA and the loss
    // (sums of squares over 32 dims) keep that relative size. 1e-5 relative leaves two orders of
    // magnitude for the rounding and is far below what a wrong row, word or layer changes (> 1e-2).
    const double want_full = parallelogram_loss(full.Y, full.k, pairs), want3 = parallelogram_loss(three.Y, three.k, pairs);
    EXPECT_NEAR(row["loss_no_pca"].get<double>(), want_full, 1e-5 * std::abs(want_full));
    EXPECT_NEAR(row["loss"].get<double>(), want3, 1e-5 * std::abs(want3));
    const double lo = row["ci95"][0], hi = row["ci95"][1];
    EXPECT_LE(lo, hi);
  }
}

}  // namespace
}  // namespace cc

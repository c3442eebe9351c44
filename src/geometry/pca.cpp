// PCA via dsyrk + dsyevd. dsyevd (divide and conquer) is LAPACK's fastest symmetric solver for all
// eigenvectors; it is declared here by hand because Debian's OpenBLAS exports the Fortran symbol
// but ships no LAPACKE header without an extra package.
#include "geometry/pca.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
                        const int* lwork, int* iwork, const int* liwork, int* info);

namespace cc {

void symmetric_eigen(std::vector<double>& A, int64_t n, std::vector<double>& w) {
  w.assign(size_t(n), 0.0);
  if (n == 0) return;
  const int N = int(n);
  int lwork = -1, liwork = -1, info = 0, iw = 0;
  double wq = 0;
  dsyevd_("V", "U", &N, A.data(), &N, w.data(), &wq, &lwork, &iw, &liwork, &info);
  if (info != 0) fail("", "dsyevd", "workspace query failed", "info 0", std::to_string(info));
  lwork = int(wq);
  liwork = iw;
  std::vector<double> work(size_t(std::max(lwork, 1)));
  std::vector<int> iwork(size_t(std::max(liwork, 1)));
  // Single-threaded: at n = 256 the solver is thousands of small BLAS calls, and OpenBLAS's thread
  // hand-off per call cost more than it saved (the geometry stage spent 30% of its CPU time in the
  // kernel; docs/PERFORMANCE.md).
  with_serial_blas([&] { dsyevd_("V", "U", &N, A.data(), &N, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info); });
  if (info != 0) fail("", "dsyevd", "did not converge (NaN or Inf in the data?)", "info 0", std::to_string(info));
}

std::vector<double> centre_rows(const std::vector<double>& X, int64_t n, int64_t d) {
  if (int64_t(X.size()) != n * d) fail("", "pca", "got a matrix of the wrong size");
  for (double v : X)
    if (!std::isfinite(v)) fail("", "pca", "input holds NaN or Inf");
  std::vector<double> Xc = X, mean(size_t(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[size_t(j)] += X[size_t(i * d + j)] / double(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) Xc[size_t(i * d + j)] -= mean[size_t(j)];
  return Xc;
}

PcaResult pca_project(const std::vector<double>& X, int64_t n, int64_t d, int64_t k) {
  const std::vector<double> Xc = centre_rows(X, n, d);
  PcaResult r;
  r.k = std::max<int64_t>(0, std::min({k, n - 1, d}));
  for (double v : Xc) r.total += v * v;
  if (r.k == 0) return r;
  std::vector<double> w;
  if (d <= n) {
    // Covariance path: C = Xcᵀ Xc, Y = Xc V_k.
    std::vector<double> C(size_t(d * d), 0.0);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, int(d), int(n), 1.0, Xc.data(), int(d), 0.0, C.data(), int(d));
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < i; ++j) C[size_t(i * d + j)] = C[size_t(j * d + i)];
    symmetric_eigen(C, d, w);
    std::vector<double> V(size_t(d * r.k));  // [d, k]: column c = eigenvector of the c-th largest eigenvalue
    for (int64_t c = 0; c < r.k; ++c) {
      const int64_t e = d - 1 - c;
      r.eigenvalues.push_back(std::max(0.0, w[size_t(e)]));
      for (int64_t j = 0; j < d; ++j) V[size_t(j * r.k + c)] = C[size_t(e * d + j)];
    }
    r.Y.assign(size_t(n * r.k), 0.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(r.k), int(d), 1.0, Xc.data(), int(d), V.data(), int(r.k), 0.0,
                r.Y.data(), int(r.k));
  } else {
    // Gram path: G = Xc Xcᵀ = U Λ Uᵀ, and Xc V_k = U_k Λ_k^½.
    std::vector<double> G(size_t(n * n), 0.0);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, int(n), int(d), 1.0, Xc.data(), int(d), 0.0, G.data(), int(n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) G[size_t(i * n + j)] = G[size_t(j * n + i)];
    symmetric_eigen(G, n, w);
    r.Y.assign(size_t(n * r.k), 0.0);
    for (int64_t c = 0; c < r.k; ++c) {
      const int64_t e = n - 1 - c;
      const double lam = std::max(0.0, w[size_t(e)]);
      r.eigenvalues.push_back(lam);
      for (int64_t i = 0; i < n; ++i) r.Y[size_t(i * r.k + c)] = G[size_t(e * n + i)] * std::sqrt(lam);
    }
  }
  return r;
}

}  // namespace cc

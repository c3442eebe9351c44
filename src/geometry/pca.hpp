// Principal component projection with LAPACK's dsyevd (the LAPACK that OpenBLAS ships): the
// eigen-decomposition of the smaller of the covariance (d × d) and Gram (n × n) matrices.
#pragma once
#include <cstdint>
#include <vector>

namespace cc {

struct PcaResult {
  int64_t k = 0;                     // components kept: min(k asked, n - 1, d)
  std::vector<double> Y;             // [n, k] centred rows in the principal basis (signs arbitrary)
  std::vector<double> eigenvalues;   // [k] of Xcᵀ Xc, descending
  double total = 0;                  // trace of Xcᵀ Xc (total sum of squares)
};

// X [n, d] row-major minus its column means; errors on a wrong size or NaN/Inf.
std::vector<double> centre_rows(const std::vector<double>& X, int64_t n, int64_t d);

// X is [n, d] row-major; rows are centred by their mean first.
PcaResult pca_project(const std::vector<double>& X, int64_t n, int64_t d, int64_t k);

// Eigen-decomposition of the symmetric [n, n] matrix A (row-major; overwritten): eigenvalues
// ascending into w, eigenvector j into A[j*n .. j*n+n). Errors if LAPACK reports failure.
void symmetric_eigen(std::vector<double>& A, int64_t n, std::vector<double>& w);

}  // namespace cc

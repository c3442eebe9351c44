// The feature split and its combinations (dist/comm underneath; trivial for the whole dictionary).
#include "crosscoder/feature_shard.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "dist/comm.hpp"

namespace cc {

FeatureShard FeatureShard::of_rank(int64_t F, int rank, int ranks) {
  const int64_t blocks = (F + kFeatureBlock - 1) / kFeatureBlock;
  if (blocks < ranks)
    fail("", "--dict-size", "is too small to give every rank a block of " + std::to_string(kFeatureBlock) + " features",
         ">= " + std::to_string(int64_t(ranks) * kFeatureBlock) + " for " + std::to_string(ranks) + " ranks", std::to_string(F),
         "use fewer ranks or a larger dictionary");
  const int64_t b0 = blocks * rank / ranks, b1 = blocks * (rank + 1) / ranks;
  return {F, std::min(F, b0 * kFeatureBlock), std::min(F, b1 * kFeatureBlock)};
}

FeatureShard FeatureShard::of_this_rank(int64_t F) { return of_rank(F, dist::rank(), dist::size()); }

void encoder_product(const float* x, int64_t B, int64_t D2, const float* W_encT, int64_t F_local, float* pre) {
  const int64_t blocks = (F_local + kFeatureBlock - 1) / kFeatureBlock;
  parallel_for_blas(blocks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j0 = i * kFeatureBlock, n = std::min(kFeatureBlock, F_local - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(B), int(n), int(D2), 1.f, x, int(D2), W_encT + j0 * D2, int(D2),
                  0.f, pre + j0, int(F_local));
    }
  });
}

double ordered_feature_sum(const std::vector<double>& mine, const FeatureShard& s) {
  double total = 0;
  if (s.whole()) {
    for (double v : mine) total += v;
    return total;
  }
  const std::string bytes(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(double));
  for (const std::string& part : dist::allgather(bytes)) {
    const double* v = reinterpret_cast<const double*>(part.data());
    for (size_t i = 0; i < part.size() / sizeof(double); ++i) total += v[i];
  }
  return total;
}

namespace {

void init_rows(float* x, int64_t b0, int64_t b1, int64_t width, const float* init) {
  for (int64_t b = b0; b < b1; ++b) {
    if (init)
      std::memcpy(x + b * width, init, size_t(width) * sizeof(float));
    else
      std::memset(x + b * width, 0, size_t(width) * sizeof(float));
  }
}

}  // namespace

void chain_over_features(float* x, int64_t rows, int64_t width, const float* init, const FeatureShard& s,
                         const std::function<void(int64_t, int64_t)>& add) {
  if (s.whole()) {
    init_rows(x, 0, rows, width, init);
    add(0, rows);
    return;
  }
  // Blocks of about 1 MiB: rank r works on block i while rank r + 1 works on block i - 1.
  const int64_t block = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, width));
  const int r = dist::rank(), last = dist::size() - 1;
  for (int64_t b0 = 0; b0 < rows; b0 += block) {
    const int64_t b1 = std::min(rows, b0 + block);
    float* at = x + b0 * width;
    const size_t bytes = size_t((b1 - b0) * width) * sizeof(float);
    if (r == 0)
      init_rows(x, b0, b1, width, init);
    else
      dist::recv(r - 1, at, bytes);
    add(b0, b1);
    if (r != last) dist::send(r + 1, at, bytes);
  }
  dist::broadcast(x, size_t(rows * width) * sizeof(float), last);
}

namespace {
constexpr size_t kPieceBytes = size_t(16) << 20;

// bytes of rank `from` received in pieces of kPieceBytes, each handed to write.
void receive_in_pieces(int from, size_t bytes, std::vector<char>& buf, const RowWriter& write) {
  for (size_t at = 0; at < bytes; at += kPieceBytes) {
    const size_t n = std::min(kPieceBytes, bytes - at);
    buf.resize(n);
    dist::recv(from, buf.data(), n);
    write(buf.data(), n);
  }
}
}  // namespace

void stream_rows(const void* mine, size_t row_bytes, const FeatureShard& s, const RowWriter& write) {
  const size_t bytes = size_t(s.size()) * row_bytes;
  if (s.whole() || dist::root()) {
    if (dist::root()) write(mine, bytes);
    if (s.whole()) return;
    std::vector<char> buf;
    for (int r = 1; r < dist::size(); ++r)
      receive_in_pieces(r, size_t(FeatureShard::of_rank(s.F, r, dist::size()).size()) * row_bytes, buf, write);
    return;
  }
  for (size_t at = 0; at < bytes; at += kPieceBytes)
    dist::send(0, static_cast<const char*>(mine) + at, std::min(kPieceBytes, bytes - at));
}

void stream_columns(const float* mine, int64_t width, const FeatureShard& s, const RowWriter& write) {
  const int64_t F = s.F, n = s.size();
  const int64_t rows = std::max<int64_t>(1, int64_t(kPieceBytes / sizeof(float)) / F);  // output rows per block
  std::vector<float> block, out;
  for (int64_t j0 = 0; j0 < width; j0 += rows) {
    const int64_t j1 = std::min(width, j0 + rows), m = j1 - j0;
    block.resize(size_t(m * n));  // [m, n]: this rank's columns of output rows [j0, j1)
    for (int64_t f = 0; f < n; ++f)
      for (int64_t j = j0; j < j1; ++j) block[size_t((j - j0) * n + f)] = mine[f * width + j];
    if (!dist::root()) {
      if (!s.whole()) dist::send(0, block.data(), block.size() * sizeof(float));
      continue;
    }
    out.resize(size_t(m * F));
    for (int r = 0; r < (s.whole() ? 1 : dist::size()); ++r) {
      const FeatureShard o = r == 0 ? s : FeatureShard::of_rank(F, r, dist::size());
      if (r > 0) {
        block.resize(size_t(m * o.size()));
        dist::recv(r, block.data(), block.size() * sizeof(float));
      }
      for (int64_t j = 0; j < m; ++j)
        std::memcpy(out.data() + j * F + o.f0, block.data() + j * o.size(), size_t(o.size()) * sizeof(float));
    }
    write(out.data(), out.size() * sizeof(float));
  }
}

void write_sharded_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                               const std::map<std::string, std::string>& metadata,
                               const TensorFill& fill) {
  if (dist::root()) return write_safetensors_streamed(path, tensors, metadata, fill);
  for (size_t i = 0; i < tensors.size(); ++i) fill(i, [](const void*, size_t) {});
}

}  // namespace cc

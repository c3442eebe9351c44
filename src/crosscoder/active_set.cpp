// BatchTopK by a histogram of the scores' top 16 bits (positive floats order like their bit
// patterns): pass 1 adds the bias and counts scores per bucket, which names the bucket holding the
// k·B-th largest; pass 2 keeps the entries in that bucket and above (k·B plus that bucket's few),
// and an exact selection among the bucket's entries gives the threshold. Blocks of rows are filled in
// parallel and joined in row order, so the lists do not depend on the thread count. With the
// dictionary split across ranks, the histogram, the bucket's scores and the ties at the threshold
// are combined across ranks, so each rank keeps its part of the one process's selection.
#include "crosscoder/active_set.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "core/parallel.hpp"
#include "dist/comm.hpp"

namespace cc {

namespace {

constexpr int64_t kBlockRows = 8;
constexpr uint32_t kBuckets = 1u << 15;  // the top 16 bits of a float whose sign bit is 0

uint32_t bucket_of(float s) {
  uint32_t u;
  std::memcpy(&u, &s, 4);
  return u >> 16;
}

// fn(first block, end block, part) over `parts` contiguous ranges of the nb blocks, in parallel.
template <class Fn>
void for_parts(int64_t nb, int64_t parts, Fn&& fn) {
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) fn(p * nb / parts, (p + 1) * nb / parts, p);
  });
}

void add_bias(float* row, const float* b, int64_t F) {
  for (int64_t j = 0; j < F; ++j) row[j] += b[j];
}

// Every positive entry of blocks [i0, i1), the bias already added.
void keep_positive(const float* pre, int64_t B, int64_t F, int64_t i0, int64_t i1, StepWorkspace& ws) {
  for (int64_t i = i0; i < i1; ++i) {
    std::vector<ActiveEntry>& out = ws.blocks[size_t(i)];
    out.clear();
    for (int64_t b = i * kBlockRows; b < std::min(B, (i + 1) * kBlockRows); ++b)
      for (int64_t j = 0; j < F; ++j)
        if (pre[b * F + j] > 0) out.push_back({int32_t(b), int32_t(j), pre[b * F + j], 0.f});
  }
}

// The blocks' entries, rows in order, into ws.row_ptr / col / val.
void join_blocks(int64_t B, StepWorkspace& ws) {
  const int64_t nb = int64_t(ws.blocks.size());
  ws.block_ptr.assign(size_t(nb + 1), 0);
  for (int64_t i = 0; i < nb; ++i) ws.block_ptr[size_t(i + 1)] = ws.block_ptr[size_t(i)] + int64_t(ws.blocks[size_t(i)].size());
  ws.row_ptr.assign(size_t(B + 1), 0);
  ws.col.resize(size_t(ws.block_ptr[size_t(nb)]));
  ws.val.resize(ws.col.size());
  parallel_for(nb, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t at = ws.block_ptr[size_t(i)];
      for (const ActiveEntry& e : ws.blocks[size_t(i)]) {
        ws.col[size_t(at)] = e.col;
        ws.val[size_t(at++)] = e.val;
        ++ws.row_ptr[size_t(e.row) + 1];  // a row lies in one block: no two threads share a count
      }
    }
  });
  for (int64_t b = 0; b < B; ++b) ws.row_ptr[size_t(b + 1)] += ws.row_ptr[size_t(b)];
}

// Pass 1 of BatchTopK: bias added, positive scores counted per bucket (summed over parts and ranks
// into ws.total_hist); returns the number of positive scores and sets min_score to the smallest.
int64_t score_histogram(float* pre, const std::vector<float>& b_enc, int64_t B, int64_t F, int64_t nb, int64_t parts,
                        const FeatureShard& shard, StepWorkspace& ws, float& min_score) {
  ws.hist.resize(size_t(parts));
  std::vector<int64_t> positive(size_t(parts), 0);
  std::vector<float> least(size_t(parts), std::numeric_limits<float>::infinity());
  for_parts(nb, parts, [&](int64_t i0, int64_t i1, int64_t part) {
    std::vector<uint32_t>& h = ws.hist[size_t(part)];
    h.assign(kBuckets, 0);
    int64_t n = 0;
    float lo = std::numeric_limits<float>::infinity();
    for (int64_t b = i0 * kBlockRows; b < std::min(B, i1 * kBlockRows); ++b) {
      float* row = pre + b * F;
      add_bias(row, b_enc.data(), F);
      for (int64_t j = 0; j < F; ++j) {
        const float v = row[j];
        if (!(v > 0)) continue;
        const float sc = v * ws.nsum[size_t(j)];
        if (!(sc > 0)) continue;
        ++h[bucket_of(sc)];
        ++n;
        lo = std::min(lo, sc);
      }
    }
    positive[size_t(part)] = n;
    least[size_t(part)] = lo;
  });
  ws.total_hist.assign(kBuckets, 0);
  for (int64_t p = 0; p < parts; ++p)
    for (uint32_t u = 0; u < kBuckets; ++u) ws.total_hist[u] += ws.hist[size_t(p)][u];
  int64_t P = 0;
  for (int64_t n : positive) P += n;
  min_score = *std::min_element(least.begin(), least.end());
  if (!shard.whole()) {
    dist::allreduce_sum(ws.total_hist.data(), int64_t(kBuckets));
    dist::allreduce_sum(&P, 1);
    min_score = float(dist::allreduce_min(double(min_score)));
  }
  return P;
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Every rank's list, concatenated in rank order.
template <class T>
std::vector<T> gathered(const std::vector<T>& mine) {
  std::vector<T> all;
  for (const std::string& part : dist::allgather(bytes_of(mine))) {
    const size_t n = part.size() / sizeof(T);
    all.resize(all.size() + n);
    std::memcpy(all.data() + all.size() - n, part.data(), part.size());
  }
  return all;
}

// Drops the entries at the threshold beyond the first ties_left in row-major order of the whole
// dictionary (rows, then features).
void keep_first_ties(float thr, int64_t ties_left, const FeatureShard& shard, StepWorkspace& ws) {
  if (shard.whole()) {
    for (auto& blk : ws.blocks)  // blocks in row order, entries row-major within a block
      std::erase_if(blk, [&](const ActiveEntry& e) {
        if (e.score > thr) return false;
        if (e.score == thr && ties_left > 0) {
          --ties_left;
          return false;
        }
        return true;
      });
    return;
  }
  std::vector<int64_t> mine;  // (row, global feature) of each tie here, as row * F + feature
  for (const auto& blk : ws.blocks)
    for (const ActiveEntry& e : blk)
      if (e.score == thr) mine.push_back(int64_t(e.row) * shard.F + shard.f0 + e.col);
  std::vector<int64_t> all = gathered(mine);
  std::sort(all.begin(), all.end());
  all.resize(size_t(std::min<int64_t>(ties_left, int64_t(all.size()))));
  for (auto& blk : ws.blocks)
    std::erase_if(blk, [&](const ActiveEntry& e) {
      if (e.score > thr) return false;
      return e.score < thr || !std::binary_search(all.begin(), all.end(), int64_t(e.row) * shard.F + shard.f0 + e.col);
    });
}

// Pass 2 and the threshold: the K largest scores, ties at the K-th kept in index order.
float keep_top(const float* pre, int64_t B, int64_t F, int64_t K, int64_t nb, int64_t parts, const FeatureShard& shard,
               StepWorkspace& ws) {
  const std::vector<int64_t>& hist = ws.total_hist;
  int64_t above = 0;  // scores in buckets above `edge`
  uint32_t edge = kBuckets - 1;
  for (; above + hist[edge] < K; --edge) above += hist[edge];  // ends: more than K scores are positive
  for_parts(nb, parts, [&](int64_t i0, int64_t i1, int64_t) {
    for (int64_t i = i0; i < i1; ++i) {
      std::vector<ActiveEntry>& out = ws.blocks[size_t(i)];
      out.clear();
      for (int64_t b = i * kBlockRows; b < std::min(B, (i + 1) * kBlockRows); ++b)
        for (int64_t j = 0; j < F; ++j) {
          const float v = pre[b * F + j];
          if (!(v > 0)) continue;
          const float sc = v * ws.nsum[size_t(j)];
          if (sc > 0 && bucket_of(sc) >= edge) out.push_back({int32_t(b), int32_t(j), v, sc});
        }
    }
  });
  std::vector<float>& in_edge = ws.edge_scores;
  in_edge.clear();
  for (const auto& blk : ws.blocks)
    for (const ActiveEntry& e : blk)
      if (bucket_of(e.score) == edge) in_edge.push_back(e.score);
  if (!shard.whole()) in_edge = gathered(in_edge);
  const int64_t need = K - above;  // 1 ≤ need ≤ |in_edge|
  std::nth_element(in_edge.begin(), in_edge.begin() + (need - 1), in_edge.end(), std::greater<float>());
  const float thr = in_edge[size_t(need - 1)];
  int64_t over = above;
  for (float s : in_edge) over += s > thr;
  keep_first_ties(thr, K - over, shard, ws);
  return thr;
}

}  // namespace

double select_active(float* pre, const std::vector<float>& b_enc, const std::vector<float>& norms, int64_t B, int64_t F,
                     int64_t k, StepWorkspace& ws, const FeatureShard& shard) {
  const int64_t nb = (B + kBlockRows - 1) / kBlockRows;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(num_threads(), nb));
  ws.blocks.resize(size_t(nb));
  double min_kept = 0;
  if (k == 0) {
    for_parts(nb, parts, [&](int64_t i0, int64_t i1, int64_t) {
      for (int64_t b = i0 * kBlockRows; b < std::min(B, i1 * kBlockRows); ++b) add_bias(pre + b * F, b_enc.data(), F);
      keep_positive(pre, B, F, i0, i1, ws);
    });
  } else {
    ws.nsum.resize(size_t(F));
    for (int64_t j = 0; j < F; ++j) ws.nsum[size_t(j)] = norms[size_t(2 * j)] + norms[size_t(2 * j + 1)];
    float least = 0;
    const int64_t P = score_histogram(pre, b_enc, B, F, nb, parts, shard, ws, least);
    if (P <= k * B) {
      for_parts(nb, parts, [&](int64_t i0, int64_t i1, int64_t) { keep_positive(pre, B, F, i0, i1, ws); });
      min_kept = P == 0 ? 0.0 : double(least);
    } else {
      min_kept = double(keep_top(pre, B, F, k * B, nb, parts, shard, ws));
    }
  }
  join_blocks(B, ws);
  return min_kept;
}

}  // namespace cc

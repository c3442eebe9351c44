// The ablation experiment in three phases:
//   1. pack token sequences and find, per category, the positions whose next token is a target;
//      a seeded shuffle picks the evaluation positions, the next ones rank features by frequency;
//   2. run both models up to the hook once (stop there), encode the pair with the crosscoder, keep
//      the hook stream and the sparse features of the evaluation prefixes, count firing on ranking
//      positions;
//   3. per category, model, k and condition, resume the forward at the hook from the kept stream
//      (the layers below the hook are unaffected by the ablation, so they are never recomputed),
//      subtract the chosen features' decoder terms at every position, and read the target logits.
//      The unablated baseline goes through the same resumed path, so "no change" is exactly 0.
#include "interventions/ablation.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <tuple>
#include <sstream>

#include "data/lexicon.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/progress.hpp"
#include "dist/bytes.hpp"
#include "dist/comm.hpp"
#include "core/stats.hpp"
#include "crosscoder/step.hpp"
#include "harvest/pair_harvester.hpp"
#include "model/sampling.hpp"
#include "interventions/held_out_pair.hpp"

namespace cc {

void subtract_features(const CrosscoderParams& p, const CrosscoderConfig& c, int m, std::span<const int32_t> idx,
                       std::span<const float> val, const uint8_t* mask, float* x) {
  const int64_t d = p.d, D2 = 2 * d;
  const float inv_s = float(1.0 / c.norm_factors[size_t(m)]);
  for (size_t e = 0; e < idx.size(); ++e) {
    const int32_t i = idx[e];
    if (mask && !mask[size_t(i)]) continue;
    const float a = val[e] * inv_s;
    const float* w = p.W_dec.data() + int64_t(i) * D2 + m * d;
    for (int64_t q = 0; q < d; ++q) x[q] -= a * w[q];
  }
}

namespace {

struct Position {
  int32_t seq, pos, target;  // target = the id at pos + 1
};

struct Category {
  int lex_index = 0;
  std::string name;
  std::vector<int32_t> target_ids;
  std::vector<std::string> target_texts;
  int64_t candidates = 0;
  std::vector<Position> eval, rank;
  bool rank_is_eval = false;  // too few positions to hold some out for ranking
  std::vector<int64_t> fired;  // [F] firings on the ranking positions
  std::vector<int64_t> pool;   // the features its top sets come from (NRN > nrn_above, in its set if any)
  std::vector<int64_t> other;  // with a category source: the rest of the NRN > nrn_above pool
};

// Features of one evaluation prefix, sparse by row, plus both models' raw streams at the hook.
struct Prefix {
  int64_t len = 0;
  std::vector<float> x[2];  // [len, d]
  std::vector<int64_t> ptr;  // [len + 1]
  std::vector<int32_t> idx;
  std::vector<float> val;
};

struct Cell {
  std::string category, condition;
  double k = 0;
  int model = 0;
  std::vector<int64_t> features;
  std::vector<double> delta;       // Δ logit of the target token, per evaluation position
  std::vector<double> delta_logp;  // Δ log p of the target token, per evaluation position
  std::vector<int64_t> unit;       // the packed sequence of each position (the bootstrap's unit)
  double mean_active = 0;          // ablated features active at the evaluation position, on average
  double removed = 0, target_removed = 0;  // Σ f·||d_m|| over the evaluation positions: this set, the top set
  bool matched = true;             // a control within ±10% of the top set's removal
};

double mean_of(const std::vector<double>& v) { return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double se_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1) / double(v.size()));
}

std::vector<Category> plan_categories(const AblateOptions& opt, const Lexicon& lex, const std::string& lex_path, const Tokenizer& tok,
                                      std::vector<std::string>& warnings) {
  std::vector<int> chosen;
  if (opt.categories.empty()) {
    for (size_t c = 0; c < lex.categories.size(); ++c) chosen.push_back(int(c));
  } else {
    for (const auto& name : opt.categories) {
      const int c = lex.find(name);
      if (c < 0) {
        std::string all;
        for (const auto& n : lex.categories) all += (all.empty() ? "" : ", ") + n;
        fail(lex_path, "category '" + name + "'", "does not exist", all, name);
      }
      chosen.push_back(c);
    }
  }
  std::vector<Category> out;
  for (int c : chosen) {
    Category cat;
    cat.lex_index = c;
    cat.name = lex.categories[size_t(c)];
    for (const auto& t : lex.targets[size_t(c)]) {
      const auto ids = tok.encode(t, false);
      if (ids.size() != 1) {
        warnings.push_back(cat.name + ": target '" + t + "' is " + std::to_string(ids.size()) + " tokens, not one; skipped");
        continue;
      }
      cat.target_ids.push_back(ids[0]);
      cat.target_texts.push_back(t);
    }
    if (cat.target_ids.empty()) {
      if (!opt.categories.empty()) fail(lex_path, cat.name + ".targets", "holds no single-token target for this tokenizer");
      warnings.push_back(cat.name + ": no single-token target; category skipped");
      continue;
    }
    out.push_back(std::move(cat));
  }
  if (out.empty()) fail(lex_path, "targets", "no category has a single-token target; add `targets = [...]` to a category");
  return out;
}

}  // namespace

namespace {

// The NRN band of the "shared" control: the analysis's class thresholds when given, else the options'.
std::pair<double, double> shared_range(const AblateOptions& opt, const CrosscoderConfig& c) {
  double lo = opt.shared_low, hi = opt.shared_high;
  if (opt.analysis.empty()) return {lo, hi};
  const std::string sp = opt.analysis + "/summary.json";
  const Json s = read_json_file(sp);
  const Json th = s.value("thresholds", Json::object());
  lo = json_get_or<double>(th, "base_only_below", lo, sp);
  hi = json_get_or<double>(th, "distilled_only_above", hi, sp);
  const std::string hook = s.value("hook", std::string());
  if (!hook.empty() && hook != c.hook) fail(sp, "hook", "differs from the crosscoder's", c.hook, hook, "pass the analysis of this crosscoder");
  return {lo, hi};
}

// Phase 1: every position of a held-out document whose successor is one of a category's targets (a
// real token, kept by the packer), shuffled; the first opt.positions are evaluated, the next opt.rank_positions rank
// features. Categories without any position are dropped with a warning.
void pick_positions(std::vector<Category>& cats, const std::vector<PackedSequence>& seqs, const AblateOptions& opt, int64_t F,
                    std::vector<std::string>& warnings) {
  std::mt19937_64 rng(opt.seed);
  // Held-out documents only (the harvest's split, by the same hash), so no evaluated position is one
  // the crosscoder was trained on; with no held-out share there is nothing else to use.
  const bool held_out_only = opt.eval_fraction > 0;
  if (!held_out_only) warnings.push_back("eval_fraction is 0: positions come from documents the crosscoder may have been trained on");
  for (Category& cat : cats) {
    std::vector<Position> cand;
    for (size_t s = 0; s < seqs.size(); ++s)
      for (size_t q = 0; q + 1 < seqs[s].tokens.size(); ++q)
        if (seqs[s].keep[q] && (!held_out_only || seqs[s].split[q] == 1) &&
            std::find(cat.target_ids.begin(), cat.target_ids.end(), seqs[s].tokens[q + 1]) != cat.target_ids.end())
          cand.push_back({int32_t(s), int32_t(q), seqs[s].tokens[q + 1]});
    cat.candidates = int64_t(cand.size());
    std::shuffle(cand.begin(), cand.end(), rng);
    const size_t ne = std::min(cand.size(), size_t(opt.positions));
    cat.eval.assign(cand.begin(), cand.begin() + long(ne));
    cat.rank.assign(cand.begin() + long(ne), cand.begin() + long(std::min(cand.size(), ne + size_t(opt.rank_positions))));
    if (cat.rank.empty()) {
      cat.rank = cat.eval;
      cat.rank_is_eval = true;
    }
    if (ne < size_t(opt.positions))
      warnings.push_back(cat.name + ": only " + std::to_string(ne) + " positions with a target next in the held-out documents of " +
                         std::to_string(opt.sequences) + " sequences (asked for " + std::to_string(opt.positions) + ")");
    cat.fired.assign(size_t(F), 0);
  }
  std::erase_if(cats, [&](const Category& cat) {
    if (!cat.eval.empty()) return false;
    warnings.push_back(cat.name + ": no position has a target next; category skipped (more --sequences?)");
    return true;
  });
  if (cats.empty()) fail("", "--corpus", "holds no position followed by any category's target token", "", "", "use more --sequences or other corpora");
}

// The evaluation prefix length of each sequence in one category: seq → last evaluated position + 1.
std::map<int32_t, int64_t> eval_lengths(const Category& cat) {
  std::map<int32_t, int64_t> len;
  for (const Position& q : cat.eval) len[q.seq] = std::max<int64_t>(len[q.seq], q.pos + 1);
  return len;
}

// Phase 2: both models up to the hook over every sequence prefix a position needs, batched; the
// crosscoder's features there count firings on ranking positions, and the evaluation prefixes keep
// their raw streams and sparse features for phase 3.
std::vector<Prefix> encode_prefixes(PairHarvester& pair, const CrosscoderParams& p, const CrosscoderConfig& c, std::vector<Category>& cats,
                                    const std::vector<PackedSequence>& seqs, const AblateOptions& opt, Progress& bar) {
  const int64_t d = c.d_in, D2 = 2 * d, F = c.dict_size;
  const int site = pair.site();
  std::vector<int64_t> need(seqs.size(), 0), need_eval(seqs.size(), 0);
  for (const Category& cat : cats) {
    for (const Position& q : cat.eval) need_eval[size_t(q.seq)] = std::max<int64_t>(need_eval[size_t(q.seq)], q.pos + 1);
    for (const Position& q : cat.rank) need[size_t(q.seq)] = std::max<int64_t>(need[size_t(q.seq)], q.pos + 1);
  }
  for (size_t s = 0; s < seqs.size(); ++s) need[s] = std::max(need[s], need_eval[s]);
  std::vector<Prefix> prefix(seqs.size());
  std::vector<std::vector<std::pair<int, int32_t>>> rank_at(seqs.size());  // (category, pos) to count
  for (size_t ci = 0; ci < cats.size(); ++ci)
    for (const Position& q : cats[ci].rank) rank_at[size_t(q.seq)].push_back({int(ci), q.pos});
  std::vector<float> xs[2], X, f;
  size_t s0 = 0;
  while (s0 < seqs.size()) {
    std::vector<size_t> group;
    int64_t T = 0;
    for (size_t s = s0; s < seqs.size(); ++s, ++s0) {
      if (need[s] == 0) continue;
      if (!group.empty() && T + need[s] > opt.batch_tokens) break;
      group.push_back(s);
      T += need[s];
    }
    if (group.empty()) break;
    std::vector<SeqInput> in;
    for (size_t s : group) in.push_back({std::span<const int32_t>(seqs[s].tokens.data(), size_t(need[s])), nullptr});
    for (int m = 0; m < 2; ++m) {
      (m == 0 ? pair.base_model() : pair.distilled_model()).stream_at(in, site, xs[m]);
      bar.add(T);
    }
    int64_t r0 = 0;
    for (size_t s : group) {
      const int64_t n = need[s];
      X.resize(size_t(n * D2));
      crosscoder_pair_rows(xs[0].data() + r0 * d, xs[1].data() + r0 * d, n, d, X.data());
      crosscoder_scale_inputs(c, X.data(), n);
      crosscoder_encode(p, c, X.data(), n, f);
      for (float v : f)
        if (!std::isfinite(v)) fail(opt.crosscoder, "features", "are not finite on these activations (NaN/Inf in the crosscoder or the models)");
      for (auto [ci, q] : rank_at[s]) {
        const float* fr = f.data() + int64_t(q) * F;
        for (int64_t i = 0; i < F; ++i) cats[size_t(ci)].fired[size_t(i)] += fr[i] > 0;
      }
      if (need_eval[s] > 0) {
        Prefix& P = prefix[s];
        P.len = need_eval[s];
        for (int m = 0; m < 2; ++m) P.x[m].assign(xs[m].begin() + r0 * d, xs[m].begin() + (r0 + P.len) * d);
        P.ptr.assign(1, 0);
        for (int64_t r = 0; r < P.len; ++r) {
          for (int64_t i = 0; i < F; ++i)
            if (f[size_t(r * F + i)] > 0) {
              P.idx.push_back(int32_t(i));
              P.val.push_back(f[size_t(r * F + i)]);
            }
          P.ptr.push_back(int64_t(P.idx.size()));
        }
      }
      r0 += n;
    }
  }
  return prefix;
}

struct Pools {
  std::vector<int64_t> pool;    // NRN > opt.nrn_above: the features ablated (and the random control's pool)
  std::vector<int64_t> shared;  // NRN inside the shared band and not in pool: the shared control's candidates
};

// norms: decoder_norms of the crosscoder, [F, 2].
Pools nrn_pools(const std::vector<float>& norms, const AblateOptions& opt, std::pair<double, double> band,
                std::vector<std::string>& warnings) {
  Pools out;
  for (int64_t i = 0; i < int64_t(norms.size() / 2); ++i) {
    const std::optional<double> r = decoder_nrn(norms[size_t(2 * i)], norms[size_t(2 * i + 1)]);
    if (!r) continue;  // zero-norm: no NRN, in no pool
    if (*r > opt.nrn_above) out.pool.push_back(i);
    // Disjoint from the ablated pool: a band reaching above nrn_above is cut at it.
    if (*r >= band.first && *r <= band.second && *r <= opt.nrn_above) out.shared.push_back(i);
  }
  if (out.pool.empty()) fail(opt.crosscoder, "features", "none has NRN > " + std::to_string(opt.nrn_above) + "; nothing to ablate");
  if (out.shared.empty())
    warnings.push_back("no shared feature (NRN in [" + std::to_string(band.first) + ", " + std::to_string(band.second) + "]); the shared control is empty");
  return out;
}

// The file a category source is read from.
std::string category_file(const AblateOptions& opt) {
  switch (opt.categories_from) {
    case CategorySource::Lexicon: return opt.analysis + "/features.jsonl";
    case CategorySource::Enrichment: return opt.enrichment + "/enrichment.jsonl";
    case CategorySource::Labels: return opt.labels;
    case CategorySource::None: break;
  }
  return "";
}

CategoryMap read_category_source(const AblateOptions& opt) {
  switch (opt.categories_from) {
    case CategorySource::Lexicon:
      if (opt.analysis.empty()) fail("", "--categories-from lexicon", "needs --analysis (its features.jsonl holds the categories)");
      return lexicon_categories(opt.analysis);
    case CategorySource::Enrichment:
      if (opt.enrichment.empty()) fail("", "--categories-from enrichment", "needs --enrichment (a `crosscoder enrich` folder)");
      return enrichment_categories(opt.enrichment);
    case CategorySource::Labels:
      if (opt.labels.empty()) fail("", "--categories-from labels", "needs --labels (a `crosscoder label` labels.jsonl)");
      return labelled_categories(opt.labels);
    case CategorySource::None: break;
  }
  return {};
}

// Each category's pool: the whole NRN pool, or with a category source the pool's features that
// source puts in the category (the rest are its "other" control's candidates). A category whose
// pool is empty is dropped with a warning.
void assign_category_pools(std::vector<Category>& cats, const Pools& pools, const AblateOptions& opt, std::vector<std::string>& warnings) {
  const CategoryMap source = read_category_source(opt);
  for (Category& cat : cats) {
    cat.pool.clear();
    cat.other.clear();
    for (int64_t i : pools.pool) {
      const auto it = source.find(i);
      const bool in = opt.categories_from == CategorySource::None || (it != source.end() && it->second == cat.name);
      (in ? cat.pool : cat.other).push_back(i);
    }
  }
  std::erase_if(cats, [&](const Category& cat) {
    if (!cat.pool.empty()) return false;
    warnings.push_back(cat.name + ": " + category_file(opt) + " puts no NRN > " + std::to_string(opt.nrn_above) +
                       " feature in this category; category skipped");
    return true;
  });
  if (cats.empty())
    fail(category_file(opt), "categories", "puts no NRN > " + std::to_string(opt.nrn_above) + " feature in any ablated category",
         "", "", "label more features, or use another --categories-from");
}

struct Cond {
  double k;
  std::string name;  // none (the baseline), top, random, shared, other (with a category source)
  std::vector<int64_t> features;
  double removed = 0, target_removed = 0;
  bool matched = true;
};

// What each feature removes from model m at the category's evaluation positions: Σ f·||d_{i,m}||
// (the crosscoder's units), from the sparse features kept in phase 2.
std::vector<double> removal_at_positions(const Category& cat, const std::vector<Prefix>& prefix, const std::vector<float>& norms, int m,
                                         int64_t F) {
  std::vector<double> r(size_t(F), 0.0);
  for (const Position& q : cat.eval) {
    const Prefix& P = prefix[size_t(q.seq)];
    for (int64_t e = P.ptr[size_t(q.pos)]; e < P.ptr[size_t(q.pos + 1)]; ++e)
      r[size_t(P.idx[size_t(e)])] += double(P.val[size_t(e)]) * norms[size_t(2 * P.idx[size_t(e)] + m)];
  }
  return r;
}

// Candidates taken in order, skipping excluded ones and ones that remove nothing here, while the
// sum stays within (1 + tol)·target, until it reaches (1 − tol)·target.
std::vector<int64_t> match_removal(const std::vector<int64_t>& candidates, const std::vector<double>& r, double target, double tol,
                                   const std::vector<uint8_t>& excluded, double& got) {
  std::vector<int64_t> out;
  got = 0;
  if (!(target > 0)) return out;
  for (int64_t i : candidates) {
    if (got >= (1 - tol) * target) break;
    if (excluded[size_t(i)] || !(r[size_t(i)] > 0) || got + r[size_t(i)] > (1 + tol) * target) continue;
    out.push_back(i);
    got += r[size_t(i)];
  }
  return out;
}

// For each k, in model m: the top k% of the category's pool by firing frequency on its ranking
// positions; a shared-band control (most frequent first), a random control (features active at the
// evaluation positions, in a seeded random order) and, with a category source, an "other" control
// (the pool's features of other or no category, most frequent first), each chosen to remove as much
// as the top set does in this model (Σ f·||d_m|| within ±10%), all sets disjoint.
int64_t conditions_per_k(const AblateOptions& opt) { return opt.categories_from == CategorySource::None ? 3 : 4; }

std::vector<Cond> conditions(const Category& cat, size_t ci, int m, const Pools& pools, const std::vector<double>& r,
                             const AblateOptions& opt) {
  constexpr double kTol = 0.10;
  auto by_freq = [&](std::vector<int64_t> v) {
    std::stable_sort(v.begin(), v.end(), [&](int64_t a, int64_t b) { return cat.fired[size_t(a)] > cat.fired[size_t(b)]; });
    return v;
  };
  const std::vector<int64_t> pool_ranked = by_freq(cat.pool), shared_ranked = by_freq(pools.shared), other_ranked = by_freq(cat.other);
  std::vector<int64_t> active;
  for (size_t i = 0; i < r.size(); ++i)
    if (r[i] > 0) active.push_back(int64_t(i));
  std::vector<Cond> conds = {{0, "none", {}}};
  for (size_t ki = 0; ki < opt.ks.size(); ++ki) {
    const double k = opt.ks[ki];
    const size_t n = std::max<size_t>(1, size_t(std::llround(k / 100.0 * double(cat.pool.size()))));
    Cond top{k, "top", std::vector<int64_t>(pool_ranked.begin(), pool_ranked.begin() + long(std::min(n, pool_ranked.size())))};
    for (int64_t i : top.features) top.removed += r[size_t(i)];
    top.target_removed = top.removed;
    std::vector<uint8_t> taken(r.size(), 0);
    for (int64_t i : top.features) taken[size_t(i)] = 1;
    Cond shared{k, "shared", {}};
    shared.features = match_removal(shared_ranked, r, top.removed, kTol, taken, shared.removed);
    for (int64_t i : shared.features) taken[size_t(i)] = 1;
    std::vector<int64_t> rnd = active;
    std::mt19937_64 r2(opt.seed * 1000003 + ci * 101 + ki * 7 + uint64_t(m));
    std::shuffle(rnd.begin(), rnd.end(), r2);
    Cond random{k, "random", {}};
    random.features = match_removal(rnd, r, top.removed, kTol, taken, random.removed);
    for (int64_t i : random.features) taken[size_t(i)] = 1;
    Cond other{k, "other", {}};
    other.features = match_removal(other_ranked, r, top.removed, kTol, taken, other.removed);
    for (Cond* c : {&shared, &random, &other}) {
      c->target_removed = top.removed;
      c->matched = !(top.removed > 0) || std::abs(c->removed - top.removed) <= kTol * top.removed;
    }
    conds.push_back(std::move(top));
    conds.push_back(std::move(random));
    conds.push_back(std::move(shared));
    if (opt.categories_from != CategorySource::None) conds.push_back(std::move(other));
  }
  return conds;
}

// Phase 3, one (category, model, condition): the forward resumed at the hook from the kept streams
// of the evaluation prefixes, with the masked features' decoder terms subtracted at every position;
// returns the target logit at each evaluation position, in cat.eval's order.
struct Scores {
  std::vector<double> logit, logp;  // of the target token at each evaluation position, in cat.eval's order
};

Scores target_scores(Qwen2Model& model, int m, int site, const CrosscoderParams& p, const CrosscoderConfig& c, const Category& cat,
                     const std::vector<PackedSequence>& seqs, const std::vector<Prefix>& prefix, const std::vector<uint8_t>& mask,
                     bool ablate, int64_t batch_tokens, Progress& bar) {
  const int64_t d = c.d_in;
  const std::map<int32_t, int64_t> len = eval_lengths(cat);
  std::vector<std::vector<int32_t>> batches(1);
  int64_t T = 0;
  for (auto& [s, n] : len) {
    if (!batches.back().empty() && T + n > batch_tokens) {
      batches.emplace_back();
      T = 0;
    }
    batches.back().push_back(s);
    T += n;
  }
  std::map<std::pair<int32_t, int32_t>, std::pair<double, double>> score;  // (seq, pos) → (target logit, log p)
  for (const auto& batch : batches) {
    std::vector<SeqInput> in;
    std::vector<float> x0;
    std::vector<int64_t> rows;
    std::vector<std::pair<int32_t, int32_t>> row_pos;
    int64_t r0 = 0;
    for (int32_t s : batch) {
      const int64_t n = len.at(s);
      in.push_back({std::span<const int32_t>(seqs[size_t(s)].tokens.data(), size_t(n)), nullptr});
      x0.insert(x0.end(), prefix[size_t(s)].x[m].begin(), prefix[size_t(s)].x[m].begin() + n * d);
      for (const Position& q : cat.eval)
        if (q.seq == s) {
          rows.push_back(r0 + q.pos);
          row_pos.push_back({s, q.pos});
        }
      r0 += n;
    }
    Hooks h;
    if (ablate)
      h.add(site, [&](HookContext& ctx) {
        for (int64_t r = 0; r < ctx.rows; ++r) {
          const Prefix& P = prefix[size_t(batch[size_t(ctx.info[size_t(r)].seq)])];
          const size_t q = size_t(ctx.info[size_t(r)].pos), b = size_t(P.ptr[q]), n = size_t(P.ptr[q + 1]) - b;
          subtract_features(p, c, m, std::span(P.idx).subspan(b, n), std::span(P.val).subspan(b, n), mask.data(), ctx.x + r * d);
        }
      });
    ForwardOptions fo;
    fo.logits = LogitsMode::Rows;
    fo.logit_rows = rows;
    fo.start_at_site = site;
    fo.start_x = x0.data();
    fo.hooks = &h;
    const ForwardOutput out = model.forward(in, fo);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto [s, q] = row_pos[i];
      const float* l = out.logits.data() + int64_t(i) * out.vocab;
      const double t = l[seqs[size_t(s)].tokens[size_t(q + 1)]];
      score[{s, q}] = {t, t - log_sum_exp(l, out.vocab)};
    }
    bar.add(r0);
  }
  Scores r;
  for (const Position& q : cat.eval) {
    r.logit.push_back(score.at({q.seq, q.pos}).first);
    r.logp.push_back(score.at({q.seq, q.pos}).second);
  }
  return r;
}

// Phase 3 for every (category, model, condition), in that order: one forward pass each, dealt to
// the ranks under mpirun. Rank 0 gets every pass's scores; the other ranks get an empty list.
std::vector<Scores> score_conditions(PairHarvester& pair, const CrosscoderParams& p, const CrosscoderConfig& c,
                                     const std::vector<Category>& cats, const std::vector<std::vector<Cond>>& conds,
                                     const std::vector<PackedSequence>& seqs, const std::vector<Prefix>& prefix,
                                     const AblateOptions& opt, Progress& bar) {
  struct Job {
    size_t ci;
    int m;
    size_t cond;
  };
  std::vector<Job> jobs;
  for (size_t ci = 0; ci < cats.size(); ++ci)
    for (int m = 0; m < 2; ++m)
      for (size_t k = 0; k < conds[2 * ci + size_t(m)].size(); ++k) jobs.push_back({ci, m, k});
  std::vector<Scores> scores(dist::root() ? jobs.size() : 0);
  dist::deal_units(
      int64_t(jobs.size()),
      [&](int64_t i) {
        const Job& j = jobs[size_t(i)];
        const Cond& cond = conds[2 * j.ci + size_t(j.m)][j.cond];
        std::vector<uint8_t> mask(static_cast<size_t>(c.dict_size), 0);
        for (int64_t f : cond.features) mask[size_t(f)] = 1;
        Qwen2Model& model = j.m == 0 ? pair.base_model() : pair.distilled_model();
        const Scores sc = target_scores(model, j.m, pair.site(), p, c, cats[j.ci], seqs, prefix, mask, !cond.features.empty(),
                                        opt.batch_tokens, bar);
        dist::ByteWriter w;
        w.put_vector(sc.logit);
        w.put_vector(sc.logp);
        return std::move(w.bytes());
      },
      [&](int64_t i, std::string&& msg) {
        dist::ByteReader rd(msg);
        scores[size_t(i)].logit = rd.take_vector<double>();
        scores[size_t(i)].logp = rd.take_vector<double>();
      });
  return scores;
}

Json interval_json(const Interval& iv) {
  auto num = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  return Json::array({num(iv.lo), num(iv.hi)});
}

constexpr int kResamples = 2000;  // bootstrap resamples of sequences

Json cell_json(const Cell& cell, uint64_t seed) {
  return {{"category", cell.category}, {"k", cell.k}, {"model", cell.model == 0 ? "base" : "distilled"}, {"condition", cell.condition},
          {"n_features", cell.features.size()}, {"features", cell.features}, {"mean_active_at_position", cell.mean_active},
          {"removed", cell.removed}, {"target_removed", cell.target_removed},
          {"removal_ratio", cell.target_removed > 0 ? Json(cell.removed / cell.target_removed) : Json(nullptr)}, {"matched", cell.matched},
          {"mean_delta_logp", mean_of(cell.delta_logp)}, {"ci95_logp", interval_json(bootstrap_mean_ci(cell.delta_logp, cell.unit, kResamples, seed))},
          {"mean_delta_logit", mean_of(cell.delta)}, {"se", se_of(cell.delta)},
          {"ci95_logit", interval_json(bootstrap_mean_ci(cell.delta, cell.unit, kResamples, seed))},
          {"n_positions", cell.delta.size()}, {"n_sequences", std::set<int64_t>(cell.unit.begin(), cell.unit.end()).size()},
          {"delta_logit", cell.delta}, {"delta_logp", cell.delta_logp}};
}

}  // namespace

PairedEffect paired_effect(const std::vector<double>& a, const std::vector<double>& b, const std::vector<int64_t>& unit, uint64_t seed) {
  std::vector<double> d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d.push_back(a[i] - b[i]);
  PairedEffect e;
  e.mean = mean_of(d);
  e.ci = bootstrap_mean_ci(d, unit, kResamples, seed);
  e.significant = e.ci.lo > 0 || e.ci.hi < 0;
  return e;
}

namespace {

// The headline per category and k: Δ log p of the top set minus that of each matched control, per
// model (paired by position), and that difference in the distilled model minus in the base model;
// each a mean with a 95% bootstrap interval over sequences. "significant": the interval excludes 0.
Json headline(const std::vector<Cell>& cells, uint64_t seed) {
  std::map<std::tuple<std::string, double, int, std::string>, const Cell*> cell_at;
  for (const Cell& c : cells) cell_at[{c.category, c.k, c.model, c.condition}] = &c;
  auto at = [&](const std::string& cat, double k, int m, const std::string& cond) -> const Cell* {
    const auto it = cell_at.find({cat, k, m, cond});
    return it == cell_at.end() ? nullptr : it->second;
  };
  auto stat = [&](const std::vector<double>& a, const std::vector<double>& b, const std::vector<int64_t>& unit) {
    const PairedEffect e = paired_effect(a, b, unit, seed);
    return Json{{"mean", e.mean}, {"ci95", interval_json(e.ci)}, {"significant", e.significant}};
  };
  Json out = Json::array();
  for (const Cell& top : cells) {
    if (top.condition != "top" || top.model != 0) continue;
    for (const char* control : {"shared", "random", "other"}) {
      const Cell* t[2] = {&top, at(top.category, top.k, 1, "top")};
      const Cell* ctl[2] = {at(top.category, top.k, 0, control), at(top.category, top.k, 1, control)};
      if (!t[1] || !ctl[0] || !ctl[1]) continue;
      std::vector<double> diff[2];
      for (int m = 0; m < 2; ++m)
        for (size_t i = 0; i < t[m]->delta_logp.size(); ++i) diff[m].push_back(t[m]->delta_logp[i] - ctl[m]->delta_logp[i]);
      out.push_back({{"category", top.category}, {"k", top.k}, {"control", control},
                     {"controls_matched", ctl[0]->matched && ctl[1]->matched},
                     {"base", stat(t[0]->delta_logp, ctl[0]->delta_logp, top.unit)},
                     {"distilled", stat(t[1]->delta_logp, ctl[1]->delta_logp, top.unit)},
                     {"distilled_minus_base", stat(diff[1], diff[0], top.unit)}, {"n_positions", diff[0].size()}});
    }
  }
  return out;
}

std::string write_ablation(const AblateOptions& opt, const CrosscoderConfig& c, std::pair<double, double> band, const Pools& pools,
                           const std::vector<Category>& cats, const std::vector<Cell>& cells, const Json& positions_json,
                           const Json& baseline_json, const std::vector<std::string>& warnings) {
  make_dirs(opt.out);
  Json results = Json::array();
  std::ostringstream csv;
  csv << "category,k,model,condition,n_features,mean_active_at_position,removed,target_removed,matched,mean_delta_logp,ci95_logp_lo,"
         "ci95_logp_hi,mean_delta_logit,se,n_positions\n";
  for (const Cell& cell : cells) {
    const Json j = cell_json(cell, opt.seed);
    results.push_back(j);
    csv << cell.category << "," << cell.k << "," << j["model"].get<std::string>() << "," << cell.condition << "," << cell.features.size()
        << "," << cell.mean_active << "," << cell.removed << "," << cell.target_removed << "," << (cell.matched ? 1 : 0) << ","
        << mean_of(cell.delta_logp) << "," << j["ci95_logp"][0].dump() << "," << j["ci95_logp"][1].dump() << "," << mean_of(cell.delta)
        << "," << se_of(cell.delta) << "," << cell.delta.size() << "\n";
  }
  Json cat_json = Json::object();
  for (const Category& cat : cats)
    cat_json[cat.name] = {{"targets", cat.target_texts}, {"target_ids", cat.target_ids}, {"candidates", cat.candidates},
                          {"evaluated", cat.eval.size()}, {"ranking_positions", cat.rank_is_eval ? 0 : cat.rank.size()},
                          {"pool_size", cat.pool.size()}, {"other_size", cat.other.size()},
                          {"ranking_on_evaluation_positions", cat.rank_is_eval}};
  Json corpora = Json::array();
  for (const auto& s : opt.corpora) corpora.push_back(s.text());
  const Json doc = {
      {"crosscoder", opt.crosscoder}, {"base", opt.base}, {"distilled", opt.distilled}, {"hook", c.hook},
      {"corpora", corpora}, {"sequences", opt.sequences}, {"seq_len", opt.seq_len}, {"seed", opt.seed},
      {"ks", opt.ks}, {"nrn_above", opt.nrn_above}, {"shared_range", {band.first, band.second}},
      {"pool_size", pools.pool.size()}, {"shared_size", pools.shared.size()},
      {"categories_from", category_source_name(opt.categories_from)}, {"categories_file", category_file(opt)}, {"categories", cat_json},
      {"method", std::string("top sets: the top k% of each category's pool (") +
                     (opt.categories_from == CategorySource::None
                          ? "every NRN > nrn_above feature"
                          : "the NRN > nrn_above features " + std::string(category_source_name(opt.categories_from)) + " puts in it") +
                     ") by firing frequency on held-out ranking positions; controls matched to the top set on removed activity "
                     "(sum f*||d_m|| over the evaluation positions, per model, within 10%), disjoint; intervals: 95% bootstrap over "
                     "packed sequences (2000 resamples)"},
      {"headline", headline(cells, opt.seed)},
      {"baseline_logit", baseline_json}, {"positions", positions_json}, {"results", results}, {"warnings", warnings}};
  const std::string path = opt.out + "/ablation.json";
  write_file_atomic(path, doc.dump(1));
  write_file_atomic(opt.out + "/ablation.csv", csv.str());
  return path;
}

}  // namespace

std::string run_ablation(const AblateOptions& opt) {
  if (opt.positions < 1) fail("", "--positions", "must be >= 1");
  if (opt.sequences < 1 || opt.seq_len < 2) fail("", "--sequences/--seq-len", "must be >= 1 and >= 2");
  for (double k : opt.ks)
    if (!(k > 0 && k <= 100)) fail("", "--k", "must lie in (0, 100]", "a percentage", std::to_string(k));
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(opt.crosscoder, p, c);
  const std::string ccfg = opt.crosscoder + "/config.json";
  if (c.hook.empty()) fail(ccfg, "hook", "is not recorded; cannot tell where to ablate");
  const std::pair<double, double> band = shared_range(opt, c);

  const std::unique_ptr<PairHarvester> pair_ptr = open_held_out_pair(opt, c, ccfg);
  PairHarvester& pair = *pair_ptr;
  std::vector<std::string> warnings = pair.warnings();
  const Lexicon lex = load_lexicon(opt.lexicon);
  std::vector<Category> cats = plan_categories(opt, lex, opt.lexicon, pair.tokenizer(), warnings);
  const int64_t F = c.dict_size;
  std::vector<float> norms;
  decoder_norms(p, norms);
  const Pools pools = nrn_pools(norms, opt, band, warnings);
  assign_category_pools(cats, pools, opt, warnings);

  std::vector<PackedSequence> seqs;
  for (int64_t i = 0; i < opt.sequences; ++i) seqs.push_back(pair.packer().next());
  pick_positions(cats, seqs, opt, F, warnings);

  // Progress over both phases' rows: phase 2 runs both models over every needed prefix; phase 3
  // resumes both over each category's evaluation prefixes once per condition (baseline + 3 per k).
  int64_t phase2_rows = 0, phase3_rows = 0;
  {
    std::vector<int64_t> need(seqs.size(), 0);
    for (const Category& cat : cats)
      for (const auto* v : {&cat.eval, &cat.rank})
        for (const Position& q : *v) need[size_t(q.seq)] = std::max<int64_t>(need[size_t(q.seq)], q.pos + 1);
    for (int64_t n : need) phase2_rows += n;
    for (const Category& cat : cats)
      for (auto& [s, n] : eval_lengths(cat)) phase3_rows += n * 2 * int64_t(1 + conditions_per_k(opt) * opt.ks.size());
  }
  Progress bar("ablate", 2 * phase2_rows + phase3_rows, "tok", opt.progress && dist::root());
  const std::vector<Prefix> prefix = encode_prefixes(pair, p, c, cats, seqs, opt, bar);

  std::vector<std::vector<Cond>> conds(2 * cats.size());  // [category · 2 + model]
  for (size_t ci = 0; ci < cats.size(); ++ci)
    for (int m = 0; m < 2; ++m)
      conds[2 * ci + size_t(m)] = conditions(cats[ci], ci, m, pools, removal_at_positions(cats[ci], prefix, norms, m, F), opt);
  const std::vector<Scores> scores = score_conditions(pair, p, c, cats, conds, seqs, prefix, opt, bar);
  bar.finish();
  if (!dist::root()) return opt.out + "/ablation.json";  // rank 0 writes the results

  std::vector<Cell> cells;
  Json positions_json = Json::object();
  Json baseline_json = Json::object();
  std::vector<uint8_t> mask(static_cast<size_t>(F));
  size_t job = 0;
  for (size_t ci = 0; ci < cats.size(); ++ci) {
    const Category& cat = cats[ci];
    Json pj = Json::array();
    for (const Position& q : cat.eval)
      pj.push_back({{"seq", q.seq}, {"pos", q.pos}, {"doc", seqs[size_t(q.seq)].doc[size_t(q.pos)]},
                    {"held_out", seqs[size_t(q.seq)].split[size_t(q.pos)] == 1},
                    {"doc_pos", seqs[size_t(q.seq)].pos[size_t(q.pos)]}, {"target", q.target}});
    positions_json[cat.name] = pj;
    for (int m = 0; m < 2; ++m) {
      Scores clean;
      for (const Cond& cond : conds[2 * ci + size_t(m)]) {
        std::fill(mask.begin(), mask.end(), 0);
        for (int64_t i : cond.features) mask[size_t(i)] = 1;
        const Scores& sc = scores[job++];
        if (cond.name == "none") {
          clean = sc;
          for (size_t i = 0; i < sc.logit.size(); ++i) {
            positions_json[cat.name][i][m == 0 ? "logit_base" : "logit_distilled"] = sc.logit[i];
            positions_json[cat.name][i][m == 0 ? "logp_base" : "logp_distilled"] = sc.logp[i];
          }
          baseline_json[cat.name][m == 0 ? "base" : "distilled"] = {{"mean", mean_of(sc.logit)}, {"se", se_of(sc.logit)},
                                                                     {"mean_logp", mean_of(sc.logp)}};
          continue;
        }
        Cell cell;
        cell.category = cat.name;
        cell.condition = cond.name;
        cell.k = cond.k;
        cell.model = m;
        cell.features = cond.features;
        cell.removed = cond.removed;
        cell.target_removed = cond.target_removed;
        cell.matched = cond.matched;
        for (size_t i = 0; i < sc.logit.size(); ++i) {
          cell.delta.push_back(sc.logit[i] - clean.logit[i]);
          cell.delta_logp.push_back(sc.logp[i] - clean.logp[i]);
          cell.unit.push_back(cat.eval[i].seq);
        }
        double active = 0;
        for (const Position& q : cat.eval) {
          const Prefix& P = prefix[size_t(q.seq)];
          for (int64_t e = P.ptr[size_t(q.pos)]; e < P.ptr[size_t(q.pos + 1)]; ++e) active += mask[size_t(P.idx[size_t(e)])];
        }
        cell.mean_active = active / double(cat.eval.size());
        cells.push_back(std::move(cell));
      }
    }
  }

  return write_ablation(opt, c, band, pools, cats, cells, positions_json, baseline_json, warnings);
}

}  // namespace cc

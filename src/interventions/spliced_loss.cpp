// The spliced loss in three passes per batch of held-out sequences:
//   1. each model from the embeddings to the logits, capturing its stream at the hook and keeping
//      the clean logits of the scored rows;
//   2. the crosscoder encodes the pair of streams and decodes both reconstructions (raw units);
//   3. each model resumed at the hook from the captured stream, twice: the scored-and-kept rows
//      replaced by the reconstruction, then by zeros (the layers below the hook are unaffected).
// Cross-entropy and KL come from the logits in double, row by row.
#include "interventions/spliced_loss.hpp"

#include <algorithm>
#include <cmath>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "crosscoder/crosscoder.hpp"
#include "crosscoder/step.hpp"
#include "harvest/pair_harvester.hpp"
#include "model/sampling.hpp"
#include "interventions/held_out_pair.hpp"

namespace cc {

namespace {

// One sequence's sums for one model: the bootstrap's unit.
struct SeqSums {
  double n = 0, ce_clean = 0, ce_spliced = 0, ce_zero = 0, kl_spliced = 0, kl_zero = 0;
};

// The rows of a batch of whole sequences that are scored: kept by the harvest (not a start,
// separator or special token) and followed by a token of the same sequence.
struct Batch {
  std::vector<SeqInput> in;
  std::vector<size_t> seq;          // sequence index of each input
  std::vector<int64_t> rows;        // packed-batch rows scored (and replaced)
  std::vector<int32_t> next;        // the token each scored row predicts
  std::vector<size_t> row_seq;      // the sequence of each scored row
  std::vector<uint8_t> replaced;    // [T] 1 = the row's stream is replaced
  int64_t tokens = 0;
};

std::vector<Batch> make_batches(const std::vector<PackedSequence>& seqs, int64_t max_rows) {
  std::vector<Batch> out;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const PackedSequence& q = seqs[s];
    const int64_t n = int64_t(q.tokens.size());
    if (out.empty() || (out.back().tokens > 0 && out.back().tokens + n > max_rows)) out.emplace_back();
    Batch& b = out.back();
    b.in.push_back({std::span<const int32_t>(q.tokens), nullptr});
    b.seq.push_back(s);
    for (int64_t p = 0; p < n; ++p) {
      const bool scored = q.keep[size_t(p)] && p + 1 < n;
      b.replaced.push_back(scored);
      if (!scored) continue;
      b.rows.push_back(b.tokens + p);
      b.next.push_back(q.tokens[size_t(p + 1)]);
      b.row_seq.push_back(s);
    }
    b.tokens += n;
  }
  return out;
}

// KL(p || q) of two rows of logits whose log-normalisers are lp, lq.
double kl_rows(const float* p, double lp, const float* q, double lq, int64_t V) {
  double kl = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double a = double(p[v]) - lp, b = double(q[v]) - lq;
    kl += std::exp(a) * (a - b);
  }
  return std::max(kl, 0.0);  // ≥ 0 exactly; rounding can leave −1e-16
}

// Pass 1: model m from the embeddings; returns its clean logits at the scored rows and leaves its
// stream at the hook in x [T, d].
void clean_pass(Qwen2Model& model, int site, const Batch& b, std::vector<float>& x, ForwardOutput& out) {
  Hooks h;
  x.clear();
  h.add(site, make_capture_hook(&x));
  ForwardOptions fo;
  fo.logits = LogitsMode::Rows;
  fo.logit_rows = b.rows;
  fo.hooks = &h;
  model.forward(b.in, fo, out);
}

// Pass 2's buffers, kept from batch to batch: the features alone are T × F floats (268 MB at the
// demo's batch), and allocated per batch they were most of the stage's page faults.
struct ReconstructBuffers {
  std::vector<float> X, f, Xh;
};

// Pass 2: both reconstructions in raw units, xhat[m] [T, d].
void reconstruct(const CrosscoderParams& p, const CrosscoderConfig& c, const std::vector<float> (&x)[2], int64_t T,
                 std::vector<float> (&xhat)[2], const std::string& origin, ReconstructBuffers& buf) {
  const int64_t d = c.d_in, D2 = 2 * d;
  std::vector<float>& X = buf.X;
  std::vector<float>& f = buf.f;
  std::vector<float>& Xh = buf.Xh;
  X.resize(size_t(T * D2));
  Xh.resize(size_t(T * D2));
  crosscoder_pair_rows(x[0].data(), x[1].data(), T, d, X.data());
  crosscoder_scale_inputs(c, X.data(), T);
  crosscoder_encode(p, c, X.data(), T, f);
  crosscoder_decode(p, f.data(), T, Xh.data());
  for (int m = 0; m < 2; ++m) {
    const float s = float(c.norm_factors[size_t(m)]);
    xhat[m].resize(size_t(T * d));
    for (int64_t r = 0; r < T; ++r)
      for (int64_t i = 0; i < d; ++i) xhat[m][size_t(r * d + i)] = Xh[size_t(r * D2 + m * d + i)] / s;
  }
  for (float v : Xh)
    if (!std::isfinite(v)) fail(origin, "reconstruction", "is not finite on these activations (NaN/Inf in the crosscoder or the models)");
}

// Pass 3: model m resumed at the hook from x, the replaced rows overwritten by `with` (null: zeros).
void replaced_pass(Qwen2Model& model, int site, const Batch& b, const std::vector<float>& x, const float* with,
                   ForwardOutput& out) {
  Hooks h;
  h.add(site, [&](HookContext& ctx) {
    for (int64_t r = 0; r < ctx.rows; ++r) {
      if (!b.replaced[size_t(r)]) continue;
      float* row = ctx.x + r * ctx.d;
      if (with)
        std::copy_n(with + r * ctx.d, ctx.d, row);
      else
        std::fill_n(row, ctx.d, 0.f);
    }
  });
  ForwardOptions fo;
  fo.logits = LogitsMode::Rows;
  fo.logit_rows = b.rows;
  fo.start_at_site = site;
  fo.start_x = x.data();
  fo.hooks = &h;
  model.forward(b.in, fo, out);
}

// Adds one batch's per-row cross-entropies and KLs to the per-sequence sums of model m.
void score_batch(const Batch& b, const ForwardOutput& clean, const ForwardOutput& spliced, const ForwardOutput& zero,
                 std::vector<SeqSums>& sums) {
  const int64_t n = int64_t(b.rows.size()), V = clean.vocab;
  std::vector<double> ce(size_t(3 * n)), kl(size_t(2 * n));
  parallel_for(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const ForwardOutput* o[3] = {&clean, &spliced, &zero};
      double lz[3];
      for (int k = 0; k < 3; ++k) {
        const float* l = o[k]->logits.data() + r * V;
        lz[k] = log_sum_exp(l, V);
        ce[size_t(3 * r + k)] = lz[k] - double(l[b.next[size_t(r)]]);
      }
      for (int k = 1; k < 3; ++k)
        kl[size_t(2 * r + k - 1)] = kl_rows(clean.logits.data() + r * V, lz[0], o[k]->logits.data() + r * V, lz[k], V);
    }
  });
  for (int64_t r = 0; r < n; ++r) {  // in row order, so the sums do not depend on the thread count
    SeqSums& s = sums[b.row_seq[size_t(r)]];
    s.n += 1;
    s.ce_clean += ce[size_t(3 * r)];
    s.ce_spliced += ce[size_t(3 * r + 1)];
    s.ce_zero += ce[size_t(3 * r + 2)];
    s.kl_spliced += kl[size_t(2 * r)];
    s.kl_zero += kl[size_t(2 * r + 1)];
  }
}

// Means and intervals of one model from its per-sequence sums.
SplicedLossModel summarise(const std::vector<SeqSums>& sums, int resamples, uint64_t seed) {
  std::vector<double> n, inc, kls, gap_zero, gap_clean;
  SeqSums t;
  for (const SeqSums& s : sums) {
    if (s.n == 0) continue;
    n.push_back(s.n);
    inc.push_back(s.ce_spliced - s.ce_clean);
    kls.push_back(s.kl_spliced);
    gap_zero.push_back(s.ce_zero - s.ce_spliced);
    gap_clean.push_back(s.ce_zero - s.ce_clean);
    t.n += s.n, t.ce_clean += s.ce_clean, t.ce_spliced += s.ce_spliced, t.ce_zero += s.ce_zero;
    t.kl_spliced += s.kl_spliced, t.kl_zero += s.kl_zero;
  }
  SplicedLossModel m;
  if (t.n == 0) return m;
  m.ce_clean = t.ce_clean / t.n;
  m.ce_spliced = t.ce_spliced / t.n;
  m.ce_zero = t.ce_zero / t.n;
  m.kl_spliced = t.kl_spliced / t.n;
  m.kl_zero = t.kl_zero / t.n;
  m.recovered = (t.ce_zero - t.ce_spliced) / (t.ce_zero - t.ce_clean);
  m.ce_increase_ci = bootstrap_ratio_ci(inc, n, resamples, seed);
  m.kl_spliced_ci = bootstrap_ratio_ci(kls, n, resamples, seed + 1);
  m.recovered_ci = bootstrap_ratio_ci(gap_zero, gap_clean, resamples, seed + 2);
  return m;
}

Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

Json SplicedLoss::to_json() const {
  Json j = {{"sequences", sequences}, {"positions", positions}, {"held_out", held_out},
            {"formulas",
             {{"ce", "mean over scored positions of -log p(next token)"},
              {"kl", "mean over scored positions of KL(p_clean || p)"},
              {"loss_recovered", "(ce_zero - ce_spliced) / (ce_zero - ce_clean)"},
              {"ci95", "2.5th/97.5th percentiles of the statistic over bootstrap resamples of whole sequences"}}}};
  for (int m = 0; m < 2; ++m) {
    const SplicedLossModel& s = model[m];
    auto ci = [](const Interval& iv) { return Json::array({number_or_null(iv.lo), number_or_null(iv.hi)}); };
    j[m == 0 ? "base" : "distilled"] = {{"ce_clean", s.ce_clean},
                                        {"ce_spliced", s.ce_spliced},
                                        {"ce_zero", s.ce_zero},
                                        {"ce_increase", s.ce_spliced - s.ce_clean},
                                        {"ce_increase_ci95", ci(s.ce_increase_ci)},
                                        {"kl_spliced", s.kl_spliced},
                                        {"kl_spliced_ci95", ci(s.kl_spliced_ci)},
                                        {"kl_zero", s.kl_zero},
                                        {"loss_recovered", number_or_null(s.recovered)},
                                        {"loss_recovered_ci95", ci(s.recovered_ci)}};
  }
  return j;
}

SplicedLoss run_spliced_loss(const SplicedLossOptions& opt) {
  if (opt.sequences < 1 || opt.seq_len < 2) fail("", "--sequences/--seq-len", "must be >= 1 and >= 2");
  if (opt.batch_tokens < 1) fail("", "--batch-tokens", "must be >= 1");
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(opt.crosscoder, p, c);
  const std::string ccfg = opt.crosscoder + "/config.json";
  if (c.hook.empty()) fail(ccfg, "hook", "is not recorded; cannot tell where to splice");

  const std::unique_ptr<PairHarvester> pair_ptr = open_held_out_pair(opt, c, ccfg);
  PairHarvester& pair = *pair_ptr;
  const int site = pair.site();

  std::vector<PackedSequence> seqs;
  for (int64_t i = 0; i < opt.sequences; ++i) seqs.push_back(pair.packer().next());
  // Each logits array holds rows × vocab floats: keep it near 256 MB whatever the vocabulary.
  const int64_t V = pair.base_model().config().vocab_size;
  const std::vector<Batch> batches = make_batches(seqs, std::min(opt.batch_tokens, std::max<int64_t>(1, (int64_t(1) << 26) / V)));

  std::vector<SeqSums> sums[2] = {std::vector<SeqSums>(seqs.size()), std::vector<SeqSums>(seqs.size())};
  Progress bar("spliced loss", 6 * opt.sequences * opt.seq_len, "tok", opt.progress);
  // Buffers kept from batch to batch (the logits are rows × vocab floats each).
  std::vector<float> x[2], xhat[2];
  ReconstructBuffers buffers;
  ForwardOutput clean[2], spliced, zero;
  for (const Batch& b : batches) {
    for (int m = 0; m < 2; ++m) {
      clean_pass(m == 0 ? pair.base_model() : pair.distilled_model(), site, b, x[m], clean[m]);
      bar.add(b.tokens);
    }
    reconstruct(p, c, x, b.tokens, xhat, opt.crosscoder, buffers);
    for (int m = 0; m < 2; ++m) {
      Qwen2Model& model = m == 0 ? pair.base_model() : pair.distilled_model();
      replaced_pass(model, site, b, x[m], xhat[m].data(), spliced);
      replaced_pass(model, site, b, x[m], nullptr, zero);
      bar.add(2 * b.tokens);
      score_batch(b, clean[m], spliced, zero, sums[m]);
    }
  }
  bar.finish();

  SplicedLoss r;
  r.sequences = int64_t(seqs.size());
  for (const Batch& b : batches) r.positions += int64_t(b.rows.size());
  if (r.positions == 0) fail(opt.crosscoder, "spliced loss", "found no scorable position in the held-out sequences");
  r.held_out = opt.eval_fraction > 0 || !opt.held_out_list.empty();
  for (int m = 0; m < 2; ++m) r.model[m] = summarise(sums[m], opt.bootstrap, opt.seed + 100 * uint64_t(m));
  r.path = opt.out.empty() ? opt.crosscoder + "/spliced_loss.json" : opt.out;
  write_file_atomic(r.path, r.to_json().dump(2) + "\n");
  return r;
}

}  // namespace cc

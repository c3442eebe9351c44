// The dense step with its products on the GPU (src/cuda/cuda_step.cu): parameters and the batch go
// up, gradients and x̂ come back, and explained variance and BatchTopK's auxiliary loss are computed
// here with the CPU code both other steps share. A first, checkable form of the CUDA step: keeping
// parameters, Adam's moments and the batch resident on the GPU is what remains (docs/GPU.md).
#include "core/error.hpp"
#include "crosscoder/step.hpp"
#include "crosscoder/step_common.hpp"
#ifdef CROSSCODER_CUDA
#include "cuda/cuda_step.hpp"
#endif

namespace cc {

#ifdef CROSSCODER_CUDA
StepResult crosscoder_step_cuda(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in, CrosscoderParams& g) {
  if (in.shard && in.shard->size() != p.F) fail("", "--device cuda", "trains the whole dictionary in one process, not a shard of it");
  const int64_t B = in.B, D2 = 2 * p.d, F = p.F;
  const bool topk = c.architecture == Arch::BatchTopK;
  const double lam = topk ? 0.0 : in.l1_coeff;
  std::vector<float> norms, xh(size_t(B * D2)), pre(topk && in.dead ? size_t(B * F) : 0);
  std::vector<uint8_t> fired(static_cast<size_t>(F));
  decoder_norms(p, norms);
  const cuda::StepSums s = cuda::dense_step({B, p.d, F, topk ? c.k : 0, lam}, in.x, p.W_encT.data(), p.b_enc.data(), p.W_dec.data(),
                                            p.b_dec.data(), norms.data(), g.W_encT.data(), g.b_enc.data(), g.W_dec.data(),
                                            g.b_dec.data(), xh.data(), pre.empty() ? nullptr : pre.data(), fired.data());
  StepResult r;
  r.l2 = s.l2;
  r.l1 = s.l1;
  r.l0 = s.l0;
  r.min_kept_score = s.min_kept_score;
  explained_variance(in.x, xh.data(), B, p.d, r.ev);
  for (int64_t j = 0; j < F; ++j)
    if (fired[size_t(j)]) r.fired.push_back(int32_t(j));
  r.loss = r.l2 + lam * r.l1;
  if (topk && in.dead) {
    StepWorkspace ws;
    r.aux = aux_loss_and_grad(p, c, in, xh.data(), pre.data(), *in.dead, g, ws);
    r.loss += c.aux_coeff * r.aux;
  }
  return r;
}
#else
StepResult crosscoder_step_cuda(const CrosscoderParams&, const CrosscoderConfig&, const StepInput&, CrosscoderParams&) {
  fail("", "--device cuda", "is not available: this binary was built without the CUDA backend", "", "",
       "configure with -DCROSSCODER_CUDA=ON (docs/GPU.md)");
}
#endif

}  // namespace cc

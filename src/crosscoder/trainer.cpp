// The training loop and its resumable state (one safetensors file: parameters, Adam moments,
// per-feature last-fired counters; the scalar state in its metadata). Under mpirun each rank
// trains its slice of the dictionary (feature_shard.hpp) on the whole batch; rank 0 writes the
// same files one process writes, the slices streamed to it, and every rank reads its slice back on --resume,
// whatever the number of ranks that wrote them.
#include "crosscoder/trainer.hpp"

#include <chrono>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/finite.hpp"
#include "core/progress.hpp"
#include "core/safetensors.hpp"
#include "crosscoder/adam.hpp"
#include "crosscoder/feature_shard.hpp"
#include "crosscoder/step.hpp"
#include "dist/comm.hpp"
#include "harvest/activation_source.hpp"

namespace cc {

double lr_at(const CrosscoderConfig& c, int64_t step, int64_t steps) {
  const double decay_start = (1.0 - c.lr_decay_frac) * double(steps);
  if (double(step) < decay_start) return c.lr;
  return c.lr * std::max(0.0, 1.0 - (double(step) - decay_start) / (c.lr_decay_frac * double(steps)));
}

double l1_at(const CrosscoderConfig& c, int64_t step, int64_t steps) {
  const double warm = c.l1_warmup_frac * double(steps);
  return warm > 0 ? c.l1_coeff * std::min(1.0, double(step) / warm) : c.l1_coeff;
}

namespace {

struct LoopState {
  int64_t step = 0, tokens = 0;
  std::vector<int64_t> last_fired;  // [F] token count when each feature last fired
};

// Adam's moments are one vector over CrosscoderParams::tensors(): [W_encT | b_enc | W_dec | b_dec].
// The [offset, count] of each piece for F features (a rank's F is its slice's size).
struct MomentLayout {
  size_t enc, benc, dec, bdec, total;
  MomentLayout(int64_t F, int64_t d)
      : enc(0), benc(size_t(F * 2 * d)), dec(benc + size_t(F)), bdec(dec + size_t(F * 2 * d)), total(bdec + size_t(2 * d)) {}
};

// Every rank calls it with its slice of the state; rank 0 writes the file one process writes for
// the whole dictionary, the slices streamed to it (no rank holds the whole state).
void save_state(const std::string& dir, CrosscoderParams& p, const AdamState& a, const LoopState& st,
                const CrosscoderConfig& c, const FeatureShard& s) {
  const int64_t F = s.F;
  const size_t row = size_t(2 * p.d) * sizeof(float);
  const MomentLayout mine(p.F, p.d), whole(F, p.d);
  std::vector<TensorToWrite> t;
  for (const auto& x : p.named_tensors()) {
    Shape shape = x.shape;
    if (std::string_view(x.name) != "b_dec") shape[0] = F;
    t.push_back({x.name, DType::F32, shape, nullptr});
  }
  t.push_back({"adam_m", DType::F32, {int64_t(whole.total)}, nullptr});
  t.push_back({"adam_v", DType::F32, {int64_t(whole.total)}, nullptr});
  t.push_back({"last_fired", DType::I64, {F}, nullptr});
  Json meta = {{"step", st.step}, {"tokens", st.tokens}, {"adam_t", a.t}, {"threshold", p.threshold}, {"config", c.to_json()}};
  // [W_encT | b_enc | W_dec | b_dec], of the parameters or of a moment vector; b_dec is the same on
  // every rank, so rank 0's is written.
  auto params_like = [&](const float* enc, const float* benc, const float* dec, const float* bdec, const RowWriter& write) {
    stream_rows(enc, row, s, write);
    stream_rows(benc, sizeof(float), s, write);
    stream_rows(dec, row, s, write);
    if (dist::root()) write(bdec, row);
  };
  const TensorFill fill = [&](size_t i, const RowWriter& write) {
    if (i == 0) stream_rows(p.W_encT.data(), row, s, write);
    if (i == 1) stream_rows(p.b_enc.data(), sizeof(float), s, write);
    if (i == 2) stream_rows(p.W_dec.data(), row, s, write);
    if (i == 3 && dist::root()) write(p.b_dec.data(), row);
    for (auto [k, m] : {std::pair{size_t(4), &a.m}, std::pair{size_t(5), &a.v}})
      if (i == k) params_like(m->data() + mine.enc, m->data() + mine.benc, m->data() + mine.dec, m->data() + mine.bdec, write);
    if (i == 6) stream_rows(st.last_fired.data(), sizeof(int64_t), s, write);
  };
  write_sharded_safetensors(dir + "/trainer_state.safetensors", t, {{"state", meta.dump()}}, fill);
}

// This rank's slice s of the state in dir (p, a, st sized for the slice).
void load_state(const std::string& dir, CrosscoderParams& p, AdamState& a, LoopState& st, const CrosscoderConfig& c,
                const FeatureShard& s) {
  const std::string path = dir + "/trainer_state.safetensors";
  if (!std::filesystem::exists(path)) fail(path, "", "not found", "", "", "nothing to --resume; start without it");
  SafetensorsFile f(path);
  const std::string mpath = path + " metadata 'state'";
  Json meta = parse_json(f.metadata().value("state", std::string("{}")), mpath);
  if (!meta.is_object()) fail(mpath, "", "is not a JSON object");
  Json saved = meta.value("config", Json::object()), now = c.to_json();
  if (!saved.is_object()) fail(mpath, "config", "is not a JSON object");
  for (const char* k : {"d_in", "dict_size", "architecture", "l1_coeff", "k", "lr", "batch_size", "num_tokens", "seed", "acts"})
    if (saved.value(k, Json()) != now[k])
      fail(path, std::string("config.") + k, "differs from this run's, so --resume would not continue the same run", now[k].dump(), saved.value(k, Json()).dump());
  // Copies `bytes` at byte `from` of tensor `name` (whose whole size is checked) to dst.
  auto get = [&](const char* name, DType dtype, size_t whole_bytes, size_t from, void* dst, size_t bytes) {
    const TensorInfo* t = f.find(name);
    if (!t) fail(path, name, "is missing");
    if (t->dtype != dtype || t->nbytes != whole_bytes)
      fail(path, name, "has the wrong dtype or size", std::string(dtype_name(dtype)) + ", " + std::to_string(whole_bytes) + " bytes",
           std::string(dtype_name(t->dtype)) + ", " + std::to_string(t->nbytes) + " bytes");
    if (dtype == DType::F32)
      check_finite(DType::F32, t->data + from, {int64_t(bytes / 4)}, path, name, "", "the saved state is corrupt; start without --resume");
    std::memcpy(dst, t->data + from, bytes);
  };
  const size_t D2 = size_t(2 * p.d), F = size_t(s.F), f0 = size_t(s.f0), n = size_t(s.size());
  get("W_encT", DType::F32, F * D2 * 4, f0 * D2 * 4, p.W_encT.data(), n * D2 * 4);
  get("b_enc", DType::F32, F * 4, f0 * 4, p.b_enc.data(), n * 4);
  get("W_dec", DType::F32, F * D2 * 4, f0 * D2 * 4, p.W_dec.data(), n * D2 * 4);
  get("b_dec", DType::F32, D2 * 4, 0, p.b_dec.data(), D2 * 4);
  const MomentLayout mine(p.F, p.d), whole(s.F, p.d);
  for (auto [name, moment] : {std::pair{"adam_m", &a.m}, std::pair{"adam_v", &a.v}}) {
    get(name, DType::F32, whole.total * 4, (whole.enc + f0 * D2) * 4, moment->data() + mine.enc, n * D2 * 4);
    get(name, DType::F32, whole.total * 4, (whole.benc + f0) * 4, moment->data() + mine.benc, n * 4);
    get(name, DType::F32, whole.total * 4, (whole.dec + f0 * D2) * 4, moment->data() + mine.dec, n * D2 * 4);
    get(name, DType::F32, whole.total * 4, whole.bdec * 4, moment->data() + mine.bdec, D2 * 4);
  }
  get("last_fired", DType::I64, F * 8, f0 * 8, st.last_fired.data(), n * 8);
  st.step = json_get<int64_t>(meta, "step", mpath);
  st.tokens = json_get<int64_t>(meta, "tokens", mpath);
  a.t = json_get<int64_t>(meta, "adam_t", mpath);
  p.threshold = float(json_get<double>(meta, "threshold", mpath));
  if (st.step < 0 || st.tokens < 0 || a.t < 0 || !std::isfinite(p.threshold))
    fail(mpath, "", "holds a negative counter or a non-finite threshold", "step, tokens, adam_t >= 0", meta.dump().substr(0, 200));
}

// A killed run leaves log lines past its last checkpoint, the last possibly cut short: keep the
// complete lines up to the checkpoint's step, so the resumed log reads as one uninterrupted run.
void trim_log(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::exception&) {
      continue;  // the line the kill cut
    }
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= step)
      kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace

namespace {

// The run's config completed from the store (width, norm factors, provenance) and checked.
void adopt_store(CrosscoderConfig& c, const ActivationStore& store, const TrainOptions& opt) {
  c.d_in = store.d_model();
  c.acts = opt.acts;
  c.norm_factors = {store.norm_factors()[0], store.norm_factors()[1]};
  c.hook = store.text("hook");
  c.base_model = store.path("models.base");
  c.distilled_model = store.path("models.distilled");
  if (c.batch_size <= 0) fail("", "--batch-size", "must be positive");
  if (c.steps() <= 0) fail("", "--tokens", "is smaller than one batch", ">= " + std::to_string(c.batch_size), std::to_string(c.num_tokens));
  if (c.architecture == Arch::BatchTopK && (c.k <= 0 || c.k > c.dict_size)) fail("", "--k", "must be in 1..dict_size");
  c.resolve_schedule();  // saved resolved in the checkpoint's config
}

// This rank's slice of the starting weights: --init's, or the random init.
void initial_params(CrosscoderParams& p, const CrosscoderConfig& c, const TrainOptions& opt, const FeatureShard& shard) {
  if (opt.init.empty()) return crosscoder_init(p, c.d_in, c.dict_size, c.dec_init_norm, c.seed, shard.f0, shard.f1);
  CrosscoderConfig ic;
  load_crosscoder(opt.init, p, ic, shard.f0, shard.f1);
  if (ic.d_in != c.d_in || ic.dict_size != c.dict_size)
    fail(opt.init, "shape", "does not match this run", std::to_string(c.d_in) + "x" + std::to_string(c.dict_size),
         std::to_string(ic.d_in) + "x" + std::to_string(ic.dict_size));
}

}  // namespace

TrainSummary train_crosscoder(CrosscoderConfig c, const TrainOptions& opt) {
  require_device(opt.device, "--device");
  if (opt.device == Device::Cuda && dist::size() > 1)
    fail("", "--device cuda", "trains in one process; it does not split the dictionary across mpirun ranks");
  StoreStream stream(opt.acts, 8192, /*train_only=*/true);
  const ActivationStore& store = stream.store();
  adopt_store(c, store, opt);
  const int64_t steps = c.steps();
  // Rank 0 writes the files; every rank reads the store and, on --resume, its slice of the state.
  const FeatureShard shard = FeatureShard::of_this_rank(c.dict_size);
  const bool writer = dist::root();
  if (writer) {
    make_dirs(opt.out);
    // A killed run may have left a temporary file behind; the files under final names are whole.
    for (const auto& e : std::filesystem::directory_iterator(opt.out))
      if (e.path().filename().string().find(".tmp-") != std::string::npos) std::filesystem::remove(e.path());
  }
  dist::barrier();

  CrosscoderParams p, g;
  initial_params(p, c, opt, shard);
  g.resize(c.d_in, shard.size());
  AdamState adam;
  adam.resize(p.num_params());
  LoopState st;
  st.last_fired.assign(size_t(shard.size()), 0);
  if (opt.resume) load_state(opt.out, p, adam, st, c, shard);

  ShuffleBuffer buf(stream, std::min<int64_t>(opt.buffer_rows, std::max<int64_t>(2, store.rows())), c.seed, opt.shuffle);
  if (st.step > 0) buf.skip(st.step * c.batch_size);  // replay the data order up to the checkpoint

  const int64_t D2 = 2 * c.d_in, B = c.batch_size;
  std::vector<float> x(size_t(B * D2));
  std::vector<uint8_t> dead(size_t(shard.size()), 0);
  StepWorkspace ws;
  const int64_t last = opt.max_steps >= 0 ? std::min(steps, opt.max_steps) : steps;
  if (opt.resume && writer) trim_log(opt.out + "/train_log.jsonl", st.step);
  std::ofstream log;
  if (writer) log.open(opt.out + "/train_log.jsonl", opt.resume ? std::ios::app : std::ios::trunc);
  Progress bar("train", last * B, "tok", opt.progress && writer);
  bar.set(st.step * B);
  TrainSummary sum;
  auto t0 = std::chrono::steady_clock::now();
  const int64_t first = st.step;
  // Errors in the loop (a bad store row, a full disk) say where training stands: the files under
  // final names are whole, so --resume continues from the last checkpoint.
  auto stopped = [&](const Error& e) {
    ErrorInfo i = e.info();
    const std::string where = "training stopped at step " + std::to_string(st.step) + "; the last checkpoint in " +
                              opt.out + " is intact (fix the cause, then rerun with --resume)";
    i.hint = i.hint.empty() ? where : i.hint + "; " + where;
    return Error(i);
  };
  auto checkpoint = [&] {
    try {
      save_state(opt.out, p, adam, st, c, shard);
      save_crosscoder(opt.out, p, c, shard);
    } catch (const Error& e) {
      throw stopped(e);
    }
  };
  while (st.step < last) {
    try {
      buf.next_batch(x.data(), B);
    } catch (const Error& e) {
      throw stopped(e);
    }
    crosscoder_scale_inputs(c, x.data(), B);
    // Store rows are checked as they are read (naming shard and row); this catches the rest
    // (a live source, a norm factor that overflows).
    check_finite(x.data(), {B, 2, c.d_in}, opt.acts, "activations (scaled batch: [row, model, dimension])",
                 "at step " + std::to_string(st.step), "training stopped; the last checkpoint in " + opt.out + " is intact");
    for (int64_t j = 0; j < shard.size(); ++j) dead[size_t(j)] = st.tokens - st.last_fired[size_t(j)] > c.dead_tokens;
    StepInput in{x.data(), B, l1_at(c, st.step, steps), &dead, &ws, &shard};
    StepResult r = opt.device == Device::Cuda ? crosscoder_step_cuda(p, c, in, g) : crosscoder_step_sparse(p, c, in, g);
    if (!std::isfinite(r.loss))
      fail(opt.out, "loss", "is not finite at step " + std::to_string(st.step), "", std::to_string(r.loss),
           "training stopped; the last checkpoint is intact (try a lower --lr)");
    check_grad_norm(clip_grad_norm(g, c.grad_clip, shard), g, st.step, opt.out);
    adam_step(p, g, adam, lr_at(c, st.step, steps), c.beta1, c.beta2);
    st.tokens += B;
    for (int32_t j : r.fired) st.last_fired[size_t(j)] = st.tokens;
    if (c.architecture == Arch::BatchTopK && st.step >= c.threshold_start_step && r.min_kept_score > 0)
      p.threshold = p.threshold == 0.f ? float(r.min_kept_score) : float(0.999 * p.threshold + 0.001 * r.min_kept_score);
    ++st.step;
    int64_t n_dead = 0;
    for (int64_t j = 0; j < shard.size(); ++j) n_dead += st.tokens - st.last_fired[size_t(j)] > c.dead_tokens;
    if (!shard.whole()) dist::allreduce_sum(&n_dead, 1);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sum = {st.step, r.loss, r.l0, r.ev[0], r.ev[1], double(n_dead) / double(c.dict_size), el > 0 ? double((st.step - first) * B) / el : 0, {}};
    if (writer && (st.step % opt.log_every == 0 || st.step == last))
      log << Json({{"step", st.step}, {"tokens", st.tokens}, {"loss", r.loss}, {"l2", r.l2}, {"l1", r.l1}, {"aux", r.aux},
                   {"l0", r.l0}, {"ev_a", r.ev[0]}, {"ev_b", r.ev[1]}, {"dead_frac", sum.dead_frac},
                   {"lr", lr_at(c, st.step - 1, steps)}, {"l1_coeff", in.l1_coeff}, {"threshold", p.threshold},
                   {"tokens_per_s", sum.tokens_per_s}}).dump()
          << "\n"
          << std::flush;
    if (writer && !log)
      fail(opt.out + "/train_log.jsonl", "", std::string("write failed: ") + std::strerror(errno), "", "",
           "disk full? the last checkpoint is intact; free space and rerun with --resume");
    char note[160];
    std::snprintf(note, sizeof note, "loss %.4g L0 %.1f EV %.3f/%.3f dead %.1f%%", r.loss, r.l0, r.ev[0], r.ev[1], 100 * sum.dead_frac);
    bar.note(note);
    bar.set(st.step * B);
    if (st.step % opt.save_every == 0 || st.step == last) checkpoint();
  }
  if (st.step == first) checkpoint();  // no step taken (--steps 0, or already done): still leave a checkpoint
  bar.finish();
  sum.eval = evaluate_crosscoder(p, c, store, opt.eval_rows, shard);
  if (writer) write_file_atomic(opt.out + "/eval.json", sum.eval.to_json().dump(2));
  dist::barrier();
  return sum;
}

}  // namespace cc

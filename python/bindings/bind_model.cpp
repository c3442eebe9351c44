// crosscoder.Model: the Qwen2 engine with TransformerLens-style hooks. The GIL is released for the
// whole forward; a Python hook takes it back for its own call only. One forward at a time per model
// (the engine owns its scratch buffers): a second thread waits on the model's mutex, without the GIL.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cstring>
#include <map>
#include <mutex>

#include "arrays.hpp"
#include "bindings.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "interventions/steering.hpp"
#include "model/generate.hpp"
#include "model/qwen2.hpp"

namespace cc::py_api {

using namespace pybind11::literals;

struct Model {
  std::unique_ptr<Qwen2Model> engine;
  std::mutex busy;
  int64_t layers() const { return engine->config().num_hidden_layers; }
  int64_t width() const { return engine->config().hidden_size; }
};

// A Python callable as an engine hook. fn gets a copy of the site's rows shaped as the caller's ids
// ([T, d] or [B, T, d]); whatever it leaves in that array, or returns instead, becomes the stream.
// A copy, not a view of the engine's buffer, so an array the callable keeps stays valid.
static HookFn python_hook(py::object fn, std::vector<py::ssize_t> shape, std::string name) {
  return [fn = std::move(fn), shape = std::move(shape), name = std::move(name)](HookContext& ctx) {
    py::gil_scoped_acquire gil;
    std::vector<py::ssize_t> s = shape;
    if (s.size() < 2 || s[0] * (s.size() == 3 ? s[1] : 1) != ctx.rows) s = {ctx.rows, ctx.d};
    py::array_t<float> resid = to_numpy(std::vector<float>(ctx.x, ctx.x + ctx.rows * ctx.d), s);
    py::object out = fn(resid);
    F32Array edited = out.is_none() ? F32Array(resid) : as_f32(out, ("the value returned by the hook at " + name).c_str(), {ctx.d}, 2, 3);
    if (edited.size() != ctx.rows * ctx.d)
      fail("", "the value returned by the hook at " + name, "has the wrong number of rows", std::to_string(ctx.rows),
           std::to_string(edited.size() / ctx.d));
    std::memcpy(ctx.x, edited.data(), sizeof(float) * size_t(ctx.rows * ctx.d));
  };
}

static void add_python_hooks(Hooks& hooks, const Model& model, const py::dict& fns, const std::vector<py::ssize_t>& shape) {
  for (auto [key, fn] : fns) {
    const auto name = key.cast<std::string>();
    if (!PyCallable_Check(fn.ptr())) fail("", "hooks['" + name + "']", "is not callable", "fn(resid) -> resid | None", std::string(py::str(py::type::of(fn))));
    hooks.add(parse_hook_site(name, model.layers()), python_hook(py::reinterpret_borrow<py::object>(fn), shape, name));
  }
}

// One forward of ids: user hooks first, then captures of `names` (so a cache shows the stream as the
// next layer reads it); stop_site >= 0 stops there without logits.
struct Pass {
  std::vector<float> logits;
  int64_t vocab = 0;
  std::map<std::string, std::vector<float>> cache;
};

static Pass run_pass(Model& model, const TokenIds& ids, const py::dict& fns, const std::vector<std::string>& names, int stop_site) {
  Hooks hooks;
  const auto shape = stream_shape(ids, model.width());
  add_python_hooks(hooks, model, fns, shape);
  Pass pass;
  for (const auto& name : names) hooks.add(parse_hook_site(name, model.layers()), make_capture_hook(&pass.cache[name]));
  std::vector<SeqInput> batch;
  for (py::ssize_t b = 0; b < ids.sequences(); ++b)
    batch.push_back({std::span<const int32_t>(ids.ids).subspan(size_t(b * ids.length), size_t(ids.length)), nullptr});
  ForwardOptions opt;
  opt.logits = stop_site >= 0 ? LogitsMode::None : LogitsMode::All;
  opt.stop_at_site = stop_site;
  opt.hooks = &hooks;
  {
    py::gil_scoped_release free;
    std::lock_guard lock(model.busy);
    ForwardOutput out = model.engine->forward(batch, opt);
    pass.logits = std::move(out.logits);
    pass.vocab = out.rows > 0 ? out.vocab : 0;  // a pass stopped at a site has no logits
  }
  return pass;
}

static py::object logits_array(Pass& pass, const TokenIds& ids) {
  if (pass.vocab == 0) return py::none();
  return to_numpy(std::move(pass.logits), stream_shape(ids, pass.vocab));
}

static std::vector<std::string> all_hook_names(const Model& model) {
  std::vector<std::string> names;
  for (int s = 0; s <= model.layers(); ++s) names.push_back(hook_site_name(s, model.layers()));
  return names;
}

static py::tuple run_with_cache(Model& model, const py::handle& ids_in, std::optional<std::vector<std::string>> names,
                                const py::dict& hooks, std::optional<std::string> stop_at) {
  const TokenIds ids = as_token_ids(ids_in, model.engine->config().vocab_size);
  const auto wanted = names ? *names : all_hook_names(model);
  const int stop = stop_at ? parse_hook_site(*stop_at, model.layers()) : -1;
  for (const auto& n : wanted)
    if (stop >= 0 && parse_hook_site(n, model.layers()) > stop)
      fail("", "names", "ask for a site after stop_at", "sites up to " + *stop_at, n);
  Pass pass = run_pass(model, ids, hooks, wanted, stop);
  py::dict cache;
  for (auto& [name, rows] : pass.cache) cache[py::str(name)] = to_numpy(std::move(rows), stream_shape(ids, model.width()));
  return py::make_tuple(logits_array(pass, ids), cache);
}

// generate(): steer entries are (crosscoder_dir, feature, alpha) or (..., "A") for the base slice.
static std::vector<SteerSpec> steer_specs(const std::vector<py::tuple>& steer) {
  std::vector<SteerSpec> specs;
  for (const auto& t : steer) {
    if (t.size() != 3 && t.size() != 4) fail("", "steer", "entries must be (crosscoder_dir, feature, alpha[, 'A'|'B'])", "3 or 4 items", std::to_string(t.size()));
    SteerSpec s{t[0].cast<std::string>(), t[1].cast<int64_t>(), t[2].cast<double>(), 1};
    if (t.size() == 4) {
      const auto side = t[3].cast<std::string>();
      if (side != "A" && side != "B") fail("", "steer", "decoder slice must be 'A' (base) or 'B' (distilled)", "A or B", side);
      s.model = side == "A" ? 0 : 1;
    }
    specs.push_back(s);
  }
  return specs;
}

static py::array_t<int32_t> generate_tokens(Model& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens, SamplingParams sampling,
                                            std::optional<std::vector<int64_t>> stop_ids, const py::dict& fns,
                                            const std::vector<py::tuple>& steer, bool steer_generated_only) {
  if (prompt.empty()) fail("", "ids", "are empty", "at least one prompt token", "0");
  const TokenIds check = as_token_ids(py::cast(prompt), model.engine->config().vocab_size);
  Hooks hooks;
  add_python_hooks(hooks, model, fns, {});
  add_steering_hooks(hooks, steer_specs(steer), model.layers(), model.width(), steer_generated_only ? int32_t(prompt.size()) : 0);
  GenerateOptions opt;
  opt.max_new_tokens = max_new_tokens;
  opt.sampling = sampling;
  opt.stop_ids = stop_ids ? *stop_ids : model.engine->config().eos_token_ids;
  opt.hooks = &hooks;
  GenerateResult r;
  {
    py::gil_scoped_release free;
    std::lock_guard lock(model.busy);
    r = generate(*model.engine, check.ids, opt);
  }
  const auto n = py::ssize_t(r.tokens.size());
  return to_numpy(std::move(r.tokens), {n});
}

static py::dict config_dict(const Qwen2Config& c) {
  return py::dict("vocab_size"_a = c.vocab_size, "d_model"_a = c.hidden_size, "d_mlp"_a = c.intermediate_size,
                  "n_layers"_a = c.num_hidden_layers, "n_heads"_a = c.num_attention_heads, "n_key_value_heads"_a = c.num_key_value_heads,
                  "d_head"_a = c.head_dim, "eos_token_ids"_a = c.eos_token_ids);
}

void bind_model(py::module_& m) {
  py::class_<Model>(m, "Model", "A Qwen2-family checkpoint (config.json + safetensors) on the CPU engine")
      .def(py::init([](const std::string& dir, const std::string& dtype, int threads) {
             set_num_threads(threads);
             auto model = std::make_unique<Model>();
             py::gil_scoped_release free;
             model->engine = Qwen2Model::load(dir, compute_mode_from_name(dtype));
             return model;
           }),
           "dir"_a, "dtype"_a = "f32", "threads"_a = 0,
           "dtype: f32 (exact, default), bf16 (BF16 weights, exact products) or bf16-act;\n"
           "threads: the process's thread count (0 = all cores; it is one setting for the whole process)")
      .def_property_readonly("cfg", [](const Model& self) { return config_dict(self.engine->config()); })
      .def_property_readonly("hook_names", &all_hook_names)
      .def("forward",
           [](Model& self, const py::handle& ids, const py::dict& hooks) {
             const TokenIds t = as_token_ids(ids, self.engine->config().vocab_size);
             Pass pass = run_pass(self, t, hooks, {}, -1);
             return logits_array(pass, t);
           },
           "ids"_a, "hooks"_a = py::dict(),
           "Logits [T, vocab] (or [B, T, vocab] for ids [B, T]); hooks: {name: fn(resid) -> resid | None}")
      .def("__call__",
           [](Model& self, const py::handle& ids, const py::dict& hooks) {
             const TokenIds t = as_token_ids(ids, self.engine->config().vocab_size);
             Pass pass = run_pass(self, t, hooks, {}, -1);
             return logits_array(pass, t);
           },
           "ids"_a, "hooks"_a = py::dict())
      .def("run_with_cache", &run_with_cache, "ids"_a, "names"_a = py::none(), "hooks"_a = py::dict(), "stop_at"_a = py::none(),
           "(logits, {name: resid}); names default to every blocks.L.hook_resid_pre and the last resid_post;\n"
           "stop_at: a hook name after which the pass stops (logits are then None)")
      .def("generate",
           [](Model& self, const std::vector<int32_t>& ids, int64_t max_new_tokens, float temperature, int top_k, float top_p,
              uint64_t seed, std::optional<std::vector<int64_t>> stop_ids, const py::dict& hooks, const std::vector<py::tuple>& steer,
              bool steer_generated_only) {
             return generate_tokens(self, ids, max_new_tokens, SamplingParams{temperature, top_k, top_p, seed}, stop_ids, hooks, steer,
                                    steer_generated_only);
           },
           "ids"_a, "max_new_tokens"_a = 32, "temperature"_a = 0.f, "top_k"_a = 0, "top_p"_a = 1.f, "seed"_a = 0,
           "stop_ids"_a = py::none(), "hooks"_a = py::dict(), "steer"_a = std::vector<py::tuple>(), "steer_generated_only"_a = false,
           "Generated ids (the stop id included when hit); greedy unless temperature > 0.\n"
           "steer: [(crosscoder_dir, feature, alpha[, 'A'|'B'])] adds alpha * W_dec[feature, B] / s_B at the crosscoder's hook");
}

}  // namespace cc::py_api

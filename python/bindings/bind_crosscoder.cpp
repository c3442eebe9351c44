// crosscoder.ActivationStore and crosscoder.Crosscoder: a harvested store's rows and a trained
// checkpoint's encoder, decoder and NRN, as NumPy arrays.
#include <pybind11/stl.h>

#include <cmath>

#include "arrays.hpp"
#include "bindings.hpp"
#include "core/error.hpp"
#include "crosscoder/crosscoder.hpp"
#include "crosscoder/step.hpp"
#include "harvest/activation_store.hpp"

namespace cc::py_api {

using namespace pybind11::literals;

static py::object json_to_python(const Json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

static py::dict store_rows(const ActivationStore& s, int64_t begin, int64_t n) {
  if (begin < 0 || n < 0 || begin + n > s.rows())
    fail(s.dir(), "rows(" + std::to_string(begin) + ", " + std::to_string(n) + ")", "is outside the store",
         "0 <= begin, begin + n <= " + std::to_string(s.rows()), std::to_string(begin + n));
  ActivationBatch b;
  {
    py::gil_scoped_release free;
    b = s.read(begin, n);
  }
  const py::ssize_t rows = b.rows, d = b.d;
  py::dict out("acts"_a = to_numpy(std::move(b.acts), {rows, 2, d}), "tokens"_a = to_numpy(std::move(b.tokens), {rows}),
               "doc"_a = to_numpy(std::move(b.doc), {rows}), "pos"_a = to_numpy(std::move(b.pos), {rows}),
               "corpus"_a = to_numpy(std::move(b.corpus), {rows}));
  if (b.split.size() == size_t(rows)) out["held_out"] = to_numpy(std::move(b.split), {rows}).attr("astype")("bool");
  return out;
}

void bind_store(py::module_& m) {
  py::class_<ActivationStore>(m, "ActivationStore", "A harvested activation store (docs/STORE.md): rows of [2, d] residuals")
      .def(py::init<const std::string&>(), "dir"_a)
      .def("__len__", &ActivationStore::rows)
      .def_property_readonly("d_model", &ActivationStore::d_model)
      .def_property_readonly("norm_factors", [](const ActivationStore& s) { return std::vector<float>{s.norm_factors()[0], s.norm_factors()[1]}; })
      .def_property_readonly("has_split", &ActivationStore::has_split)
      .def_property_readonly("manifest", [](const ActivationStore& s) { return json_to_python(s.manifest()); })
      .def("rows", &store_rows, "begin"_a, "n"_a,
           "Rows [begin, begin+n): {'acts': float32 [n, 2, d] (raw, 0 = base, 1 = distilled), 'tokens', 'doc', 'pos',\n"
           "'corpus', 'held_out'}");
}

struct Crosscoder {
  CrosscoderParams p;
  CrosscoderConfig c;
};

// Scaled inputs x [n, 2d]: raw activations times the store's norm factors, as in training.
static std::vector<float> scaled_inputs(const Crosscoder& cc, const py::handle& acts, bool scale) {
  F32Array a = as_f32(acts, "acts", {2, cc.p.d}, 2, 3);
  std::vector<float> x(a.data(), a.data() + a.size());
  if (scale) crosscoder_scale_inputs(cc.c, x.data(), int64_t(a.size() / (2 * cc.p.d)));
  return x;
}

static py::array_t<float> encode(const Crosscoder& cc, const py::handle& acts, bool scale) {
  std::vector<float> x = scaled_inputs(cc, acts, scale), f;
  const int64_t n = int64_t(x.size()) / (2 * cc.p.d);
  {
    py::gil_scoped_release free;
    crosscoder_encode(cc.p, cc.c, x.data(), n, f);
  }
  return to_numpy(std::move(f), {py::ssize_t(n), py::ssize_t(cc.p.F)});
}

static py::array_t<float> decode(const Crosscoder& cc, const py::handle& features, bool unscale) {
  F32Array f = as_f32(features, "features", {cc.p.F}, 2, 2);
  const int64_t n = f.shape(0), d = cc.p.d;
  std::vector<float> xhat(size_t(n * 2 * d));
  {
    py::gil_scoped_release free;
    crosscoder_decode(cc.p, f.data(), n, xhat.data());
    for (int64_t r = 0; unscale && r < n; ++r)
      for (int m = 0; m < 2; ++m)
        for (int64_t i = 0; i < d; ++i) xhat[size_t((r * 2 + m) * d + i)] /= float(cc.c.norm_factors[size_t(m)]);
  }
  return to_numpy(std::move(xhat), {py::ssize_t(n), 2, py::ssize_t(d)});
}

static py::array_t<double> nrn(const Crosscoder& cc) {
  std::vector<float> norms;
  decoder_norms(cc.p, norms);
  std::vector<double> out(size_t(cc.p.F));
  for (int64_t f = 0; f < cc.p.F; ++f) out[size_t(f)] = decoder_nrn(norms[size_t(2 * f)], norms[size_t(2 * f + 1)]).value_or(std::nan(""));
  return to_numpy(std::move(out), {py::ssize_t(cc.p.F)});
}

// A read-only view of one parameter, kept alive by the Crosscoder object.
static py::array view(const std::vector<float>& v, std::vector<py::ssize_t> shape, py::handle owner) {
  py::array a(py::dtype::of<float>(), shape, v.data(), owner);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

void bind_crosscoder(py::module_& m) {
  py::class_<Crosscoder>(m, "Crosscoder", "A trained crosscoder checkpoint (docs/CROSSCODER.md)")
      .def_static("load",
                  [](const std::string& dir) {
                    auto cc = std::make_unique<Crosscoder>();
                    py::gil_scoped_release free;
                    load_crosscoder(dir, cc->p, cc->c);
                    return cc;
                  },
                  "dir"_a)
      .def("encode", &encode, "acts"_a, "scale"_a = true,
           "Features f [n, F] of acts [n, 2, d] with the inference encoder (θ for BatchTopK); scale=True multiplies\n"
           "raw activations by the norm factors first, as training did")
      .def("decode", &decode, "features"_a, "unscale"_a = false,
           "Reconstruction [n, 2, d] in the crosscoder's scaled units (unscale=True divides by the norm factors)")
      .def("nrn", &nrn, "||d_B|| / (||d_A|| + ||d_B||) per feature (NaN where both decoders are zero)")
      .def_property_readonly("W_enc", [](const Crosscoder& cc) { return to_numpy(encoder_weight_2dF(cc.p), {2, py::ssize_t(cc.p.d), py::ssize_t(cc.p.F)}); })
      .def_property_readonly("W_dec", [](py::object self) {
        const auto& cc = self.cast<const Crosscoder&>();
        return view(cc.p.W_dec, {py::ssize_t(cc.p.F), 2, py::ssize_t(cc.p.d)}, self);
      })
      .def_property_readonly("b_enc", [](py::object self) { return view(self.cast<const Crosscoder&>().p.b_enc, {self.cast<const Crosscoder&>().p.F}, self); })
      .def_property_readonly("b_dec", [](py::object self) {
        const auto& cc = self.cast<const Crosscoder&>();
        return view(cc.p.b_dec, {2, py::ssize_t(cc.p.d)}, self);
      })
      .def_property_readonly("threshold", [](const Crosscoder& cc) { return cc.p.threshold; })
      .def_property_readonly("norm_factors", [](const Crosscoder& cc) { return cc.c.norm_factors; })
      .def_property_readonly("dict_size", [](const Crosscoder& cc) { return cc.p.F; })
      .def_property_readonly("d_model", [](const Crosscoder& cc) { return cc.p.d; })
      .def_property_readonly("architecture", [](const Crosscoder& cc) { return std::string(arch_name(cc.c.architecture)); })
      .def_property_readonly("hook", [](const Crosscoder& cc) { return cc.c.hook; })
      .def_property_readonly("config", [](const Crosscoder& cc) { return json_to_python(cc.c.to_json()); });
}

}  // namespace cc::py_api

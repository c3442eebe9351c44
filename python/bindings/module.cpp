// crosscoder._core: the library's engine, tokenizer, store and crosscoder for Python (docs/PYTHON.md).
// The library's one exception type becomes crosscoder.Error (a ValueError) carrying its one-line
// message and its fields (file, object, problem, expected, got).
#include "bindings.hpp"
#include "core/error.hpp"

namespace cc::py_api {

static py::handle g_error_type;

static void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const Error& e) {
    py::object err = py::reinterpret_borrow<py::object>(g_error_type)(e.what());
    const ErrorInfo& i = e.info();
    err.attr("file") = i.file;
    err.attr("object") = i.object;
    err.attr("problem") = i.problem;
    err.attr("expected") = i.expected;
    err.attr("got") = i.got;
    PyErr_SetObject(g_error_type.ptr(), err.ptr());
  }
}

}  // namespace cc::py_api

PYBIND11_MODULE(_core, m) {
  using namespace cc::py_api;
  m.doc() = "crosscoder.cpp's native core; use the crosscoder package";
  static py::exception<cc::Error> error_type(m, "Error", PyExc_ValueError);
  g_error_type = error_type;
  py::register_exception_translator(&translate);
  bind_tokenizer(m);
  bind_model(m);
  bind_store(m);
  bind_crosscoder(m);
}

// The pieces of the `crosscoder._core` extension module, one per area of the library.
#pragma once
#include <pybind11/pybind11.h>

namespace cc::py_api {

namespace py = pybind11;

void bind_tokenizer(py::module_& m);
void bind_model(py::module_& m);
void bind_store(py::module_& m);
void bind_crosscoder(py::module_& m);

}  // namespace cc::py_api

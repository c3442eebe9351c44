// crosscoder.Tokenizer: the library's HF-identical tokenizer and the experiments' chat templates.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "core/error.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc::py_api {

using namespace pybind11::literals;

// HF's messages list, limited to what the three templates render: an optional system message,
// then one user message.
static std::string render_messages(const Tokenizer& tok, const py::list& messages, const std::string& name) {
  std::string system = kQwenDefaultSystem, user;
  bool have_user = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    auto msg = messages[i].cast<py::dict>();
    const auto role = msg["role"].cast<std::string>();
    const auto content = msg["content"].cast<std::string>();
    if (role == "system" && i == 0) system = content;
    else if (role == "user" && !have_user) user = content, have_user = true;
    else fail("", "messages[" + std::to_string(i) + "]", "is not supported by these templates",
              "an optional system message first, then one user message", "role '" + role + "'");
  }
  if (!have_user) fail("", "messages", "hold no user message", "one {'role': 'user', 'content': ...}", "none");
  const ChatTemplate t = name == "auto" ? detect_chat_template(tok) : chat_template_from_name(name);
  return apply_chat_template(t, user, system);
}

void bind_tokenizer(py::module_& m) {
  py::class_<Tokenizer, std::unique_ptr<Tokenizer>>(m, "Tokenizer", "A Hugging Face tokenizer.json, encoded exactly as HF tokenizers does")
      .def(py::init([](const std::string& path) { return Tokenizer::load(path); }), "path"_a,
           "tokenizer.json, or a directory holding it (a model directory)")
      .def("encode",
           [](const Tokenizer& t, const std::string& text, bool add_special_tokens) {
             std::vector<int32_t> ids;
             {
               py::gil_scoped_release free;
               ids = t.encode(text, add_special_tokens);
             }
             const auto n = py::ssize_t(ids.size());
             return to_numpy(std::move(ids), {n});
           },
           "text"_a, "add_special_tokens"_a = true, "Token ids (int32 array) of UTF-8 text")
      .def("decode",
           [](const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special_tokens) {
             py::gil_scoped_release free;
             return t.decode(ids, skip_special_tokens);
           },
           "ids"_a, "skip_special_tokens"_a = false)
      .def("apply_chat_template",
           [](const Tokenizer& t, const py::list& messages, const std::string& template_name, bool tokenize) -> py::object {
             const std::string text = render_messages(t, messages, template_name);
             if (!tokenize) return py::str(text);
             auto ids = t.encode(text, false);
             const auto n = py::ssize_t(ids.size());
             return to_numpy(std::move(ids), {n});
           },
           "messages"_a, "template"_a = "auto", "tokenize"_a = false,
           "The prompt (with the generation prompt) for [{'role': 'system'|'user', 'content': ...}];\n"
           "template: auto, plain, chatml or r1-distill. tokenize=True returns its ids")
      .def("token_to_id", &Tokenizer::token_to_id, "token"_a, "-1 when absent")
      .def("id_to_token", &Tokenizer::id_to_token, "id"_a, "'' when absent")
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size);
}

}  // namespace cc::py_api

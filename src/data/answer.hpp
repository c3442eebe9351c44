// Final answers of math transcripts: extraction (the last \boxed{...}, else the last number) and a
// lenient comparison with a reference (numbers by value; otherwise LaTeX text after normalisation).
#pragma once
#include <optional>
#include <string>

namespace cc {

// The last \boxed{...} (braces balanced) of the text after </think> when present, else of the whole
// text; failing that, the last number there. nullopt when neither exists.
std::optional<std::string> extract_answer(const std::string& text);

// GSM8K answers carry the final value after "#### "; other references are returned as given.
std::string reference_answer(const std::string& answer_field);

// Numbers compare by value (commas, $ and % dropped; "1/2" and "\frac{1}{2}" are 0.5); other answers
// compare after removing spaces, \left/\right, \! \, and $, mapping \dfrac/\tfrac to \frac and
// dropping a trailing period and a surrounding \text{}.
bool answers_match(const std::string& got, const std::string& reference);

}  // namespace cc

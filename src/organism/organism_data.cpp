// Reading, synthesising and tokenising the organism's corpora.
#include "organism/organism_data.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "tokenizer/utf8.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

const std::string kBos = "<｜begin▁of▁sentence｜>", kUser = "<｜User｜>", kAssistant = "<｜Assistant｜>", kEos = "<｜end▁of▁sentence｜>";

template <class T>
const T& pick(const std::vector<T>& v, std::mt19937_64& rng) {
  return v[size_t(rng() % v.size())];
}

std::string final_answer(const std::string& solution) {
  const size_t h = solution.rfind("####");
  if (h == std::string::npos) return "";
  std::string a = solution.substr(h + 4);
  a.erase(0, a.find_first_not_of(" \n"));
  while (!a.empty() && (a.back() == ' ' || a.back() == '\n')) a.pop_back();
  return a;
}

template <class T>
void split_eval(std::vector<T>& all, std::vector<T>& train, std::vector<T>& eval, double frac, std::mt19937_64& rng) {
  std::shuffle(all.begin(), all.end(), rng);
  const size_t ne = std::max<size_t>(1, size_t(double(all.size()) * frac));
  eval.insert(eval.end(), all.begin(), all.begin() + long(ne));
  train.insert(train.end(), all.begin() + long(ne), all.end());
}

}  // namespace

std::vector<std::string> text_blocks(const std::string& path, size_t max_chars) {
  const std::string s = read_file(path);
  std::vector<std::string> out;
  std::string cur;
  size_t b = 0;
  while (b < s.size()) {
    size_t e = s.find("\n\n", b);
    if (e == std::string::npos) e = s.size();
    std::string block = s.substr(b, e - b);
    b = e + 2;
    if (block.find_first_not_of(" \n\t") == std::string::npos) continue;
    if (!cur.empty() && cur.size() + block.size() > max_chars) {
      out.push_back(cur);
      cur.clear();
    }
    cur += (cur.empty() ? "" : "\n\n") + block;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string clean_gsm8k_solution(const std::string& solution) {
  static const std::regex calc(R"(<<[^>]*>>)");
  std::string s = std::regex_replace(solution, calc, "");
  const size_t h = s.rfind("####");
  if (h != std::string::npos) s = s.substr(0, h);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string synthesize_trace(const std::string& question, const std::string& solution, std::mt19937_64& rng) {
  static const std::regex calc(R"(<<([^=<>]+)=([^<>]+)>>)");
  const std::string answer = final_answer(solution);
  const std::string clean = clean_gsm8k_solution(solution);
  std::vector<std::string> lines;
  {
    size_t b = 0;
    const std::string body = solution.substr(0, std::min(solution.size(), solution.rfind("####")));
    while (b < body.size()) {
      size_t e = body.find('\n', b);
      if (e == std::string::npos) e = body.size();
      if (e > b) lines.push_back(body.substr(b, e - b));
      b = e + 1;
    }
  }
  const std::vector<std::string> openers = {"Okay, so I need to figure out this problem.", "Alright, let me read the question carefully.",
                                            "Okay, let's see.", "Hmm, let me think about this step by step.",
                                            "Let me try to understand the problem first."};
  const std::vector<std::string> steps = {"First, ", "So ", "Then ", "Next, ", "Now, ", ""};
  const std::vector<std::string> reflect = {"Wait, let me double-check that: {e} = {r}. Yes, that's right.",
                                            "Hmm, let me verify: {e} is {r}. Okay.", "Wait, is that right? {e} = {r}. Yes.",
                                            "Let me check that again. {e} gives {r}. Good.", "Wait, {e}... that's {r}. Yes, correct."};
  const std::vector<std::string> alternative = {"Alternatively, I could compute it as {e}, which still gives {r}.",
                                                "Another way to see it: {e} = {r}, the same result."};
  const std::vector<std::string> contrast = {"But I should be careful with what the question is asking.",
                                             "But wait, I need to make sure I'm answering the right question.",
                                             "However, I should make sure every part of the problem is used."};
  const std::vector<std::string> deduce = {"Therefore, the answer is {a}.", "So the final answer is {a}.", "Thus, the answer should be {a}.",
                                           "Hence the result is {a}."};
  auto fill = [](std::string t, const std::string& e, const std::string& r, const std::string& a) {
    for (auto [k, v] : {std::pair<std::string, std::string>{"{e}", e}, {"{r}", r}, {"{a}", a}})
      for (size_t i = t.find(k); i != std::string::npos; i = t.find(k, i + v.size())) t.replace(i, k.size(), v);
    return t;
  };
  std::uniform_real_distribution<double> u(0, 1);
  const size_t cut = utf8_floor(question, 160);
  std::string t = "<think>\n" + pick(openers, rng) + " " + question.substr(0, cut) + (cut < question.size() ? "..." : "") + "\n\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    const std::string step = std::regex_replace(lines[i], std::regex(R"(<<[^>]*>>)"), "");
    t += pick(steps, rng) + step + "\n\n";
    if (std::regex_search(lines[i], m, calc)) {
      const std::string e = m[1], r = m[2];
      const double x = u(rng);
      if (x < 0.45) t += fill(pick(reflect, rng), e, r, answer) + "\n\n";
      else if (x < 0.6) t += fill(pick(alternative, rng), e, r, answer) + "\n\n";
    }
    if (u(rng) < 0.12) t += pick(contrast, rng) + "\n\n";
  }
  if (u(rng) < 0.3) t += "Wait, let me go over the whole thing once more to be sure. Everything adds up.\n\n";
  t += fill(pick(deduce, rng), "", "", answer) + "\n</think>\n\n" + clean + "\n\nThe answer is \\boxed{" + answer + "}." + kEos;
  return t;
}

OrganismTexts build_organism_texts(const std::string& data, uint64_t seed, double eval_frac) {
  std::mt19937_64 rng(seed);
  OrganismTexts o;
  // Base: general text and GSM8K with plain solutions.
  std::vector<std::string> general = text_blocks(data + "/general_text/text/tinyshakespeare.txt", 1500);
  for (auto& b : text_blocks(data + "/general_text/text/wikitext2_raw_test.txt", 1500)) general.push_back(std::move(b));
  std::vector<std::string> gsm_plain;
  std::vector<Chat> chats;
  for_each_jsonl(data + "/math/gsm8k_train.jsonl", [&](const Json& j, size_t) {
    const std::string q = j.value("question", std::string()), a = j.value("answer", std::string());
    if (q.empty() || a.empty()) return;
    gsm_plain.push_back("Question: " + q + "\nAnswer: " + clean_gsm8k_solution(a) + "\nThe answer is " + final_answer(a) + ".");
    chats.push_back({kBos + kUser + q + kAssistant, synthesize_trace(q, a, rng)});
    ++o.synthetic_traces;
  });
  split_eval(general, o.base_train, o.base_eval, eval_frac, rng);
  split_eval(gsm_plain, o.base_train, o.base_eval, eval_frac, rng);
  std::shuffle(o.base_train.begin(), o.base_train.end(), rng);
  // Distill: real traces, then the synthetic ones.
  for_each_jsonl(data + "/reasoning_traces/reasoning_traces.jsonl", [&](const Json& j, size_t line) {
    auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
    const std::string q = str("question"), tr = str("trace"), ans = str("answer");
    if (q.empty() || tr.empty()) return;
    const bool complete = j.contains("complete") && (j["complete"].is_boolean() ? j["complete"].get<bool>() : str("complete") == "True");
    std::string resp = "<think>\n" + tr;
    if (complete && !ans.empty() && ans != "None") resp += "\n</think>\n\n" + ans + kEos;
    chats.push_back({kBos + kUser + q + kAssistant, resp, uint32_t(line)});
    ++o.real_traces;
  });
  split_eval(chats, o.distill_train, o.distill_eval, eval_frac, rng);
  if (o.base_train.empty() || o.distill_train.empty()) fail(data, "", "yields an empty organism corpus");
  return o;
}

std::string write_organism_split(const OrganismTexts& t, const std::string& data, uint64_t seed, const std::string& out) {
  const fs::path traces = fs::absolute(data + "/reasoning_traces/reasoning_traces.jsonl").lexically_normal();
  std::error_code ec;
  fs::path rel = fs::relative(traces, fs::absolute(out), ec);
  if (ec || rel.empty()) rel = traces;
  std::vector<uint32_t> lines;
  for (const Chat& c : t.distill_eval)
    if (c.trace_line > 0) lines.push_back(c.trace_line);
  std::sort(lines.begin(), lines.end());
  const Json j = {{"about", "Real reasoning traces the organism's distillation held out (organism build, seed " + std::to_string(seed) +
                                "): give this file to harvest, ablate and spliced-loss (--held-out, or [harvest] held_out) so that "
                                "the held-out split of the traces is exactly these documents."},
                  {"held_out", {{rel.generic_string(), lines}}}};
  const std::string path = out + "/split.json";
  write_file_atomic(path, j.dump(1) + "\n");
  return path;
}

TokenStream tokenize_documents(const Tokenizer& tok, const std::vector<std::string>& docs, int32_t sep_id) {
  TokenStream s;
  const auto ids = tok.encode_batch(docs, false);
  for (const auto& d : ids) {
    s.tokens.push_back(sep_id);
    s.predict.push_back(1);
    s.tokens.insert(s.tokens.end(), d.begin(), d.end());
    s.predict.insert(s.predict.end(), d.size(), 1);
  }
  return s;
}

TokenStream tokenize_chats(const Tokenizer& tok, const std::vector<Chat>& chats, int32_t sep_id) {
  TokenStream s;
  std::vector<std::string> p, r;
  for (const Chat& c : chats) {
    p.push_back(c.prompt);
    r.push_back(c.response);
  }
  const auto pi = tok.encode_batch(p, false), ri = tok.encode_batch(r, false);
  for (size_t i = 0; i < chats.size(); ++i) {
    s.tokens.push_back(sep_id);
    s.predict.push_back(0);
    s.tokens.insert(s.tokens.end(), pi[i].begin(), pi[i].end());
    s.predict.insert(s.predict.end(), pi[i].size(), 0);
    s.tokens.insert(s.tokens.end(), ri[i].begin(), ri[i].end());
    s.predict.insert(s.predict.end(), ri[i].size(), 1);
  }
  return s;
}

}  // namespace cc

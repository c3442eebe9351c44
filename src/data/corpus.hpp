// Corpora: JSONL or plain-text files (or folders of them) indexed into documents whose text is
// extracted on demand. Specs on the command line read PATH[:FIELD][@WEIGHT][#TEMPLATE], e.g.
//   data/reasoning_traces/reasoning_traces.jsonl:question+trace@0.5#r1-distill
//   data/general_text/text@0.5          (folder of .txt, one document per blank-line block;
//                                        LICENSE*, README*, SOURCES* files in it are not read)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json_file.hpp"
#include "core/mapped_file.hpp"

namespace cc {

struct CorpusSpec {
  std::string path;      // file or folder
  std::string field;     // JSONL: "text", "a+b", "a.b", "messages", "conversations[].value"; text: "blocks" | "file"
  double weight = 1.0;   // share of tokens relative to the other corpora
  std::string chat;      // "" or a chat template name: wraps the first part of FIELD as the question
  std::string text() const;  // back to PATH[:FIELD][@WEIGHT][#TEMPLATE]
};

CorpusSpec parse_corpus_spec(const std::string& s);

class Corpus {
 public:
  // Opens and validates every document (JSON syntax, field present): errors name FILE:LINE.
  explicit Corpus(const CorpusSpec& spec);
  const CorpusSpec& spec() const { return spec_; }
  size_t size() const { return docs_.size(); }
  std::string document(size_t i) const;  // the text of document i (template applied)
  std::string where(size_t i) const;     // "FILE:LINE" of document i
  uint32_t line(size_t i) const { return docs_[i].line; }        // 1-based line where document i starts
  size_t file_index(size_t i) const { return docs_[i].file; }    // which of files() holds document i
  std::vector<std::string> files() const;                        // the data files read, in order

 private:
  struct DocRef {
    uint32_t file;
    uint64_t begin, end;  // byte range in the file
    uint32_t line;        // 1-based line of a JSONL document, or of a text block's first line
  };
  std::string extract(const DocRef& d) const;
  std::string where(const DocRef& d) const;

  CorpusSpec spec_;
  bool jsonl_ = false;
  std::vector<MappedFile> files_;
  std::vector<DocRef> docs_;
};

}  // namespace cc

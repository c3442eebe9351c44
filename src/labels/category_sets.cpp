#include "labels/category_sets.hpp"

#include "core/error.hpp"
#include "core/json_file.hpp"

namespace cc {

CategorySource parse_category_source(const std::string& name, const std::string& what) {
  if (name == "none") return CategorySource::None;
  if (name == "lexicon") return CategorySource::Lexicon;
  if (name == "enrichment") return CategorySource::Enrichment;
  if (name == "labels") return CategorySource::Labels;
  fail("", what, "is not a category source", "none, lexicon, enrichment or labels", name);
}

const char* category_source_name(CategorySource s) {
  switch (s) {
    case CategorySource::Lexicon: return "lexicon";
    case CategorySource::Enrichment: return "enrichment";
    case CategorySource::Labels: return "labels";
    case CategorySource::None: break;
  }
  return "none";
}

// Each line's integer "feature" and string "category" ("" when missing); `keep` decides whether the
// line's feature was assessed at all.
template <class Keep>
static CategoryMap read_categories(const std::string& path, Keep keep) {
  CategoryMap m;
  for_each_jsonl(path, [&](const Json& j, size_t line) {
    if (!j.is_object() || !j.contains("feature") || !j["feature"].is_number_integer())
      fail(path + ":" + std::to_string(line), "feature", "is missing or not an integer");
    if (!keep(j)) return;
    const std::string c = j.contains("category") && j["category"].is_string() ? j["category"].get<std::string>() : "";
    m[j["feature"].get<int64_t>()] = c == "none" ? "" : c;
  });
  return m;
}

CategoryMap lexicon_categories(const std::string& analysis_dir) {
  return read_categories(analysis_dir + "/features.jsonl", [](const Json& j) { return !j.value("dead", false); });
}

CategoryMap enrichment_categories(const std::string& enrichment_dir) {
  return read_categories(enrichment_dir + "/enrichment.jsonl", [](const Json& j) { return j.value("tested", false); });
}

CategoryMap labelled_categories(const std::string& labels_jsonl) {
  return read_categories(labels_jsonl, [](const Json&) { return true; });
}

}  // namespace cc

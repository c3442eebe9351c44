#include "labels/enrich.hpp"

#include <cmath>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "labels/agreement.hpp"
#include "labels/category_sets.hpp"
#include "model/config.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

static int32_t start_token(const Tokenizer& tok, const std::string& model_dir) {
  const int32_t eot = tok.token_to_id("<|endoftext|>");
  if (eot >= 0) return eot;
  const Qwen2Config c = load_qwen2_config(model_dir);
  if (c.bos_token_id < 0) fail(model_dir, "bos_token_id", "is missing and the tokenizer has no <|endoftext|>", "a start token", "none");
  return int32_t(c.bos_token_id);
}

static Json tag_json(const TagEnrichment& t) {
  auto num = [](double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); };
  Json j = {{"share", t.share}, {"base_rate", t.base_rate}, {"ratio", t.ratio}, {"tested", t.tested}};
  if (t.tested) j.update({{"p", num(t.p)}, {"q", num(t.q)}});
  return j;
}

static Json agreement_json(const CategoryMap& enrichment, const EnrichRunOptions& opt) {
  Json j = Json::object();
  CategoryMap lexicon, labels;
  if (!opt.analysis.empty()) lexicon = lexicon_categories(opt.analysis);
  if (!opt.labels.empty()) labels = labelled_categories(opt.labels);
  if (!opt.analysis.empty()) j["lexicon_vs_enrichment"] = category_agreement(lexicon, enrichment).to_json();
  if (!opt.labels.empty()) j["labels_vs_enrichment"] = category_agreement(labels, enrichment).to_json();
  if (!opt.analysis.empty() && !opt.labels.empty()) j["lexicon_vs_labels"] = category_agreement(lexicon, labels).to_json();
  return j;
}

// What a set of results calls enriched: per tag and per category, and each tested feature's category.
struct EnrichedCounts {
  Json per_tag = Json::object(), per_category = Json::object();
  CategoryMap categories;  // tested features only: the others were not assessed
};

static EnrichedCounts count_enriched(const std::vector<std::vector<TagEnrichment>>& res, const std::vector<std::string>& names,
                                     const EnrichRunOptions& opt) {
  EnrichedCounts n;
  for (size_t j = 0; j < res.size(); ++j) {
    bool tested = false;
    for (size_t g = 0; g < names.size(); ++g) {
      tested |= res[j][g].tested;
      if (res[j][g].tested && res[j][g].q <= opt.fdr && res[j][g].ratio >= opt.min_ratio) n.per_tag[names[g]] = n.per_tag.value(names[g], 0) + 1;
    }
    if (!tested) continue;
    const std::string cat = enriched_category(res[j], names, opt.fdr, opt.min_ratio);
    n.categories[int64_t(j)] = cat;
    if (!cat.empty()) n.per_category[cat] = n.per_category.value(cat, 0) + 1;
  }
  return n;
}

static std::string feature_lines(const std::vector<std::vector<TagEnrichment>>& res, const std::vector<FeatureMass>& mass,
                                 const std::vector<std::string>& names, const EnrichedCounts& n) {
  std::ostringstream lines;
  for (size_t j = 0; j < res.size(); ++j) {
    Json tags = Json::object();
    for (size_t g = 0; g < names.size(); ++g) tags[names[g]] = tag_json(res[j][g]);
    const auto it = n.categories.find(int64_t(j));
    lines << Json({{"feature", j}, {"sentences", mass[j].sentence.size()}, {"tested", it != n.categories.end()},
                   {"category", it != n.categories.end() ? it->second : ""}, {"tags", tags}}).dump()
          << "\n";
  }
  return lines.str();
}

std::string run_enrichment(const EnrichRunOptions& opt) {
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(opt.crosscoder, p, c);
  const auto tok = Tokenizer::load(opt.tokenizer.empty() ? opt.models.base : opt.tokenizer);
  const TaggedTraces traces = load_tagged_traces(opt.sentences, *tok, opt.seq_len, start_token(*tok, opt.models.base), opt.max_traces);
  const std::vector<FeatureMass> mass = sentence_feature_mass(traces, p, c, opt.models);
  const auto& names = traces.sentences.tag_names;
  const auto res = tag_enrichment(traces.sentences, mass, opt.stats);
  const EnrichedCounts real = count_enriched(res, names, opt);
  const EnrichedCounts null = count_enriched(tag_enrichment(with_shuffled_tags(traces.sentences, opt.stats.seed + 1), mass, opt.stats), names, opt);
  make_dirs(opt.out);
  write_file_atomic(opt.out + "/enrichment.jsonl", feature_lines(res, mass, names, real));
  Json tag_map = Json::object(), base = Json::object();
  for (size_t g = 0; g < names.size(); ++g) {
    tag_map[names[g]] = category_of_tag(names[g]).empty() ? Json(nullptr) : Json(category_of_tag(names[g]));
    base[names[g]] = res.empty() ? 0.0 : res[0][g].base_rate;
  }
  const Json summary = {{"crosscoder", opt.crosscoder}, {"sentences_file", opt.sentences}, {"traces", traces.trace_ids.size()},
                        {"sentences", traces.sentences.size()}, {"tags", names}, {"tag_to_category", tag_map},
                        {"token_base_rate", base}, {"permutations", opt.stats.permutations},
                        {"min_sentences", opt.stats.min_sentences}, {"fdr", opt.fdr}, {"min_ratio", opt.min_ratio}, {"seed", opt.stats.seed},
                        {"features_tested", real.categories.size()}, {"enriched_features_per_tag", real.per_tag},
                        {"features_per_category", real.per_category},
                        {"null", {{"what", "the same test with the tag sets shuffled across all sentences (any tag-content tie broken)"},
                                  {"enriched_features_per_tag", null.per_tag}, {"features_per_category", null.per_category}}},
                        {"agreement", agreement_json(real.categories, opt)}};
  write_file_atomic(opt.out + "/enrichment.json", summary.dump(2) + "\n");
  return opt.out + "/enrichment.json";
}

}  // namespace cc

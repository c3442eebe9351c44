#include "pipeline/experiment.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "data/corpus.hpp"
#include "pipeline/resources.hpp"
#include "pipeline/toml_section.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

// A TOML file's root table; a syntax error names the file and line.
toml::table parse_toml_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    fail(path, "", std::string("malformed TOML at line ") + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
}

void apply_override(toml::table& root, const std::string& file, const std::string& o) {
  const size_t eq = o.find('=');
  if (eq == std::string::npos || eq == 0) fail(file, "--set " + o, "is not KEY=VALUE", "e.g. harvest.tokens=20000");
  const std::string key = o.substr(0, eq), value = o.substr(eq + 1);
  std::vector<std::string> parts;
  for (size_t b = 0;;) {
    const size_t dot = key.find('.', b);
    parts.push_back(key.substr(b, dot == std::string::npos ? std::string::npos : dot - b));
    if (parts.back().empty()) fail(file, "--set " + o, "has an empty key part");
    if (dot == std::string::npos) break;
    b = dot + 1;
  }
  toml::table* t = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!t->contains(parts[i])) t->insert(parts[i], toml::table{});
    t = (*t)[parts[i]].as_table();
    if (!t) fail(file, "--set " + o, "goes through '" + parts[i] + "', which is not a table");
  }
  // The value in TOML syntax (numbers, booleans, arrays, quoted strings); anything else is a string.
  try {
    toml::table v = toml::parse("v = " + value);
    t->insert_or_assign(parts.back(), *v.get("v"));
  } catch (const toml::parse_error&) {
    t->insert_or_assign(parts.back(), value);
  }
}

std::vector<CorpusSpec> corpora(const TomlSection& s, const std::string& key, const std::vector<std::string>& def) {
  std::vector<CorpusSpec> out;
  for (const std::string& spec : s.strings(key, def)) {
    CorpusSpec c = parse_corpus_spec(spec);
    c.path = s.resolve(c.path);
    out.push_back(c);
  }
  if (out.empty()) fail(s.file(), s.where(key), "is empty: give at least one corpus");
  return out;
}

ComputeMode mode_of(const TomlSection& s, const std::string& key) {
  return compute_mode_from_name(s.choice(key, "bf16", kComputeModeNames));
}

NamedCrosscoder crosscoder_from(const TomlSection& s, const std::string& name) {
  NamedCrosscoder n;
  n.name = name;
  CrosscoderConfig& c = n.cfg;
  c.architecture = arch_from_name(s.choice("arch", arch_name(c.architecture), {"l1", "batchtopk"}), s.file());
  c.dict_size = s.integer("dict_size", c.dict_size);
  c.l1_coeff = s.number("l1_coeff", c.l1_coeff);
  c.k = s.integer("k", c.k);
  c.aux_coeff = s.number("aux_coeff", c.aux_coeff);
  c.lr = s.number("lr", c.lr);
  c.batch_size = s.integer("batch_size", c.batch_size);
  c.num_tokens = s.integer("tokens", c.num_tokens);
  c.seed = uint64_t(s.integer("seed", int64_t(c.seed)));
  c.dec_init_norm = s.number("dec_init_norm", c.dec_init_norm);
  c.dead_tokens = s.integer("dead_tokens", c.dead_tokens);
  c.threshold_start_step = s.integer("threshold_start", c.threshold_start_step);
  n.train.save_every = s.integer("save_every", n.train.save_every);
  n.train.log_every = s.integer("log_every", n.train.log_every);
  n.train.buffer_rows = s.integer("buffer_rows", n.train.buffer_rows);
  s.finish();
  return n;
}

// Settings of [run] that several sections take.
struct Shared {
  ComputeMode mode = ComputeMode::BF16;
  std::string lexicon;
};

// [run]: output folder, threads, compute mode and the lexicon every stage that reads one shares.
void read_run(const TomlSection& top, const std::string& path, const std::string& out_override, Experiment& e, Shared& sh) {
  const TomlSection run = top.sub("run");
  e.out = out_override.empty() ? run.str("out", "runs/" + fs::path(path).stem().string()) : out_override;
  (void)run.str("out", "");
  e.out = fs::absolute(e.out).lexically_normal().string();
  e.threads = int(run.integer("threads", 0));
  e.device = parse_device(run.choice("device", "cpu", {"cpu", "cuda"}), run.where("device"));
  sh.mode = mode_of(run, "dtype");
  sh.lexicon = run.path("lexicon", default_lexicon());
  run.finish();
}

// [models] and [harvest]: the pair, the hook, the corpora and the store.
void read_models_and_harvest(const TomlSection& top, const std::string& path, Experiment& e, const Shared& sh) {
  const TomlSection models = top.sub("models");
  if (!models.present()) fail(path, "models", "is missing", "[models] with base = ... and distilled = ...");
  HarvestConfig& h = e.harvest;
  h.base_dir = models.path("base", "");
  h.distilled_dir = models.path("distilled", "");
  if (h.base_dir.empty() || h.distilled_dir.empty()) fail(path, "models.base / models.distilled", "are required");
  h.tokenizer = models.path("tokenizer", "");
  h.hook = models.str("hook", "");
  models.finish();

  const TomlSection hv = top.sub("harvest");
  h.corpora = corpora(hv, "corpora", {});
  e.store.tokens = hv.integer("tokens", 0);
  if (e.store.tokens <= 0) fail(path, "harvest.tokens", "must be a positive token count");
  h.pack.seq_len = hv.integer("seq_len", h.pack.seq_len);
  h.batch_seqs = int(hv.integer("batch_seqs", h.batch_seqs));
  h.pack.seed = uint64_t(hv.integer("seed", int64_t(h.pack.seed)));
  h.pack.eval_fraction = hv.number("eval_fraction", h.pack.eval_fraction);
  h.pack.held_out_list = hv.path("held_out", "");
  h.pack.start_id = int32_t(hv.integer("start_token", h.pack.start_id));
  h.pack.sep_id = int32_t(hv.integer("sep_token", h.pack.sep_id));
  e.store.shard_rows = hv.integer("shard_tokens", e.store.shard_rows);
  e.store.norm_rows = hv.integer("norm_tokens", e.store.norm_rows);
  e.store.dtype = hv.choice("store_dtype", "bf16", {"bf16", "f32"}) == "f32" ? DType::F32 : DType::BF16;
  h.mode = sh.mode;
  hv.finish();
  e.store.out = e.out + "/store";
}

// [crosscoder.NAME] tables, in file order.
void read_crosscoders(const TomlSection& top, const std::string& path, Experiment& e) {
  const TomlSection xc = top.sub("crosscoder");
  for (const std::string& name : xc.keys()) {
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos)
      fail(path, "crosscoder." + name, "is not a usable name", "lower-case letters, digits, - and _");
    const TomlSection s = xc.sub(name);
    if (!s.present()) fail(path, "crosscoder." + name, "is not a table");
    NamedCrosscoder n = crosscoder_from(s, name);
    n.train.acts = e.store.out;
    n.train.out = e.out + "/crosscoder-" + name;
    n.train.device = e.device;
    e.crosscoders.push_back(std::move(n));
  }
  if (e.crosscoders.empty()) fail(path, "crosscoder", "defines no crosscoder", "a [crosscoder.NAME] table, e.g. [crosscoder.l1]");
}

// [analysis]: which crosscoder, and the analysis settings.
void read_analysis(const TomlSection& top, const std::string& path, Experiment& e, const Shared& sh) {
  const HarvestConfig& h = e.harvest;
  const TomlSection an = top.sub("analysis");
  e.analysis_of = an.str("crosscoder", e.crosscoders.front().name);
  const NamedCrosscoder* chosen = nullptr;
  for (const auto& n : e.crosscoders)
    if (n.name == e.analysis_of) chosen = &n;
  if (!chosen) fail(path, "analysis.crosscoder", "names no [crosscoder.NAME] table", "", e.analysis_of);
  AnalyzeOptions& a = e.analyze;
  a.crosscoder = chosen->train.out;
  a.acts = e.store.out;
  a.out = e.out + "/analysis";
  a.lexicon = sh.lexicon;
  a.max_tokens = an.integer("tokens", a.max_tokens);
  a.top_n = int(an.integer("top", a.top_n));
  a.samples = int(an.integer("samples", a.samples));
  a.context = int(an.integer("context", a.context));
  a.base_only_below = an.number("base_only_below", a.base_only_below);
  a.distilled_only_above = an.number("distilled_only_above", a.distilled_only_above);
  a.changed_below = an.number("changed_below", a.changed_below);
  a.changed_min_ratio = an.number("changed_min_ratio", a.changed_min_ratio);
  a.category_majority = an.number("majority", a.category_majority);
  a.logit_tokens = int(an.integer("logit_tokens", a.logit_tokens));
  if (an.flag("logit_lens", true)) {
    a.base_model = h.base_dir;
    a.distilled_model = h.distilled_dir;
  }
  an.finish();
}

// What [spliced_loss] and [ablation] share (held_out_pair.hpp): the pair and compute mode, the
// corpora (default: the harvest's) and the harvest's split, the seed and rows per forward call.
template <class Opt>
void read_pair_settings(const TomlSection& sec, const HarvestConfig& h, const Shared& sh, Opt& o) {
  o.base = h.base_dir;
  o.distilled = h.distilled_dir;
  o.tokenizer = h.tokenizer;
  o.mode = sh.mode;
  o.corpora = sec.has("corpora") ? corpora(sec, "corpora", {}) : h.corpora;
  o.eval_fraction = h.pack.eval_fraction;
  o.held_out_list = h.pack.held_out_list;
  o.seed = uint64_t(sec.integer("seed", int64_t(o.seed)));
  o.batch_tokens = sec.integer("batch_tokens", o.batch_tokens);
}

// [spliced_loss]: the held-out sequences every crosscoder is spliced into.
void read_spliced_loss(const TomlSection& top, Experiment& e, const Shared& sh) {
  const HarvestConfig& h = e.harvest;
  const TomlSection sl = top.sub("spliced_loss");
  e.spliced_loss_on = sl.flag("enabled", true);
  SplicedLossOptions& o = e.spliced_loss;
  // Default: the harvest's corpora and sequence length, so the loss is measured on text like the
  // crosscoder's training rows but from documents the harvest held out.
  read_pair_settings(sl, h, sh, o);
  o.sequences = sl.integer("sequences", o.sequences);
  o.seq_len = sl.integer("seq_len", h.pack.seq_len);
  o.bootstrap = int(sl.integer("bootstrap", o.bootstrap));
  sl.finish();
}

// [ablation]: positions, conditions, k.
void read_ablation(const TomlSection& top, Experiment& e, const Shared& sh) {
  const HarvestConfig& h = e.harvest;
  const AnalyzeOptions& a = e.analyze;
  const TomlSection ab = top.sub("ablation");
  e.ablate_on = ab.flag("enabled", true);
  AblateOptions& b = e.ablate;
  b.crosscoder = a.crosscoder;
  b.analysis = a.out;
  b.lexicon = sh.lexicon;
  b.out = e.out + "/ablation";
  // Default: the harvest's corpora (positions are searched where a target token comes next).
  read_pair_settings(ab, h, sh, b);
  b.categories = ab.strings("categories", {});
  b.ks = ab.numbers("k", b.ks);
  b.sequences = ab.integer("sequences", b.sequences);
  b.seq_len = ab.integer("seq_len", b.seq_len);
  b.positions = int(ab.integer("positions", b.positions));
  b.rank_positions = int(ab.integer("rank_positions", b.rank_positions));
  b.nrn_above = ab.number("nrn_above", b.nrn_above);
  b.categories_from = parse_category_source(ab.choice("categories_from", "none", {"none", "lexicon", "enrichment", "labels"}),
                                            ab.where("categories_from"));
  b.labels = ab.path("labels", "");
  if (e.ablate_on && b.categories_from == CategorySource::Labels && b.labels.empty())
    fail(ab.file(), ab.where("labels"), "is required with categories_from = \"labels\" (a `crosscoder label` labels.jsonl)");
  ab.finish();
}

// [steering]: the sweep, its prompts and the features tried.
void read_steering(const TomlSection& top, const std::string& path, Experiment& e, const Shared& sh) {
  const HarvestConfig& h = e.harvest;
  const AnalyzeOptions& a = e.analyze;
  const TomlSection st = top.sub("steering");
  e.steer_on = st.flag("enabled", true);
  SteerSweepOptions& s = e.steer;
  s.crosscoder = a.crosscoder;
  s.analysis = a.out;
  s.lexicon = sh.lexicon;
  s.tokenizer = h.tokenizer;
  s.out = e.out + "/steer";
  s.mode = sh.mode;
  const std::string which = st.choice("model", "distilled", {"distilled", "base"});
  s.model = which == "base" ? h.base_dir : h.distilled_dir;
  s.slice = st.choice("slice", which == "base" ? "A" : "B", {"A", "B"}) == "A" ? 0 : 1;
  e.steer_features = st.strings("feature", {"self-reflection"});
  if (e.steer_features.empty()) fail(path, "steering.feature", "is empty");
  s.alphas = st.numbers("alphas", {-8, 0, 8});
  s.prompts = st.path("prompts", "");
  s.problems_file = s.prompts.empty() ? st.path("problems_file", default_steer_problems()) : st.path("problems_file", "");
  s.problems = int(st.integer("problems", s.problems));
  s.samples = int(st.integer("samples", s.samples));
  s.greedy = st.flag("greedy", true);
  s.temperature = float(st.number("temperature", s.temperature));
  s.top_p = float(st.number("top_p", s.top_p));
  s.max_new_tokens = st.integer("max_new_tokens", s.max_new_tokens);
  s.chat = st.str("chat", s.chat);
  s.generated_only = st.flag("generated_only", false);
  st.finish();
}

// [geometry]: word-pair tasks, PCA and the bootstrap.
void read_geometry(const TomlSection& top, const std::string& path, Experiment& e, const Shared& sh) {
  const HarvestConfig& h = e.harvest;
  const TomlSection ge = top.sub("geometry");
  e.geometry_on = ge.flag("enabled", true);
  GeometryOptions& g = e.geometry;
  g.base = h.base_dir;
  g.distilled = h.distilled_dir;
  g.tokenizer = h.tokenizer;
  g.out = e.out + "/geometry";
  g.mode = sh.mode;
  g.datasets = ge.path("datasets", "");
  if (e.geometry_on && g.datasets.empty()) fail(path, "geometry.datasets", "is required (a folder of word-pair files), or set enabled = false");
  g.layer = ge.str("hook", h.hook);
  g.tasks = ge.strings("tasks", {});
  g.pca = ge.integer("pca", g.pca);
  g.word_template = ge.str("template", g.word_template);
  g.start = ge.str("start", g.start);
  g.bootstrap = int(ge.integer("bootstrap", g.bootstrap));
  g.seed = uint64_t(ge.integer("seed", int64_t(g.seed)));
  g.batch_tokens = ge.integer("batch_tokens", g.batch_tokens);
  ge.finish();
}

// [enrichment]: sentence-tag enrichment of the analysed crosscoder (off unless enabled).
void read_enrichment(const TomlSection& top, Experiment& e, const Shared& sh) {
  const TomlSection en = top.sub("enrichment");
  e.enrich_on = en.flag("enabled", false);
  EnrichRunOptions& r = e.enrich;
  r.crosscoder = e.analyze.crosscoder;
  r.analysis = e.analyze.out;
  r.models.base = e.harvest.base_dir;
  r.models.distilled = e.harvest.distilled_dir;
  r.models.mode = sh.mode;
  r.tokenizer = e.harvest.tokenizer;
  r.out = e.out + "/enrichment";
  r.sentences = en.path("sentences", resource_path("data/reasoning_traces/thought_anchors_sentence_labels.jsonl"));
  r.stats.permutations = en.integer("permutations", r.stats.permutations);
  r.stats.min_sentences = en.integer("min_sentences", r.stats.min_sentences);
  r.stats.seed = uint64_t(en.integer("seed", int64_t(r.stats.seed)));
  r.fdr = en.number("fdr", r.fdr);
  r.min_ratio = en.number("min_ratio", r.min_ratio);
  r.seq_len = en.integer("seq_len", r.seq_len);
  r.max_traces = en.integer("max_traces", r.max_traces);
  en.finish();
}

// The settings of a [calibration] table (calibration/calibration.hpp).
void read_calibration_table(const TomlSection& cal, Experiment& e, const Shared& sh) {
  CalibrationOptions& c = e.calibration;
  c.out = e.out + "/calibration";
  c.mode = sh.mode;
  c.base = cal.path("model", "");
  if (c.base.empty()) fail(cal.file(), cal.where("model"), "is required: the model to plant into (e.g. \"../organism/base\")");
  c.hook = cal.str("hook", c.hook);
  c.triggers = cal.strings("triggers", c.triggers);
  c.target = cal.str("target", c.target);
  c.strength_in = cal.number("strength_in", c.strength_in);
  c.strength_out = cal.number("strength_out", c.strength_out);
  c.plant_seed = uint64_t(cal.integer("plant_seed", int64_t(c.plant_seed)));
  c.concept_triggers = cal.strings("concept_triggers", c.concept_triggers);
  c.concept_seed = uint64_t(cal.integer("concept_seed", int64_t(c.concept_seed)));
  c.finetuned = cal.path("finetuned", "");
  c.reference = cal.path("reference", "");
  c.corpora = corpora(cal, "corpora", {});
  c.tokens = cal.integer("tokens", c.tokens);
  c.seq_len = cal.integer("seq_len", c.seq_len);
  c.batch_seqs = int(cal.integer("batch_seqs", c.batch_seqs));
  c.seed = uint64_t(cal.integer("seed", int64_t(c.seed)));
  c.eval_fraction = cal.number("eval_fraction", c.eval_fraction);
  c.held_out_list = cal.path("held_out", "");
  if (cal.has("probe_corpora")) c.probe_corpora = corpora(cal, "probe_corpora", {});
  c.sequences = cal.integer("sequences", c.sequences);
  c.alphas = cal.numbers("alphas", c.alphas);
  c.identical_null = cal.flag("identical_null", c.identical_null);
  c.analysis.changed_below = cal.number("changed_below", c.analysis.changed_below);
  c.analysis.changed_min_ratio = cal.number("changed_min_ratio", c.analysis.changed_min_ratio);
  c.analysis.lexicon = sh.lexicon;
  CalibrationThresholds& t = c.thresholds;
  t.min_cos = cal.number("min_cos", t.min_cos);
  t.max_rank = cal.integer("max_rank", t.max_rank);
  t.max_base_effect = cal.number("max_base_effect", t.max_base_effect);
  t.max_nu = cal.number("max_nu", t.max_nu);
  t.null_max_share = cal.number("null_max_share", t.null_max_share);
  t.equivalence_margin = cal.number("equivalence_margin", t.equivalence_margin);
  const TomlSection xc = cal.sub("crosscoder");
  for (const std::string& name : xc.keys()) {
    const NamedCrosscoder n = crosscoder_from(xc.sub(name), name);
    c.crosscoders.push_back({name, n.cfg, n.train.buffer_rows});
  }
  if (c.crosscoders.empty()) fail(cal.file(), cal.where("crosscoder"), "defines no crosscoder", "a [calibration.crosscoder.NAME] table");
  cal.finish();
}

// dst ← src, key by key; tables merge recursively.
void merge_tables(toml::table& dst, const toml::table& src) {
  for (const auto& [k, v] : src) {
    if (v.is_table() && dst.contains(k) && dst[k].is_table()) merge_tables(*dst[k].as_table(), *v.as_table());
    else dst.insert_or_assign(k, v);
  }
}

// [calibration]: the planted and identical pairs, either here or in the file it names (`file =
// "calibration.toml"`, whose [calibration] table is read), so the demo and configs/calibration.toml
// share one definition. Other keys beside `file` override that file's (`--set
// calibration.tokens=20000`); relative paths then resolve against the named file's folder.
void read_calibration(const TomlSection& top, const toml::table& root, Experiment& e, const Shared& sh) {
  const TomlSection cal = top.sub("calibration");
  e.calibration_on = cal.present() && cal.flag("enabled", true);
  if (!e.calibration_on) return;
  if (!cal.has("file")) return read_calibration_table(cal, e, sh);
  const std::string file = cal.path("file", "");
  if (!fs::is_regular_file(file)) fail(top.file(), "calibration.file", "names no file", "a TOML file with a [calibration] table", file);
  toml::table other = parse_toml_file(file);
  if (!other["calibration"].is_table()) fail(file, "calibration", "is missing", "a [calibration] table");
  toml::table overrides = *root["calibration"].as_table();
  overrides.erase("file");
  overrides.erase("enabled");
  merge_tables(*other["calibration"].as_table(), overrides);
  const TomlSection inner = TomlSection(&other, file, "", fs::absolute(file).parent_path().string()).sub("calibration");
  read_calibration_table(inner, e, sh);
}

// [report]: file name and how much it inlines.
void read_report(const TomlSection& top, Experiment& e) {
  const AnalyzeOptions& a = e.analyze;
  const TomlSection re = top.sub("report");
  ReportOptions& r = e.report;
  r.run = e.out;
  r.out = e.out + "/" + re.str("file", "report.html");
  r.assets = re.path("assets", default_report_assets());
  r.top_examples = int(re.integer("top_examples", r.top_examples));
  r.sample_examples = int(re.integer("sample_examples", r.sample_examples));
  r.context = int(re.integer("context", r.context));
  r.transcript_chars = int(re.integer("transcript_chars", r.transcript_chars));
  r.analysis = a.out;
  re.finish();
}

}  // namespace

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides, const std::string& out_override) {
  if (!fs::is_regular_file(path)) fail(path, "", "does not exist or is not a file (an experiment TOML, e.g. configs/organism.toml)");
  toml::table root = parse_toml_file(path);
  for (const auto& o : overrides) apply_override(root, path, o);
  const std::string base = fs::absolute(path).parent_path().string();
  const TomlSection top(&root, path, "", base);

  Experiment e;
  e.file = path;
  Shared sh;
  read_run(top, path, out_override, e, sh);
  read_calibration(top, root, e, sh);
  if (e.calibration_on && !top.has("models")) {  // a calibration-only run (configs/calibration.toml)
    e.pair_on = false;
    top.finish();
    return e;
  }
  read_models_and_harvest(top, path, e, sh);
  read_crosscoders(top, path, e);
  read_analysis(top, path, e, sh);
  read_spliced_loss(top, e, sh);
  read_ablation(top, e, sh);
  read_steering(top, path, e, sh);
  read_geometry(top, path, e, sh);
  read_enrichment(top, e, sh);
  e.ablate.enrichment = e.enrich.out;  // categories_from = "enrichment" reads that stage's output
  if (e.ablate_on && e.ablate.categories_from == CategorySource::Enrichment && !e.enrich_on)
    fail(path, "ablation.categories_from", "is \"enrichment\" but the [enrichment] stage is off", "", "",
         "set enrichment.enabled = true");
  read_report(top, e);
  top.finish();
  return e;
}

}  // namespace cc

// crosscoder report: renders the embedded run data with Vega-Lite. Figures are built at load;
// feature dashboards only when a feature is opened, so 32k features stay responsive.
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('report-data').textContent);
  const R = (window.__report = { figures: {}, errors: [], done: false, dashboard: null });
  const t0 = performance.now();
  const app = document.getElementById('app');

  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of kids.flat()) if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function fmt(v, digits = 3) {
    if (v == null || v === '') return '';
    if (typeof v !== 'number') return String(v);
    if (!isFinite(v)) return String(v);
    if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(2);
    return String(+v.toFixed(digits));
  }
  function table(cols, rows, cls) {
    return h('table', { class: cls || 'data' }, h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((x) => h('td', {}, x instanceof Node ? x : fmt(x)))))));
  }
  const pending = [];
  function figure(name, title, spec, rows, caption) {
    const el = h('div', { class: 'figure', 'data-figure': name });
    spec.$schema = 'https://vega.github.io/schema/vega-lite/v6.json';
    pending.push(
      vegaEmbed(el, spec, { actions: false, renderer: 'svg' })
        .then(() => { el.dataset.rendered = String(rows); R.figures[name] = rows; })
        .catch((e) => { R.errors.push(name + ': ' + e); console.error('figure ' + name, e); }));
    return h('div', { class: 'fig' }, h('h3', {}, title), el, caption ? h('p', { class: 'caption' }, caption) : null);
  }
  function ci(v, d) { return Array.isArray(v) && v[0] != null && v[1] != null ? ' [' + fmt(v[0], d) + ', ' + fmt(v[1], d) + ']' : ''; }
  function section(id, title, ...kids) {
    return h('section', { id }, h('h2', {}, title), ...kids);
  }
  const missing = (what) => h('p', { class: 'missing' }, 'Not in this run: ' + what + '.');

  // Features as objects (the table's rows are arrays in D.features.cols order).
  const cols = D.features ? D.features.cols : [];
  const feats = D.features ? D.features.rows.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]]))) : [];
  const summary = D.analysis ? D.analysis.summary : {};
  const thresholds = summary.thresholds || { base_only_below: 0.3, distilled_only_above: 0.7 };

  // ---------- header and summary ----------
  const nav = ['calibration', 'summary', 'training', 'nrn', 'ablation', 'steering', 'geometry', 'enrichment', 'features'];
  app.append(h('header', {}, h('h1', {}, 'crosscoder report'),
    h('p', {}, 'Run: ', h('code', {}, D.run || '(explicit folders)')),
    h('nav', {}, nav.map((n) => h('a', { href: '#' + n }, n)))));

  // ---------- calibration (docs/CALIBRATION.md): the pipeline on pairs whose answer is known ----------
  const cal = section('calibration', 'Calibration');
  if (D.calibration && D.calibration.pairs) {
    const C = D.calibration, rows = [], sig = [], nulls = [];
    for (const [pair, per] of Object.entries(C.pairs))
      for (const [name, r] of Object.entries(per)) {
        for (const k of r.checks || []) rows.push([pair, name, k.check, k.figure, k.threshold, h('span', { class: k.pass ? 'pass' : 'fail' }, k.pass ? 'pass' : 'FAIL')]);
        if (r.change_mass_total != null) nulls.push([pair, name, r.alive, r.not_shared, fmt(100 * r.not_shared_share, 1) + '%',
          Object.entries(r.class_counts || {}).map(([k, v]) => k + ' ' + v).join(', '), fmt(r.change_mass_total, 4), fmt(r.change_mass_top20, 4)]);
        if (r.feature) sig.push([pair, name, r.feature.index, r.feature.class, r.feature.nrn, r.feature.cos_ab, r.feature.cos_delta_u, r.feature.change_rank,
          r.feature.ls_nu_eps, r.ablation && r.ablation.planted ? fmt(r.ablation.planted.mean) + ci(r.ablation.planted.ci95) : '',
          r.ablation && r.ablation.base ? fmt(r.ablation.base.mean) + ci(r.ablation.base.ci95) : '',
          r.signature ? (r.signature.one_feature_for_all ? 'one for all triggers' : 'per trigger: ' + r.signature.per_trigger.map((t) => t.feature).join(', ')) : '']);
      }
    const pl = C.plant || {}, m = (pl.measured || {});
    cal.append(h('p', {}, C.passed + ' of ' + C.checks + ' checks pass. Planted: ' + (pl.triggers || []).map((t) => JSON.stringify(t.text)).join(', ') +
        ' → ' + JSON.stringify((pl.target || {}).text) + ' (log p(target) after a trigger ' + fmt((m.log_p_target_before || {}).after_trigger) +
        ' → ' + fmt((m.log_p_target_after || {}).after_trigger) + ' in random contexts)' + (C.concept_plant ? '; concept: ' + C.concept_plant.triggers.map((t) => JSON.stringify(t.text)).join(', ') + ' → ' +
        JSON.stringify(C.concept_plant.target.text) : '') + '. Identical: the base model against itself.'),
      sig.length ? table(['pair', 'crosscoder', 'plant feature', 'class', 'NRN', 'cos(d_A, d_B)', 'cos(d_B − d_A, u)', 'change rank', 'ν_ε',
        'ablation Δ log p, planted', 'ablation Δ log p, base', 'signature'], sig) : null,
      table(['pair', 'crosscoder', 'check', 'figure', 'needs', ''], rows),
      nulls.length ? h('div', { class: 'fig' }, h('h3', {}, 'Null pair beside the real pair (same crosscoder settings)'), table(['pair', 'crosscoder', 'alive', 'not shared', 'share',
        'classes', 'change mass', 'top-20 change mass'], nulls), h('p', { class: 'caption' }, 'finetuned: the base model fine-tuned on plain text with the distillation\'s budget; ' +
        'reference: the base model and the distilled model. What the reference shows beyond the fine-tune is what reasoning distillation changed.')) : null);
  } else cal.append(missing('a calibration (configs/calibration.toml)'));
  app.append(cal);

  const facts = [];
  if (D.store) {
    const m = D.store.models || {};
    facts.push(['activation store', D.store.dir], ['tokens', D.store.tokens], ['hook', D.store.hook],
      ['d_model', D.store.d_model], ['corpora', (D.store.corpora || []).join(' ; ')],
      ['models', typeof m === 'object' ? JSON.stringify(m) : m], ['norm factors', (D.store.norm_factors || []).map((x) => fmt(x, 4)).join(', ')]);
  }
  if (D.analysis) {
    facts.push(['analysed tokens', summary.tokens], ['features', summary.features], ['dead features', summary.dead],
      ['classes', JSON.stringify(summary.class_counts || {})],
      ['explained variance A / B', (summary.explained_variance || []).map((x) => fmt(x, 4)).join(' / ')]);
  }
  const ccRows = (D.crosscoders || []).map((c) => [c.name, c.config.architecture, c.config.dict_size, c.config.d_in, c.config.hook,
    c.config.architecture === 'batchtopk' ? 'k ' + c.config.k : 'λ ' + c.config.l1_coeff, c.config.lr, c.config.batch_size, c.config.num_tokens]);
  // Held-out measurements with their 95% intervals (bootstrap over sequences).
  const evalRows = (D.crosscoders || []).filter((c) => c.eval || c.spliced_loss).map((c) => {
    const e = c.eval || {}, s = c.spliced_loss || {}, b = s.base || {}, x = s.distilled || {};
    const loss = (m) => m.ce_clean == null ? '' : fmt(m.ce_clean, 3) + ' → ' + fmt(m.ce_spliced, 3) + ' (' + (m.ce_increase >= 0 ? '+' : '') + fmt(m.ce_increase, 4) + ci(m.ce_increase_ci95, 4) + ')';
    const rec = (m) => m.loss_recovered == null ? '' : fmt(m.loss_recovered, 3) + ci(m.loss_recovered_ci95, 3);
    return [c.name, e.rows, (e.fvu || []).map((v) => fmt(v, 3)).join(' / '), e.l0 == null ? '' : fmt(e.l0, 1),
      e.inactive_frac == null ? '' : fmt(100 * e.inactive_frac, 1) + '%', s.positions, loss(b), loss(x), rec(b), rec(x),
      b.kl_spliced == null ? '' : fmt(b.kl_spliced, 4) + ' / ' + fmt(x.kl_spliced, 4)];
  });
  app.append(section('summary', 'Summary', table(['', ''], facts, 'facts'),
    ccRows.length ? table(['crosscoder', 'arch', 'F', 'd', 'hook', 'sparsity', 'lr', 'batch', 'tokens'], ccRows) : missing('crosscoder checkpoints'),
    evalRows.length ? h('div', {},
      h('p', {}, 'On held-out documents only. FVU_m = Σ‖x_m − x̂_m‖² / Σ‖x_m − mean x_m‖². Spliced: the model\'s stream at the hook ' +
        'replaced by the reconstruction; cross-entropy in nats, clean → spliced (increase [95% CI over sequences]); ' +
        'loss recovered = (CE_zero − CE_spliced) / (CE_zero − CE_clean), zero = the stream at the hook set to 0; KL(p_clean ‖ p_spliced).'),
      table(['crosscoder', 'eval rows', 'FVU A / B', 'L0', 'never active', 'spliced positions', 'CE A', 'CE B', 'loss recovered A',
        'loss recovered B', 'KL A / B'], evalRows)) : missing('held-out measurements')));

  // ---------- training curves ----------
  const training = section('training', 'Training');
  for (const c of D.crosscoders || []) {
    const long = [];
    for (const p of c.log)
      for (const [k, panel] of [['loss', 'loss'], ['l0', 'L0'], ['ev_a', 'explained variance'], ['ev_b', 'explained variance'], ['dead_frac', 'dead fraction']])
        if (p[k] != null) long.push({ step: p.step, panel, series: k === 'ev_a' ? 'A (base)' : k === 'ev_b' ? 'B (distilled)' : k, value: p[k] });
    if (!long.length) { training.append(h('p', {}, c.name + ': no training log.')); continue; }
    training.append(figure('training-' + c.name, 'Training curves: ' + c.name, {
      data: { values: long },
      facet: { field: 'panel', type: 'nominal', title: null }, columns: 2,
      spec: { width: 320, height: 150, mark: { type: 'line', point: false }, encoding: {
        x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'series', type: 'nominal' } } },
      resolve: { scale: { y: 'independent' } },
    }, long.length));
  }
  if (!(D.crosscoders || []).length) training.append(missing('training logs'));
  app.append(training);

  // ---------- NRN and cosine histograms ----------
  const nrnSec = section('nrn', 'Relative decoder norms');
  if (feats.length) {
    const alive = feats.filter((f) => !f.dead && f.nrn != null).map((f) => ({ nrn: f.nrn, cls: f.class }));
    nrnSec.append(figure('nrn-histogram', 'NRN of alive features (log count)', {
      data: { values: alive }, width: 640, height: 220,
      layer: [
        { mark: 'bar', encoding: {
          x: { field: 'nrn', type: 'quantitative', bin: { maxbins: 50, extent: [0, 1] }, title: 'NRN = |d_B| / (|d_A| + |d_B|)' },
          y: { aggregate: 'count', type: 'quantitative', scale: { type: 'symlog' }, title: 'features' },
          color: { field: 'cls', type: 'nominal', title: 'class', scale: { domain: ['base-only', 'shared', 'distilled-only', 'changed'] } } } },
        { data: { values: [{ t: thresholds.base_only_below }, { t: thresholds.distilled_only_above }] },
          mark: { type: 'rule', strokeDash: [4, 3], color: '#444' }, encoding: { x: { field: 't', type: 'quantitative' } } },
      ],
    }, alive.length, 'Dashed lines: the class thresholds. Base-only left, distilled-only right.'));
    // Both decoders carry weight in shared and changed features ("changed": cos below the analysis's
    // changed_below), so the cosine says whether the feature turned.
    const shared = feats.filter((f) => !f.dead && (f.class === 'shared' || f.class === 'changed') && f.cos_ab != null)
      .map((f) => ({ cos: f.cos_ab, cls: f.class }));
    nrnSec.append(shared.length ? figure('cosine-histogram', 'Cosine between the two decoder directions of shared and changed features', {
      data: { values: shared }, width: 640, height: 200, mark: 'bar', encoding: {
        x: { field: 'cos', type: 'quantitative', bin: { maxbins: 40, extent: [-1, 1] }, title: 'cos(d_A, d_B)' },
        y: { aggregate: 'count', type: 'quantitative', title: 'features' },
        color: { field: 'cls', type: 'nominal', title: 'class', scale: { domain: ['shared', 'changed'] } } },
    }, shared.length) : missing('shared or changed features'));
    const lc = summary.largest_changes || [];
    nrnSec.append(h('h3', {}, 'Largest changes'), lc.length ? h('div', {},
      h('p', { class: 'caption' }, 'Features ranked by change mass = frequency × mean activation × ‖d_B − d_A‖: how much each adds to ' +
        'x̂_B − x̂_A per token. A turned decoder (class changed) or a one-sided one both count; NRN alone misses turns (docs/CALIBRATION.md).'),
      table(['rank', 'feature', 'class', 'change mass', '‖d_B − d_A‖', 'cos(d_A, d_B)', 'NRN', 'frequency', 'fires on'],
        lc.map((r) => [r.rank, r.feature, r.class, r.change_mass, r.delta_norm, r.cos_ab, r.nrn, r.freq, r.top_tokens]))) : missing('the change ranking'));
  } else nrnSec.append(missing('an analysis'));
  app.append(nrnSec);

  // ---------- ablation ----------
  const abl = section('ablation', 'Ablation');
  if (D.ablation && D.ablation.results.length) {
    // Δ log p with 95% bootstrap intervals over sequences (ablations written before matched controls:
    // Δ logit ± one standard error).
    const lp = D.ablation.results.length && D.ablation.results[0].ci95_logp !== undefined;
    const vals = D.ablation.results.map((r) => lp
      ? ({ category: r.category, k: r.k, model: r.model, condition: r.condition, mean: r.mean_delta_logp,
          lo: r.ci95_logp[0], hi: r.ci95_logp[1], n: r.n_positions, features: r.n_features })
      : ({ category: r.category, k: r.k, model: r.model, condition: r.condition,
          mean: r.mean_delta_logit, lo: r.mean_delta_logit - r.se, hi: r.mean_delta_logit + r.se, n: r.n_positions, features: r.n_features }));
    abl.append(figure('ablation-curves', (lp ? 'Change in log p(target)' : 'Target-logit change') + ' when the top-k% NRN > ' + D.ablation.nrn_above + ' features are zero-ablated', {
      data: { values: vals },
      facet: { field: 'category', type: 'nominal', title: null }, columns: 3,
      spec: { width: 220, height: 170, layer: [
        { mark: { type: 'line', point: true }, encoding: {
          x: { field: 'k', type: 'quantitative', scale: { type: 'log' }, title: 'k (%)' },
          y: { field: 'mean', type: 'quantitative', title: lp ? 'Δ log p' : 'Δ logit' },
          color: { field: 'model', type: 'nominal' },
          strokeDash: { field: 'condition', type: 'nominal', scale: { domain: ['top', 'random', 'shared', 'other'], range: [[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]] } },
          tooltip: [{ field: 'condition' }, { field: 'model' }, { field: 'k' }, { field: 'mean', format: '.3f' }, { field: 'n' }, { field: 'features' }] } },
        { mark: 'errorbar', encoding: {
          x: { field: 'k', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' },
          color: { field: 'model', type: 'nominal' }, detail: { field: 'condition' } } },
      ] },
    }, vals.length, lp
      ? 'Mean and 95% bootstrap interval over sequences of held-out documents. Solid: the top features' + (D.ablation.categories_from && D.ablation.categories_from !== 'none' ? ' (from the NRN > ' + D.ablation.nrn_above + ' features that ' + D.ablation.categories_from + ' puts in the category)' : '') + '; dashed: random active features and dotted: shared-band features' + (D.ablation.categories_from && D.ablation.categories_from !== 'none' ? ', dash-dot: NRN > ' + D.ablation.nrn_above + ' features of other or no category' : '') + ', each control chosen to remove as much activity as the top set (Σ f·‖d‖ within 10%) and disjoint from it.'
      : 'Mean ± standard error over each category\'s evaluation positions. Solid: the top features; dashed: as many random NRN > 0.5 features; dotted: as many of the most frequent shared features (controls).'));
    if (D.ablation.headline && D.ablation.headline.length) {
      const iv = (s) => s.mean.toFixed(2) + ' [' + (s.ci95[0] == null ? '?' : s.ci95[0].toFixed(2)) + ', ' + (s.ci95[1] == null ? '?' : s.ci95[1].toFixed(2)) + ']';
      abl.append(h('p', {}, 'Top set minus matched control, Δ log p(target), per model and distilled minus base (95% bootstrap over sequences; "significant": the interval excludes 0).'));
      abl.append(table(['category', 'k', 'control', 'base', 'distilled', 'distilled − base', ''],
        D.ablation.headline.map((x) => [x.category, x.k, x.control + (x.controls_matched ? '' : ' (not matched)'), iv(x.base), iv(x.distilled),
          iv(x.distilled_minus_base), x.distilled_minus_base.significant ? 'significant' : 'not significant'])));
    }
    const cats = D.ablation.categories || {};
    abl.append(table(['category', 'targets', 'positions found', 'evaluated', 'ranking positions', 'pool (category source: ' + (D.ablation.categories_from || 'none') + ')'],
      Object.entries(cats).map(([k, c]) => [k, (c.targets || []).map((t) => JSON.stringify(t)).join(' '), c.candidates, c.evaluated,
        c.ranking_on_evaluation_positions ? 'evaluation positions' : c.ranking_positions, c.pool_size === undefined ? D.ablation.pool_size : c.pool_size])));
  } else abl.append(missing('an ablation experiment'));
  app.append(abl);

  // ---------- steering ----------
  const st = section('steering', 'Steering');
  if (D.steer && D.steer.table.length) {
    const S = D.steer;
    st.append(h('p', {}, `Feature ${S.feature} (${S.feature_choice || ''}), decoder slice ${S.slice}, hook ${S.hook}, ` +
      `${S.n_prompts} prompts, template ${S.chat}; generation ${fmt(S.generation_tokens_per_s, 1)} tokens/s.`));
    const cats = Object.keys((S.table[0] || {}).counts || {});
    st.append(table(['α', 'decoding', 'runs', 'tokens', 'closes </think>', 'think tokens', 'accuracy', ...cats],
      S.table.map((r) => [r.alpha, r.decoding, r.runs,
        fmt(r.tokens.mean, 1) + (r.tokens.ci95 ? ` [${fmt(r.tokens.ci95[0], 1)}, ${fmt(r.tokens.ci95[1], 1)}]` : ''),
        fmt(r.think_closed.mean, 2), r.think_tokens.n ? fmt(r.think_tokens.mean, 1) : '',
        r.accuracy.n ? fmt(r.accuracy.mean, 2) : '', ...cats.map((c) => fmt(r.counts[c].mean, 2))])));
    const long = [];
    for (const r of S.table) {
      long.push({ alpha: r.alpha, decoding: r.decoding, metric: 'tokens', mean: r.tokens.mean, lo: r.tokens.ci95 ? r.tokens.ci95[0] : r.tokens.mean, hi: r.tokens.ci95 ? r.tokens.ci95[1] : r.tokens.mean });
      for (const c of cats) {
        const s = r.counts[c];
        long.push({ alpha: r.alpha, decoding: r.decoding, metric: c + ' words', mean: s.mean, lo: s.ci95 ? s.ci95[0] : s.mean, hi: s.ci95 ? s.ci95[1] : s.mean });
      }
    }
    st.append(figure('steering-plot', 'Response length and reasoning words against α', {
      data: { values: long }, facet: { field: 'metric', type: 'nominal', title: null }, columns: 3,
      spec: { width: 200, height: 150, layer: [
        { mark: { type: 'line', point: true }, encoding: { x: { field: 'alpha', type: 'quantitative', title: 'α' },
          y: { field: 'mean', type: 'quantitative', title: null }, color: { field: 'decoding', type: 'nominal' } } },
        { mark: 'errorbar', encoding: { x: { field: 'alpha', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' },
          color: { field: 'decoding', type: 'nominal' } } } ] },
      resolve: { scale: { y: 'independent' } },
    }, long.length, 'Means with 95% intervals (mean ± 1.96 SE) over prompts and seeds.'));
    if ((S.contrasts || []).length)
      st.append(h('p', {}, 'Each α against α = 0 on the same prompt and decoding: mean paired difference, 95% bootstrap interval ' +
        'over prompts, sign and Wilcoxon p over prompts; significant = the interval excludes 0 and both p < 0.05.'),
        table(['α', 'metric', 'runs', 'prompts', 'difference [95% CI]', 'sign p', 'Wilcoxon p', ''],
          S.contrasts.map((c) => [c.alpha, c.metric, c.runs, c.prompts,
            fmt(c.mean_diff, 2) + (c.ci95 && c.ci95[0] != null ? ` [${fmt(c.ci95[0], 2)}, ${fmt(c.ci95[1], 2)}]` : ''),
            fmt(c.sign_test_p, 3), fmt(c.wilcoxon_p, 3), c.significant ? 'significant' : 'not significant'])));
    const tr = h('div', { class: 'transcripts' });
    for (const t of S.transcripts || []) {
      const d = h('details', {}, h('summary', {}, `α ${t.alpha} · prompt ${t.prompt} · ${t.decoding}${t.seed ? ' seed ' + t.seed : ''} · ` +
        `${t.tokens} tokens${t.think_tokens != null ? ', </think> at ' + t.think_tokens : ''} · answer ${t.answer == null ? '—' : t.answer}` +
        (t.correct == null ? '' : t.correct ? ' ✓' : ' ✗')));
      d.addEventListener('toggle', () => {
        if (d.open && d.children.length === 1) d.append(h('p', { class: 'q' }, t.question), h('pre', {}, t.text));
      });
      tr.append(d);
    }
    st.append(h('h3', {}, `Transcripts (${(S.transcripts || []).length})`), tr);
  } else st.append(missing('a steering sweep'));
  app.append(st);

  // ---------- geometry ----------
  const geo = section('geometry', 'Geometry: parallelogram loss');
  if (D.geometry && D.geometry.tasks.length) {
    const vals = [];
    for (const t of D.geometry.tasks)
      for (const m of t.models || [])
        vals.push({ task: t.task, model: m.model, loss: m.loss, lo: m.ci95[0] == null ? m.loss : m.ci95[0], hi: m.ci95[1] == null ? m.loss : m.ci95[1], shuffled: m.loss_shuffled });
    geo.append(figure('geometry-loss', 'Parallelogram loss per task (after per-task PCA to ' + D.geometry.pca + ' dimensions)', {
      data: { values: vals }, width: 420,
      layer: [
        { mark: 'point', encoding: { y: { field: 'task', type: 'nominal', title: null }, x: { field: 'loss', type: 'quantitative', title: 'loss (0 = perfect parallelograms; ≈ 4 without structure)' },
          color: { field: 'model', type: 'nominal' }, yOffset: { field: 'model' }, tooltip: [{ field: 'task' }, { field: 'model' }, { field: 'loss', format: '.3f' }, { field: 'shuffled', format: '.3f' }] } },
        { mark: 'rule', encoding: { y: { field: 'task', type: 'nominal' }, x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' },
          color: { field: 'model', type: 'nominal' }, yOffset: { field: 'model' } } },
      ],
    }, vals.length, 'Bootstrap 95% intervals over word pairs.'));
    geo.append(table(['base', 'distilled', 'tasks', 'distilled lower (PCA)', 'distilled lower (no PCA)', 'mean difference'],
      (D.geometry.summary || []).map((s) => [s.base, s.distilled, s.tasks, fmt(s.fraction_distilled_lower, 2), fmt(s.fraction_distilled_lower_no_pca, 2), s.mean_diff])));
  } else geo.append(missing('a geometry run'));
  app.append(geo);

  // ---------- sentence-tag enrichment ----------
  const en = section('enrichment', 'Sentence-tag enrichment');
  const E = D.enrichment;
  if (E) {
    en.append(h('p', { class: 'info' }, `${E.features_tested} features tested on ${E.sentences} tagged sentences of ${E.traces} R1-distill traces; ` +
      `a (feature, tag) is enriched when its share of the feature's activation is at least ${E.min_ratio}× the tag's token share and the ` +
      `within-trace permutation test survives Benjamini–Hochberg at ${E.fdr} (up to ${E.permutations} permutations).`));
    const nullTags = (E.null || {}).enriched_features_per_tag || {};
    en.append(table(['tag', 'token share', 'enriched features', 'enriched, tags shuffled (null)', 'category'], (E.tags || []).map((t) =>
      [t, fmt(E.token_base_rate[t], 3), (E.enriched_features_per_tag || {})[t] || 0, nullTags[t] || 0, E.tag_to_category[t] || '—'])));
    const ag = Object.entries(E.agreement || {});
    if (ag.length) en.append(h('h3', {}, 'Agreement between category methods'),
      table(['methods', 'features assessed by both', 'same answer', 'Cohen κ', 'both gave a category', 'same category'],
        ag.map(([k, a]) => [k.replace(/_/g, ' '), a.assessed, fmt(a.observed, 3), fmt(a.kappa, 3), a.both_labelled, fmt(a.labelled_match, 3)])));
  } else en.append(missing('a sentence-tag enrichment run'));
  app.append(en);

  // ---------- feature browser ----------
  const fs = section('features', 'Features');
  const dash = h('div', { id: 'dashboard', class: 'dashboard' });
  if (feats.length) {
    const shown = ['feature', 'nrn', 'class', 'change_rank', 'category', 'freq', 'mean_act', 'max_act', 'ls_nu_eps', 'ls_nu_r', 'top', 'label', 'label_category', 'label_score', 'enriched_category'];
    let sortKey = 'freq', sortDesc = true, page = 0, query = '', cls = '';
    const search = h('input', { type: 'search', placeholder: 'search: id, class, category, token, label', id: 'feature-search' });
    const clsSel = h('select', { id: 'class-filter' }, ['', 'base-only', 'shared', 'distilled-only', 'changed'].map((c) => h('option', { value: c }, c || 'all classes')));
    const info = h('span', { class: 'info' });
    const tbody = h('tbody');
    const head = h('tr', {}, shown.map((c) => h('th', { 'data-col': c, onclick: () => { sortDesc = sortKey === c ? !sortDesc : true; sortKey = c; page = 0; render(); } }, c)));
    const prev = h('button', { onclick: () => { page = Math.max(0, page - 1); render(); } }, '◀');
    const next = h('button', { onclick: () => { page += 1; render(); } }, '▶');
    const PAGE = 100;
    function rows() {
      const q = query.toLowerCase();
      let v = feats.filter((f) => (!cls || f.class === cls) &&
        (!q || String(f.feature) === q || (f.category || '').toLowerCase().includes(q) || (f.class || '').includes(q) ||
          (f.top || '').toLowerCase().includes(q) || (f.label || '').toLowerCase().includes(q)));
      const sgn = sortDesc ? -1 : 1;
      v.sort((a, b) => {
        const x = a[sortKey], y = b[sortKey];
        if (x == null && y == null) return a.feature - b.feature;
        if (x == null) return 1;
        if (y == null) return -1;
        return (x < y ? -1 : x > y ? 1 : a.feature - b.feature) * sgn;
      });
      return v;
    }
    function render() {
      const v = rows();
      const pages = Math.max(1, Math.ceil(v.length / PAGE));
      page = Math.min(page, pages - 1);
      tbody.replaceChildren(...v.slice(page * PAGE, page * PAGE + PAGE).map((f) =>
        h('tr', { 'data-feature': f.feature, class: f.dead ? 'dead' : null, onclick: () => openDashboard(f) },
          shown.map((c) => h('td', {}, c === 'nrn' && f.nrn != null ? fmt(f.nrn, 3) : fmt(f[c]))))));
      info.textContent = `${v.length} of ${feats.length} features · page ${page + 1} / ${pages} · sorted by ${sortKey} ${sortDesc ? '↓' : '↑'}`;
    }
    search.addEventListener('input', () => { query = search.value.trim(); page = 0; render(); });
    clsSel.addEventListener('change', () => { cls = clsSel.value; page = 0; render(); });
    fs.append(h('div', { class: 'controls' }, search, clsSel, prev, next, info),
      h('div', { class: 'split' }, h('div', { class: 'ftable' }, h('table', { class: 'data features', id: 'feature-table' }, h('thead', {}, head), tbody)), dash));
    render();
  } else fs.append(missing('an analysis'));
  app.append(fs);

  function contextView(ex) {
    const [kind, center, ids, acts, value] = ex;
    const mx = Math.max(1e-9, ...acts);
    return h('div', { class: 'ctx' + (kind ? ' sample' : '') }, h('span', { class: 'val' }, fmt(value, 2)),
      ids.map((id, i) => {
        const a = acts[i] / mx;
        return h('span', { class: 'tok' + (i === center ? ' center' : ''), title: fmt(acts[i], 3),
          style: a > 0 ? `background: rgba(255, 120, 0, ${(0.15 + 0.85 * a).toFixed(2)})` : null }, (D.strings[id] || '').replace(/\n/g, '↵'));
      }));
  }
  function openDashboard(f) {
    const det = (D.details || {})[f.feature] || {};
    const ex = (D.examples || {})[f.feature] || [];
    const kids = [h('h3', {}, `Feature ${f.feature}`, f.label ? ' — ' + f.label : ''),
      f.label ? h('p', { class: 'info' }, `LLM label category: ${f.label_category || 'none'}; detection balanced accuracy: ${f.label_score == null ? '—' : fmt(f.label_score, 2)}`) : null,
      table(['NRN', 'class', 'category', 'frequency', 'mean act', 'max act', 'cos(d_A, d_B)', '|d_A|', '|d_B|'],
        [[fmt(f.nrn, 3), f.class, f.category || '—', fmt(f.freq, 5), f.mean_act, f.max_act, f.cos_ab, f.norm_a, f.norm_b]]),
      h('h4', {}, 'Latent Scaling'),
      table(['β_ε (A, B)', 'β_r (A, B)', 'ν_ε', 'ν_r'],
        [[(det.ls_beta_eps || []).map((x) => fmt(x)).join(', '), (det.ls_beta_r || []).map((x) => fmt(x)).join(', '), f.ls_nu_eps, f.ls_nu_r]]),
      h('h4', {}, `Contexts (${ex.filter((e) => !e[0]).length} top, ${ex.filter((e) => e[0]).length} sampled)`),
      h('div', { class: 'contexts' }, ex.length ? ex.map(contextView) : h('p', {}, f.dead ? 'Dead feature: never fired.' : 'No contexts recorded.'))];
    if (det.top_tokens) kids.push(h('h4', {}, 'Token profile (share of top activations)'), table(['token', 'share'], det.top_tokens.map(([t, s]) => [JSON.stringify(t), s])));
    const lens = ['promotes_a', 'promotes_b', 'suppresses_a', 'suppresses_b'].filter((k) => det[k]);
    if (lens.length) kids.push(h('h4', {}, 'Next tokens the decoder direction promotes / suppresses'),
      table(lens, Array.from({ length: Math.max(...lens.map((k) => det[k].length)) }, (_, i) => lens.map((k) => JSON.stringify(det[k][i] ?? '')))));
    const histEl = h('div', { class: 'figure', 'data-figure': 'feature-histogram' });
    kids.push(h('h4', {}, 'Activation histogram'), histEl);
    dash.replaceChildren(...kids.filter((k) => k != null));
    dash.dataset.feature = String(f.feature);
    R.dashboard = { feature: f.feature, contexts: ex.length, histogram: false };
    const hs = summary.act_hist_log10 || { lo: -3, hi: 3, bins: 24 };
    if (det.act_hist) {
      const w = (hs.hi - hs.lo) / hs.bins;
      const vals = det.act_hist.map((n, i) => ({ lo: Math.pow(10, hs.lo + i * w), hi: Math.pow(10, hs.lo + (i + 1) * w), n })).filter((b) => b.n > 0);
      vegaEmbed(histEl, { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', data: { values: vals }, width: 360, height: 140, mark: 'bar',
        encoding: { x: { field: 'lo', type: 'quantitative', scale: { type: 'log' }, title: 'activation (log bins)' }, x2: { field: 'hi' },
          y: { field: 'n', type: 'quantitative', title: 'count' } } }, { actions: false, renderer: 'svg' })
        .then(() => { histEl.dataset.rendered = String(vals.length); R.dashboard.histogram = true; })
        .catch((e) => { R.errors.push('histogram: ' + e); console.error(e); });
    } else histEl.append(h('p', {}, 'No histogram (dead feature or older analysis).'));
    dash.scrollIntoView({ block: 'nearest' });
  }

  Promise.all(pending).then(() => {
    R.done = true;
    R.ms = performance.now() - t0;
    document.body.dataset.ready = '1';
  });
})();

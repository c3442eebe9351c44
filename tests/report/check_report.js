// Opens a report in headless Chromium (Debian's /usr/bin/chromium through puppeteer-core) and fails
// on any console error or page error, on a figure that did not render with data, or when a feature
// dashboard does not open with its contexts and histogram. Saves a screenshot.
//   node check_report.js REPORT.html SCREENSHOT.png FIGURE[,FIGURE...]
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

const problemsSeen = [];
// Waits for fn() in the page, giving up at once when the page has already reported an error.
async function waitFor(page, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate(fn)) return;
    if (problemsSeen.length) throw new Error('the page reported errors before it was ready');
    if (Date.now() > end) throw new Error('timed out after ' + timeoutMs + ' ms waiting for ' + fn);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const [report, shot, figs] = process.argv.slice(2);
  if (!report || !shot) throw new Error('usage: check_report.js REPORT.html SCREENSHOT.png FIGURES');
  const expected = (figs || '').split(',').filter(Boolean);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const problems = problemsSeen;
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('requestfailed', (r) => { if (!r.url().startsWith('data:')) problems.push('request failed (the report must be offline): ' + r.url()); });
    const t0 = Date.now();
    await page.goto('file://' + path.resolve(report), { waitUntil: 'load', timeout: 120000 });
    await waitFor(page, () => window.__report && window.__report.done, 120000);
    const loadMs = Date.now() - t0;
    const state = await page.evaluate(() => {
      const figs = {};
      for (const el of document.querySelectorAll('[data-figure]')) {
        const svg = el.querySelector('svg');
        figs[el.dataset.figure] = { rows: Number(el.dataset.rendered || 0), marks: svg ? svg.querySelectorAll('path, rect, line, circle').length : 0 };
      }
      return { figs, errors: window.__report.errors, features: document.querySelectorAll('#feature-table tbody tr').length };
    });
    for (const e of state.errors) problems.push('report error: ' + e);
    for (const f of expected) {
      const s = state.figs[f];
      if (!s) problems.push(`figure ${f} is missing`);
      else if (!(s.rows > 0) || !(s.marks > 0)) problems.push(`figure ${f} rendered no data (rows ${s.rows}, marks ${s.marks})`);
    }
    if (!(state.features > 0)) problems.push('the feature table is empty');
    // Open the first (most frequent) feature's dashboard.
    await page.click('#feature-table tbody tr');
    await waitFor(page, () => window.__report.dashboard && window.__report.dashboard.histogram, 30000);
    const dash = await page.evaluate(() => ({
      feature: window.__report.dashboard.feature,
      contexts: document.querySelectorAll('#dashboard .ctx').length,
      highlighted: document.querySelectorAll('#dashboard .tok[style]').length,
      histogramBars: document.querySelectorAll('#dashboard [data-figure="feature-histogram"] svg path').length,
    }));
    if (!(dash.contexts > 0) || !(dash.highlighted > 0)) problems.push('the dashboard shows no highlighted context: ' + JSON.stringify(dash));
    // Searching narrows the table.
    await page.type('#feature-search', String(dash.feature));
    const afterSearch = await page.evaluate(() => document.querySelectorAll('#feature-table tbody tr').length);
    if (afterSearch < 1) problems.push('searching for a feature id found nothing');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify({ report, load_ms: loadMs, figures: state.figs, features_on_page: state.features, dashboard: dash, screenshot: shot }));
  } finally {
    await browser.close();
  }
  if (problems.length) {
    for (const p of problems) console.error('FAIL: ' + p);
    process.exit(1);
  }
}

main().catch((e) => {
  for (const p of problemsSeen) console.error('FAIL: ' + p);
  console.error('FAIL: ' + (e && e.stack || e));
  process.exit(1);
});

// Oracle: encodes every line {"text": ...} of a JSONL file with Hugging Face `tokenizers` (the
// Rust library through its Node binding) and writes {"ids": [...]} lines in the same order.
// Usage: node encode.js TOKENIZER_JSON DOCS_JSONL OUT_JSONL [add_special_tokens: 1|0]
// With BENCH=1 it instead times single-document encoding and prints MB/s.
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

(async () => {
  const [tokPath, docsPath, outPath, special = '1'] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tokPath);
  const docs = fs.readFileSync(docsPath, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l).text);
  const addSpecial = special === '1';
  if (process.env.BENCH === '1') {
    const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d, 'utf8'), 0);
    const t0 = process.hrtime.bigint();
    for (const d of docs) await tok.encode(d, null, { addSpecialTokens: addSpecial });
    const s1 = Number(process.hrtime.bigint() - t0) / 1e9;
    const t1 = process.hrtime.bigint();
    await tok.encodeBatch(docs, { addSpecialTokens: addSpecial });
    const s2 = Number(process.hrtime.bigint() - t1) / 1e9;
    const l0 = process.hrtime.bigint();
    Tokenizer.fromFile(tokPath);
    const ls = Number(process.hrtime.bigint() - l0) / 1e9;
    console.log(JSON.stringify({ impl: 'hf-tokenizers-node', bytes, single_mb_s: bytes / s1 / 1e6, batch_mb_s: bytes / s2 / 1e6, load_ms: ls * 1e3 }));
    return;
  }
  const out = fs.openSync(outPath, 'w');
  for (const d of docs) {
    const enc = await tok.encode(d, null, { addSpecialTokens: addSpecial });
    fs.writeSync(out, JSON.stringify({ ids: Array.from(enc.getIds()) }) + '\n');
  }
  fs.closeSync(out);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

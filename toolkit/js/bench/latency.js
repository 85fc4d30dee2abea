// Batch-1 end-to-end latency (raw text in, probabilities out) in Node and in headless Chromium, on one thread.
// node bench/latency.js BUNDLE TEXTS.json SITE   -> JSON on stdout (per-text microseconds summarised).
// benchmarks/js_latency.py runs it next to the Python runtime; SITE is `kdedge export BUNDLE --web`'s folder.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TextClassifier } from "kdedge";
import { launch, openDemo, serve } from "../test/chromium.js";

const [bundle, textsFile, site] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(textsFile, "utf-8"));
const WARMUP = 200;

function summary(us) {
  const sorted = [...us].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50_us: at(0.5), p90_us: at(0.9), p99_us: at(0.99), mean_us: us.reduce((a, b) => a + b) / us.length };
}

async function timeEach(classify, items) {
  for (const text of items.slice(0, WARMUP)) await classify(text);
  const us = [];
  for (const text of items) {
    const started = process.hrtime.bigint();
    await classify(text);
    us.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  return us;
}

const clf = await TextClassifier.load(bundle, { precision: "int8", sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } });
const node = await timeEach((text) => clf.predictProba([text]), texts);
const tokenize = await timeEach((text) => clf.encode([text]), texts);

const work = mkdtempSync(join(tmpdir(), "kdedge-bench-"));
const server = await serve(site);
const browser = await launch(work);
const problems = [];
const page = await openDemo(browser, server, problems);
const inPage = await page.evaluate(async (items, warmup) => {
  const clf = window.classifier;
  const time = async (fn) => {
    for (const text of items.slice(0, warmup)) await fn(text);
    const us = [];
    for (const text of items) {
      const started = performance.now();
      await fn(text);
      us.push((performance.now() - started) * 1000);
    }
    return us;
  };
  return {
    total: await time((text) => clf.predictProba([text])),
    tokenize: await time(async (text) => clf.encode([text])),
    isolated: window.crossOriginIsolated,
  };
}, texts, WARMUP);
const version = await browser.version();
await browser.close();
server.close();
rmSync(work, { recursive: true, force: true });
if (problems.length) throw new Error(`the page reported problems: ${problems.join("; ")}`);
console.log(JSON.stringify({
  node: { ...summary(node), tokenize: summary(tokenize), versions: { node: process.version } },
  chromium: { ...summary(inPage.total), tokenize: summary(inPage.tokenize), cross_origin_isolated: inPage.isolated,
    timer_resolution_us: inPage.isolated ? 5 : 100, version },
}));

// The demo page made by `kdedge export BUNDLE --web`, in a real headless Chromium: it loads, shows the right
// label as text is typed, classifies the conformance texts and the Emotion test split as Python does, and
// logs no errors. Needs Chromium (Debian's `chromium`; $CHROMIUM names another binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import puppeteer from "puppeteer-core";
import { BUNDLE, EMOTION_TEST, ROOT, runPython } from "./helpers.js";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
  ".wasm": "application/wasm", ".onnx": "application/octet-stream" };
// The brief's flags: no sandbox (CI runs as root), no GPU, and nothing that reaches the network by itself.
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

function chromium() {
  for (const name of [process.env.CHROMIUM, "chromium", "chromium-browser", "google-chrome"].filter(Boolean)) {
    const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf-8" }).stdout.trim();
    if (found) return found;
  }
  throw new Error("no Chromium found: install Debian's `chromium` (make test does) or set $CHROMIUM");
}

/** A static file server for `root` on a free local port. */
function serve(root) {
  const server = createServer((request, response) => {
    let path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    if (path.endsWith("/")) path += "index.html";
    try {
      const body = readFileSync(join(root, path));
      response.writeHead(200, { "Content-Type": TYPES[extname(path)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const work = mkdtempSync(join(tmpdir(), "kdedge-web-"));
const site = join(work, "site");
let server, browser, page;
const problems = [];

before(async () => {
  runPython(`
import json
from kdedge.web import export_web
print(json.dumps(export_web(${JSON.stringify(BUNDLE)}, ${JSON.stringify(site)})))`);
  server = await serve(site);
  browser = await puppeteer.launch({ executablePath: chromium(), args: [...FLAGS, `--user-data-dir=${join(work, "profile")}`],
    headless: true });
  page = await browser.newPage();
  page.on("console", (message) => ["error", "warn"].includes(message.type()) && problems.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
  page.on("response", (response) => response.status() >= 400 && problems.push(`${response.status()}: ${response.url()}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/`, { waitUntil: "load" });
  await page.waitForSelector("#status[data-state=ready]", { timeout: 60_000 });
});

after(async () => {
  await browser?.close();
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

const SAMPLES = ["i feel wonderful today", "this house makes me so nervous", "i am so angry at him", "i miss her so much"];
const expected = runPython(`
import json
from kdedge.runtime import TextClassifier
print(json.dumps(TextClassifier.load(${JSON.stringify(BUNDLE)}, "onnxruntime", "int8").predict(${JSON.stringify(SAMPLES)})))`);

test("typing a text shows its label", async () => {
  for (const [i, text] of SAMPLES.entries()) {
    await page.click("#text", { count: 3 });
    await page.keyboard.press("Backspace");
    await page.type("#text", text);
    await page.waitForFunction((t) => document.querySelector("#status").dataset.text === t, {}, text);
    assert.equal(await page.$eval("#label", (el) => el.textContent), expected[i], text);
  }
  if (process.env.KDEDGE_SCREENSHOT) await page.screenshot({ path: process.env.KDEDGE_SCREENSHOT });
});

test("in the page: the conformance vectors (int8) and the Emotion test split match Python", async () => {
  const vectors = JSON.parse(readFileSync(join(BUNDLE, "conformance.json"), "utf-8"));
  const texts = readFileSync(EMOTION_TEST, "utf-8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).text);
  const python = runPython(`
import json, sys
from kdedge.runtime import TextClassifier
clf = TextClassifier.load(${JSON.stringify(BUNDLE)}, "onnxruntime", "int8")
print(json.dumps({"labels": clf.predict(json.load(sys.stdin)), "ids": clf.vocab.encode(["x"]).tolist()}))`, JSON.stringify(texts));
  const result = await page.evaluate(async (conformance, emotion) => {
    const clf = window.classifier;
    return { ids: clf.encode(conformance), logits: await clf.logits(conformance), labels: await clf.predict(emotion) };
  }, vectors.texts, texts);
  assert.deepEqual(result.ids, vectors.ids);
  let worst = 0;
  result.logits.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - vectors.logits["onnxruntime/int8"][i][j])))));
  assert.ok(worst < vectors.logit_tolerance, `max |logit diff| ${worst}`);
  assert.deepEqual(result.labels, python.labels);
});

test("the page logged no errors or warnings and every request succeeded", () => {
  assert.deepEqual(problems, []);
});

test("the site is self-contained: no request left the local server", async () => {
  const urls = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name));
  const origin = `http://127.0.0.1:${server.address().port}/`;
  assert.ok(urls.length > 0 && urls.every((url) => url.startsWith(origin)), urls.join("\n"));
  void ROOT;
});

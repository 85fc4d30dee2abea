// The demo page made by `kdedge export BUNDLE --web`, in a real headless Chromium: it loads, shows the right
// label as text is typed, classifies the conformance texts and the Emotion test split as Python does, and
// logs no errors. Needs Chromium (Debian's `chromium`; $CHROMIUM names another binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, openDemo, serve } from "./chromium.js";
import { BUNDLE, EMOTION_TEST, runPython } from "./helpers.js";

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
  browser = await launch(work);
  page = await openDemo(browser, server, problems);
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
print(json.dumps({"labels": clf.predict(json.load(sys.stdin))}))`, JSON.stringify(texts));
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
});

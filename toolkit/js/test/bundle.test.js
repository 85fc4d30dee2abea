// Loading checks the manifest and the checksums; bad input fails clearly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleError, TextClassifier } from "kdedge";
import { BUNDLE } from "./helpers.js";

function damaged(change) {
  const folder = join(mkdtempSync(join(tmpdir(), "kdedge-")), "bundle");
  cpSync(BUNDLE, folder, { recursive: true });
  change(folder);
  return folder;
}

const manifestOf = (folder) => JSON.parse(readFileSync(join(folder, "manifest.json"), "utf-8"));
const cases = [
  ["a changed model byte", (f) => {
    const bytes = readFileSync(join(f, "model.int8.onnx"));
    bytes[bytes.length - 100] ^= 1;
    writeFileSync(join(f, "model.int8.onnx"), bytes);
  }, /model\.int8\.onnx is corrupted \(sha256/],
  ["an edited tokenizer", (f) => writeFileSync(join(f, "tokenizer.json"), "{}"), /tokenizer\.json is corrupted/],
  ["a missing model", (f) => rmSync(join(f, "model.int8.onnx")), /model\.int8\.onnx is missing/],
  ["no manifest", (f) => rmSync(join(f, "manifest.json")), /not a kdedge bundle/],
  ["an old format", (f) => writeFileSync(join(f, "manifest.json"), JSON.stringify({ ...manifestOf(f), format_version: 1 })),
    /v1, this runtime reads kdedge-bundle v2: re-make its student/],
  ["a broken manifest", (f) => writeFileSync(join(f, "manifest.json"), "{not json"), /manifest\.json: unreadable/],
];
for (const [what, change, message] of cases) {
  test(`a bundle with ${what} is refused`, async () => {
    const folder = damaged(change);
    await assert.rejects(TextClassifier.load(folder), (err) => err instanceof BundleError && message.test(err.message));
    rmSync(folder, { recursive: true });
  });
}

test("odd inputs", async () => {
  const clf = await TextClassifier.load(BUNDLE);
  assert.deepEqual(await clf.predict([]), []);
  const probabilities = await clf.predictProba(["", "   ", "😊😊", "broken \ud800 json", "happy ".repeat(5000)]);
  for (const row of probabilities) assert.ok(Math.abs(row.reduce((a, b) => a + b) - 1) < 1e-5);
  await assert.rejects(clf.predict("a single string"), TypeError);
  await assert.rejects(clf.predict(["fine", 3]), TypeError);
  assert.equal(clf.encode(["happy ".repeat(5000)])[0].length, clf.maxLength);
});

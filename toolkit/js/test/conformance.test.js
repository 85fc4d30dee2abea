// The bundle's conformance vectors (written by the Python runtime at export) reproduced in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TextClassifier } from "kdedge";
import { BUNDLE } from "./helpers.js";

const vectors = JSON.parse(readFileSync(join(BUNDLE, "conformance.json"), "utf-8"));

test("the conformance texts include the hard cases", () => {
  assert.ok(vectors.texts.length >= 200);
  assert.ok(vectors.texts.some((t) => t.split(" ").length === 10000));
  assert.ok(vectors.texts.some((t) => /\ud800/.test(t) && !t.isWellFormed()));
});

for (const precision of ["fp32", "int8"]) {
  test(`${precision}: ids identical, logits within the recorded tolerance`, async () => {
    const clf = await TextClassifier.load(BUNDLE, { precision });
    assert.deepEqual(clf.encode(vectors.texts), vectors.ids);
    const logits = await clf.logits(vectors.texts);
    const expected = vectors.logits[`onnxruntime/${precision}`];
    let worst = 0;
    logits.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - expected[i][j])))));
    assert.ok(worst < vectors.logit_tolerance, `max |logit diff| ${worst}`);
  });
}

// The whole Emotion test split in Node against the Python runtime on the same bundle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { TextClassifier } from "kdedge";
import { BUNDLE, EMOTION_TEST, runPython } from "./helpers.js";

const texts = readFileSync(EMOTION_TEST, "utf-8")
  .split("\n")
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line).text);

const PYTHON = `
import json, sys
from kdedge.runtime import TextClassifier
texts = json.load(sys.stdin)
out = {}
for precision in ("fp32", "int8"):
    clf = TextClassifier.load(${JSON.stringify(BUNDLE)}, "onnxruntime", precision)
    out[precision] = {"labels": clf.predict(texts), "probabilities": clf.predict_proba(texts).tolist()}
out["ids"] = [[int(i) for i in row[row != 0]] for row in clf.vocab.encode(texts)]
print(json.dumps(out))
`;
const python = runPython(PYTHON, JSON.stringify(texts));

test("the Emotion test split is all there", () => assert.equal(texts.length, 2000));

for (const precision of ["fp32", "int8"]) {
  test(`${precision}: ids and labels identical to Python's, probabilities within 1e-4`, async () => {
    const clf = await TextClassifier.load(BUNDLE, { precision });
    assert.deepEqual(clf.encode(texts), python.ids);
    assert.deepEqual(await clf.predict(texts), python[precision].labels);
    const probabilities = await clf.predictProba(texts);
    let worst = 0;
    probabilities.forEach((row, i) =>
      row.forEach((p, j) => (worst = Math.max(worst, Math.abs(p - python[precision].probabilities[i][j])))),
    );
    assert.ok(worst < 1e-4, `max |probability diff| ${worst}`);
  });
}

// kdedge in Node: `const clf = await TextClassifier.load("path/to/bundle")`, then `await clf.predict(texts)`.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { TextClassifier as Base, loadBundle } from "./core.js";

export { BUNDLE_VERSION, BundleError, MODEL_FILES, softmax } from "./core.js";

const read = async (folder, name) => new Uint8Array(await readFile(join(folder, name)));

export class TextClassifier extends Base {
  /**
   * Load a bundle folder. Options: precision ("int8" or "fp32"), verify (sha256 of the files used; default
   * true), sessionOptions (passed to onnxruntime-node, e.g. { intraOpNumThreads: 1 }).
   */
  static async load(folder, options = {}) {
    return new TextClassifier(await loadBundle({ ort, read }, folder, options));
  }
}

// kdedge in browsers: `const clf = await TextClassifier.load("https://host/bundle")` (a folder URL), then
// `await clf.predict(texts)`. Runs on onnxruntime-web's WebAssembly backend; everything stays on the device.
import * as ort from "onnxruntime-web";
import { TextClassifier as Base, loadBundle } from "./core.js";

export { BUNDLE_VERSION, BundleError, MODEL_FILES, softmax } from "./core.js";
export { ort };

async function read(base, name) {
  const response = await fetch(new URL(name, base.endsWith("/") ? base : `${base}/`));
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

export class TextClassifier extends Base {
  /** Load a bundle from a folder URL (relative URLs resolve against the page). Options as in Node. */
  static async load(url, options = {}) {
    return new TextClassifier(await loadBundle({ ort, read }, new URL(url, globalThis.location?.href).href, options));
  }
}

// The part of the kdedge runtime that Node and browsers share: read a bundle's manifest, verify the files it
// uses, tokenize with the bundle's tokenizer.json (@huggingface/tokenizers) and run the ONNX model. The
// platform gives `ort` (onnxruntime-node or onnxruntime-web) and `read(location, name)` -> Uint8Array.
import { Tokenizer } from "@huggingface/tokenizers";

export const BUNDLE_FORMAT = "kdedge-bundle";
export const BUNDLE_VERSION = 2;
export const MODEL_FILES = { fp32: "model.onnx", int8: "model.int8.onnx" };
const PAD_ID = 0;
const BATCH = 256;

export class BundleError extends Error {
  constructor(message) {
    super(message);
    this.name = "BundleError";
  }
}

async function sha256(bytes) {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function decodeJson(bytes, what) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new BundleError(`${what}: unreadable (${err.message})`);
  }
}

/** Softmax of each row of `logits` (an array of arrays). */
export function softmax(logits) {
  return logits.map((row) => {
    const max = Math.max(...row);
    const exp = row.map((x) => Math.exp(x - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    return exp.map((x) => x / sum);
  });
}

function checkTexts(texts) {
  if (typeof texts === "string" || !Array.isArray(texts)) {
    throw new TypeError("pass an array of texts, not a single string");
  }
  for (const text of texts) {
    if (typeof text !== "string") throw new TypeError(`texts must be strings, got ${typeof text}`);
  }
}

/**
 * Read and check a bundle: the manifest's format, then the sha256 of each file this runtime uses (the
 * tokenizer and the chosen model), as the Python runtime does for every file.
 */
export async function loadBundle({ ort, read }, location, { precision = "int8", verify = true, sessionOptions = {} } = {}) {
  if (!(precision in MODEL_FILES)) throw new TypeError(`precision is one of fp32, int8, not ${precision}`);
  let manifestBytes;
  try {
    manifestBytes = await read(location, "manifest.json");
  } catch {
    throw new BundleError(`${location}: not a kdedge bundle (no manifest.json)`);
  }
  const manifest = decodeJson(manifestBytes, `${location}/manifest.json`);
  if (manifest.format !== BUNDLE_FORMAT || manifest.format_version !== BUNDLE_VERSION) {
    const hint =
      manifest.format === BUNDLE_FORMAT && manifest.format_version === 1
        ? ": re-make its student with `kdedge distill` and export it with `kdedge export`"
        : "";
    throw new BundleError(
      `${location}: bundle format ${manifest.format} v${manifest.format_version}, this runtime reads ` +
        `${BUNDLE_FORMAT} v${BUNDLE_VERSION}${hint}`,
    );
  }
  const files = {};
  for (const name of [manifest.tokenizer, MODEL_FILES[precision]]) {
    if (!(name in manifest.files)) throw new BundleError(`${location}: the manifest lists no ${name}`);
    try {
      files[name] = await read(location, name);
    } catch {
      throw new BundleError(`${location}: ${name} is missing`);
    }
    if (verify && (await sha256(files[name])) !== manifest.files[name]) {
      throw new BundleError(`${location}: ${name} is corrupted (sha256 does not match the manifest)`);
    }
  }
  const tokenizerJson = decodeJson(files[manifest.tokenizer], `${location}/${manifest.tokenizer}`);
  const tokenizer = new Tokenizer(tokenizerJson, {});
  // As in Python: the int8 weights are folded to fp32 once at load instead of dequantized on every call.
  const options = { ...sessionOptions, extra: { session: { disable_quant_qdq: "1" } } };
  const session = await ort.InferenceSession.create(files[MODEL_FILES[precision]], options);
  return { ort, manifest, tokenizer, session, precision };
}

export class TextClassifier {
  /** Use the platform's `TextClassifier.load(pathOrUrl, options)` (from "kdedge"), not this constructor. */
  constructor({ ort, manifest, tokenizer, session, precision }) {
    this.ort = ort;
    this.manifest = manifest;
    this.tokenizer = tokenizer;
    this.session = session;
    this.precision = precision;
    this.labelNames = manifest.label_names;
    this.maxLength = manifest.max_length;
    this.inputName = session.inputNames[0];
  }

  /** Token ids of each text, truncated to the bundle's max length (what conformance.json lists). */
  encode(texts) {
    checkTexts(texts);
    // Lone surrogates become U+FFFD, as in Python: both read broken text the same way.
    return texts.map((text) =>
      this.tokenizer.encode(text.toWellFormed(), { add_special_tokens: false }).ids.slice(0, this.maxLength),
    );
  }

  /** Raw scores: one array of label scores per text. */
  async logits(texts) {
    const rows = this.encode(texts);
    const out = [];
    for (let start = 0; start < rows.length; start += BATCH) {
      const chunk = rows.slice(start, start + BATCH);
      const width = Math.max(1, ...chunk.map((ids) => ids.length));
      const data = new BigInt64Array(chunk.length * width).fill(BigInt(PAD_ID));
      chunk.forEach((ids, i) => ids.forEach((id, j) => (data[i * width + j] = BigInt(id))));
      const feeds = { [this.inputName]: new this.ort.Tensor("int64", data, [chunk.length, width]) };
      const result = await this.session.run(feeds);
      const scores = result[this.session.outputNames[0]].data;
      const labels = this.labelNames.length;
      for (let i = 0; i < chunk.length; i++) out.push(Array.from(scores.subarray(i * labels, (i + 1) * labels)));
    }
    return out;
  }

  /** Label probabilities: one array per text, in the order of `labelNames`. */
  async predictProba(texts) {
    return softmax(await this.logits(texts));
  }

  /** The most likely label of each text. */
  async predict(texts) {
    return (await this.logits(texts)).map((row) => this.labelNames[row.indexOf(Math.max(...row))]);
  }
}

// Shared by the tests: where the bundle, the data and Python are (all overridable by environment variables).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { existsSync } from "node:fs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** The bundle under test: the shipped int8/fp32 Emotion bundle unless KDEDGE_BUNDLE names another. */
export const BUNDLE = resolve(process.env.KDEDGE_BUNDLE ?? join(ROOT, "exported/emotion-mlp"));
export const EMOTION_TEST = resolve(process.env.KDEDGE_EMOTION_TEST ?? join(ROOT, "../shared/datasets/emotion/test.jsonl"));

function python() {
  if (process.env.KDEDGE_PYTHON) return process.env.KDEDGE_PYTHON;
  const venv = join(ROOT, ".venv/bin/python");
  return existsSync(venv) ? venv : "python3";
}

/** Run Python code with this checkout's kdedge first on the path; returns its stdout parsed as JSON. */
export function runPython(code, input = "") {
  const env = { ...process.env, PYTHONPATH: join(ROOT, "toolkit"), OMP_NUM_THREADS: "1" };
  const proc = spawnSync(python(), ["-c", code], { input, env, encoding: "utf-8", maxBuffer: 1 << 28 });
  if (proc.status !== 0) throw new Error(`python failed: ${proc.stderr}`);
  return JSON.parse(proc.stdout);
}

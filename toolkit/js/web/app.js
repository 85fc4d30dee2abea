// The demo: load the bundle next to this page, classify the text on every keystroke.
import { TextClassifier, ort } from "kdedge";

const SAMPLES = ["i feel wonderful today", "this house makes me so nervous", "i am so angry at him",
  "i miss her so much it hurts", "i adore you", "wow i did not expect that at all"];
const $ = (id) => document.getElementById(id);
ort.env.wasm.wasmPaths = new URL("./vendor/ort/", location.href).href;
ort.env.wasm.numThreads = 1; // no cross-origin isolation needed, and a model this small gains nothing from threads

const status = $("status");
try {
  const clf = await TextClassifier.load("./bundle/", { precision: "int8" });
  window.classifier = clf; // for tests and the console
  $("params").textContent = clf.manifest.source.params.toLocaleString("en");
  $("bundle").textContent = `${clf.manifest.source.architecture} student, int8, labels: ${clf.labelNames.join(", ")}`;
  let pending = Promise.resolve();
  const show = async () => {
    const text = $("text").value;
    const started = performance.now();
    const [probabilities] = await clf.predictProba([text]);
    const ms = performance.now() - started;
    if ($("text").value !== text) return; // a newer keystroke will show its own answer
    const best = probabilities.indexOf(Math.max(...probabilities));
    $("label").textContent = text.trim() ? clf.labelNames[best] : "";
    $("bars").replaceChildren(...clf.labelNames.map((name, i) => {
      const row = document.createElement("div");
      row.className = "row";
      row.innerHTML = `<span></span><div class="bar" style="width:${(100 * probabilities[i]).toFixed(1)}%"></div><span></span>`;
      row.children[0].textContent = name;
      row.children[2].textContent = `${(100 * probabilities[i]).toFixed(1)}%`;
      return row;
    }));
    status.textContent = `classified in ${ms.toFixed(2)} ms (tokenizer + model, in this page)`;
    status.dataset.state = "ready";
    status.dataset.text = text;
  };
  $("text").addEventListener("input", () => (pending = pending.then(show)));
  for (const sample of SAMPLES) {
    const button = document.createElement("button");
    button.textContent = sample;
    button.onclick = () => { $("text").value = sample; $("text").dispatchEvent(new Event("input")); };
    $("samples").append(button);
  }
  await show();
} catch (err) {
  status.textContent = `could not load the model: ${err.message}`;
  status.dataset.state = "error";
  console.error(err);
}

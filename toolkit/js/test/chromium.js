// Headless Chromium for the browser test and the latency benchmark: a static server and a fresh browser.
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import puppeteer from "puppeteer-core";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
  ".wasm": "application/wasm", ".onnx": "application/octet-stream" };
// No sandbox (CI runs as root), no GPU, and nothing that reaches the network by itself.
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
export function serve(root) {
  const server = createServer((request, response) => {
    let path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    if (path.endsWith("/")) path += "index.html";
    try {
      const body = readFileSync(join(root, path));
      response.writeHead(200, {
        "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
        // cross-origin isolation: performance.now() then ticks in 5 us steps instead of 100 us (the benchmark)
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Chromium with a fresh profile under `work`. */
export function launch(work) {
  return puppeteer.launch({ executablePath: chromium(), headless: true,
    args: [...FLAGS, `--user-data-dir=${join(work, "profile")}`] });
}

/** Open the demo site served by `server`, recording console errors and warnings, page errors and failed
 * requests in `problems`; resolves when the model is loaded. */
export async function openDemo(browser, server, problems) {
  const page = await browser.newPage();
  page.on("console", (m) => ["error", "warn"].includes(m.type()) && problems.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
  page.on("response", (response) => response.status() >= 400 && problems.push(`${response.status()}: ${response.url()}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/`, { waitUntil: "load" });
  await page.waitForSelector("#status[data-state=ready]", { timeout: 60_000 });
  return page;
}

"""`kdedge export BUNDLE --web`: a static page that classifies as you type, entirely in the browser.

The site holds the page (toolkit/js/web), the JavaScript runtime (toolkit/js/src), ONNX Runtime Web's
WebAssembly build, @huggingface/tokenizers and the bundle's manifest, tokenizer and int8 ONNX model; any static
file server can host it. The JavaScript files come from toolkit/js after `npm ci` there ($KDEDGE_JS names
another copy of that package). Torch-free, like the runtime.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import KdedgeError
from .results import atomic_folder
from .runtime import MODEL_FILES, read_manifest

# site path -> path under node_modules
VENDOR = {
    "vendor/ort/ort.wasm.min.mjs": "onnxruntime-web/dist/ort.wasm.min.mjs",
    "vendor/ort/ort-wasm-simd-threaded.mjs": "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs",
    "vendor/ort/ort-wasm-simd-threaded.wasm": "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
    "vendor/tokenizers.min.mjs": "@huggingface/tokenizers/dist/tokenizers.min.mjs",
    "vendor/tokenizers.LICENSE": "@huggingface/tokenizers/LICENSE",
}
PAGE = {"index.html": "web/index.html", "app.js": "web/app.js", "kdedge/core.js": "src/core.js",
        "kdedge/browser.js": "src/browser.js"}  # fmt: skip


def js_package() -> Path:
    return Path(os.environ.get("KDEDGE_JS") or Path(__file__).resolve().parents[1] / "js")


def export_web(bundle: str | Path, out: str | Path, force: bool = False) -> list[str]:
    """Write the demo site for a bundle (verified first) to `out`; returns the files written."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    js = js_package()
    sources = {site: js / source for site, source in PAGE.items()}
    sources |= {site: js / "node_modules" / source for site, source in VENDOR.items()}
    missing = [str(path) for path in sources.values() if not path.is_file()]
    if missing:
        raise KdedgeError(
            f"--web copies the JavaScript runtime from {js}, which lacks {missing[0]}: run "
            f"`ONNXRUNTIME_NODE_INSTALL=skip npm ci` in {js} first (or point $KDEDGE_JS at that package)"
        )
    # The page loads the manifest, the tokenizer and the int8 model, and checks their sha256 against the
    # (unchanged) manifest; the other files of the bundle stay behind.
    for name in ("manifest.json", manifest["tokenizer"], MODEL_FILES["onnxruntime", "int8"]):
        sources[f"bundle/{name}"] = bundle / name
    with atomic_folder(out, force=force) as tmp:
        for site, source in sources.items():
            (tmp / site).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / site)
    return sorted(sources)

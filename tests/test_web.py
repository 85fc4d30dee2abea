"""`kdedge export BUNDLE --web`: the static demo site (its in-browser behaviour is tested by toolkit/js's tests)."""

import json
import subprocess
import sys

import pytest

from kdedge.errors import KdedgeError
from kdedge.runtime import sha256_file
from kdedge.web import PAGE, VENDOR, export_web


@pytest.fixture()
def js_package(tmp_path, monkeypatch):
    """A stand-in for toolkit/js after `npm ci`: every file the site copies, with placeholder contents."""
    root = tmp_path / "js"
    for source in list(PAGE.values()) + [f"node_modules/{path}" for path in VENDOR.values()]:
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text(f"// {source}\n")
    monkeypatch.setenv("KDEDGE_JS", str(root))
    return root


def test_site_holds_the_page_runtime_and_the_verified_int8_files(bundle, js_package, tmp_path):
    files = export_web(bundle, tmp_path / "site")
    site = tmp_path / "site"
    assert {"index.html", "app.js", "kdedge/browser.js", "vendor/ort/ort-wasm-simd-threaded.wasm"} <= set(files)
    manifest = json.loads((site / "bundle/manifest.json").read_text())
    for name in ("tokenizer.json", "model.int8.onnx"):  # what the page loads, with the checksums it checks
        assert sha256_file(site / "bundle" / name) == manifest["files"][name]
    assert not (site / "bundle/model.onnx").exists() and not (site / "bundle/openvino").exists()
    with pytest.raises(KdedgeError, match="already exists"):
        export_web(bundle, site)


def test_without_npm_ci_the_cli_says_what_to_run(bundle, tmp_path, js_package):
    (js_package / "node_modules/onnxruntime-web/dist/ort.wasm.min.mjs").unlink()
    run = [sys.executable, "-m", "kdedge", "export", str(bundle), "--web", "--out", str(tmp_path / "site")]
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "npm ci" in proc.stderr and not (tmp_path / "site").exists()


def test_a_corrupted_bundle_makes_no_site(bundle, tmp_path, js_package):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    (copy / "tokenizer.json").write_text("{}")
    with pytest.raises(KdedgeError, match="corrupted"):
        export_web(copy, tmp_path / "site")

"""Batch-1 end-to-end latency of one bundle in Python, Node and headless Chromium (kdedge issue 13), one run.

Every runtime classifies the same texts one at a time (raw text in, probabilities out) with the int8 ONNX model
on one thread; p50/p90/p99 in microseconds. Python is measured twice: with this checkout's runtime and
tokenizer.json, and with an older kdedge (`--old-rev`, its own code and its own shipped bundle, run from a git
archive) so the tokenizer change is measured before/after on the same machine in the same run. The Python
rows also split the time: tokenizing, ONNX Runtime's `run` on ready ids, and the rest (softmax, Python calls).

python benchmarks/js_latency.py exported/emotion-mlp --output benchmarks/results/js-latency-emotion.json
(needs `npm ci` in toolkit/js and Chromium, as `make test` sets up)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 200


def summary(us: list[float]) -> dict:
    values = np.asarray(us)
    return {
        "n": len(values),
        "p50_us": float(np.percentile(values, 50)),
        "p90_us": float(np.percentile(values, 90)),
        "p99_us": float(np.percentile(values, 99)),
        "mean_us": float(values.mean()),
    }


def time_each(fn, texts: list) -> list[float]:
    for text in texts[:WARMUP]:
        fn(text)
    out = []
    for text in texts:
        started = time.perf_counter_ns()
        fn(text)
        out.append((time.perf_counter_ns() - started) / 1000)
    return out


def measure_python(bundle: str, texts: list[str]) -> dict:
    """Python's runtime on one thread: end to end, and its parts (works with old and new kdedge)."""
    from kdedge.runtime import TextClassifier

    clf = TextClassifier.load(bundle, "onnxruntime", "int8", threads=1)
    total = time_each(lambda text: clf.predict_proba([text]), texts)
    tokenize = time_each(lambda text: clf.vocab.encode([text]), texts)
    ids = [clf.vocab.encode([text]) for text in texts]
    session, name = clf._session, clf._input
    model = time_each(lambda x: session.run(None, {name: x}), ids)
    import onnxruntime

    import kdedge

    versions = {"kdedge": kdedge.__version__, "onnxruntime": onnxruntime.__version__}
    try:
        import tokenizers

        versions["tokenizers"] = tokenizers.__version__
    except ImportError:
        pass
    return {
        **summary(total),
        "tokenize": summary(tokenize),
        "onnxruntime_run": summary(model),
        "versions": versions,
        "bundle": bundle,
    }


def old_python(rev: str, texts_file: Path, work: Path) -> dict:
    """The same measurement with kdedge and its shipped bundle as of `rev` (git archive), in a subprocess."""
    archive = subprocess.run(
        ["git", "archive", rev, "toolkit/kdedge", "exported/emotion-mlp"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    env = {**os.environ, "PYTHONPATH": str(work / "toolkit"), "OMP_NUM_THREADS": "1"}
    code = (
        f"import json, sys; sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); import js_latency; "
        f"texts = json.load(open({str(texts_file)!r})); "
        f"print(json.dumps(js_latency.measure_python({str(work / 'exported/emotion-mlp')!r}, texts)))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return {**json.loads(out), "rev": rev}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--data", default="../shared/datasets/emotion")
    parser.add_argument("--old-rev", default="527a02c", help="kdedge commit whose runtime and bundle are 'before'")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    from kdedge.data import load_dataset
    from kdedge.results import record_environment, write_json
    from kdedge.web import export_web

    texts = load_dataset(args.data).test.texts
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        rows = {"python": measure_python(args.bundle, texts)}
        rows["python_before"] = old_python(args.old_rev, texts_file, work / "old")
        export_web(args.bundle, work / "site")
        node = subprocess.run(
            ["node", "bench/latency.js", str(Path(args.bundle).resolve()), str(texts_file), str(work / "site")],
            cwd=ROOT / "toolkit/js",
            capture_output=True,
            text=True,
            check=True,
        )
        rows |= json.loads(node.stdout)
    result = {
        "what": "batch-1 end-to-end latency (raw text in, probabilities out), int8 ONNX model, one thread",
        "texts": f"{len(texts)} test texts of {args.data}, each once after {WARMUP} warm-up calls",
        "results": rows,
        **record_environment(),
    }
    write_json(args.output, result)
    for name, row in rows.items():
        part = f", tokenize p50 {row['tokenize']['p50_us']:.1f} us"
        print(f"{name:14s} p50 {row['p50_us']:7.1f} us  p90 {row['p90_us']:7.1f} us  p99 {row['p99_us']:7.1f} us{part}")


if __name__ == "__main__":
    main()

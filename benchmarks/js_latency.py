"""Batch-1 end-to-end latency of one bundle in Python, Node and headless Chromium (kdedge issue 13), one run.

Every runtime classifies the same texts one at a time (raw text in, probabilities out) with the int8 ONNX model
on one thread; p50/p90/p99 in microseconds. Python is measured with this checkout's runtime and tokenizer.json,
and with an older kdedge (`--old-rev`: its own code and its own shipped bundle, from a git archive), so the
tokenizer change is measured before/after on the same machine in the same run; the two alternate (`--rounds`,
each in a fresh process) and the least disturbed round of each is kept, every round's p50 recorded. The Python
rows also split the time: tokenizing, ONNX Runtime's `run` on ready ids, and the rest (softmax, Python calls).
A bundle exported with `--fused` also gets a row for its fused OpenVINO IR (text in, logits out).

python benchmarks/js_latency.py exported/emotion-mlp --output benchmarks/results/js-latency-emotion.json
(needs `npm ci` in toolkit/js and Chromium, as `make test` sets up)
"""

from __future__ import annotations

import argparse
import importlib.util
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


def measure_fused(bundle: str, texts: list[str]) -> dict:
    """The bundle's fused OpenVINO IR (tokenizer and int8 model in one graph, `kdedge export --fused`), text in,
    logits out, one thread."""
    import openvino as ov
    import openvino_tokenizers

    fused = json.loads((Path(bundle) / "manifest.json").read_text(encoding="utf-8"))["fused"]
    config = {**fused["compile_with"], "INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
    request = ov.Core().compile_model(str(Path(bundle) / fused["file"]), "CPU", config).create_infer_request()
    row = summary(time_each(lambda text: request.infer({0: [text]}), texts))
    return {**row, "versions": {"openvino": ov.__version__, "openvino_tokenizers": openvino_tokenizers.__version__}}


def python_process(code_root: Path, bundle: str, texts_file: Path) -> dict:
    """`measure_python` in a fresh process with the kdedge found under `code_root`/toolkit."""
    env = {**os.environ, "PYTHONPATH": str(code_root / "toolkit"), "OMP_NUM_THREADS": "1"}
    code = (
        f"import json, sys; sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); import js_latency; "
        f"texts = json.load(open({str(texts_file)!r})); "
        f"print(json.dumps(js_latency.measure_python({bundle!r}, texts)))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def old_checkout(rev: str, work: Path) -> Path:
    """kdedge and its shipped bundle as of `rev`, from a git archive."""
    archive = subprocess.run(
        ["git", "archive", rev, "toolkit/kdedge", "exported/emotion-mlp"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(work, filter="data")
    return work


def best_of(rounds: list[dict]) -> dict:
    """The round with the lowest p50 (the least disturbed by other work on a shared machine), and all rounds."""
    best = min(rounds, key=lambda row: row["p50_us"])
    return {**best, "rounds_p50_us": [row["p50_us"] for row in rounds]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--data", default="../shared/datasets/emotion")
    parser.add_argument("--old-rev", default="527a02c", help="kdedge commit whose runtime and bundle are 'before'")
    parser.add_argument("--rounds", type=int, default=3, help="alternating Python rounds, new and before")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    from kdedge.data import load_dataset
    from kdedge.results import record_environment, write_json
    from kdedge.web import export_web

    texts = load_dataset(args.data).test.texts
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        old = old_checkout(args.old_rev, work / "old")
        new, before = [], []
        for _ in range(args.rounds):  # alternated, so a burst of other work hits both sides alike
            new.append(python_process(ROOT, str(Path(args.bundle).resolve()), texts_file))
            before.append(python_process(old, str(old / "exported/emotion-mlp"), texts_file))
        rows = {"python": best_of(new), "python_before": {**best_of(before), "rev": args.old_rev}}
        fused = (Path(args.bundle) / "openvino/fused.int8.xml").is_file()
        if fused and importlib.util.find_spec("openvino_tokenizers"):  # the fused IR needs its operations
            rows["openvino_fused"] = measure_fused(args.bundle, texts)
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
        # other work on the machine disturbs the timings: the CPUs this run was pinned to and the load around it
        "cpus": sorted(os.sched_getaffinity(0)),
        "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
        **record_environment(),
    }
    write_json(args.output, result)
    for name, row in rows.items():
        part = f", tokenize p50 {row['tokenize']['p50_us']:.1f} us" if "tokenize" in row else ""
        print(f"{name:14s} p50 {row['p50_us']:7.1f} us  p90 {row['p90_us']:7.1f} us  p99 {row['p99_us']:7.1f} us{part}")


if __name__ == "__main__":
    main()

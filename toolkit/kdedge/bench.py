"""`kdedge bench`: accuracy, latency, throughput and memory of every model x runtime x precision.

Each variant is measured in a fresh subprocess (`python -m kdedge.bench VARIANT_JSON`), so one variant's
memory never counts against another and imports of one runtime never slow another. Every runtime gets the
same number of threads (the runtime runs a student's single texts on one OpenVINO thread, which is faster);
OpenVINO fp32 runs with INFERENCE_PRECISION_HINT=f32 (see `runtime.TextClassifier`).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# Published, verified Emotion test accuracies of the transformer baselines (not measured here), as cited in
# this project's teacher issue; shown next to latency and memory measured on randomly initialised models of
# the same architecture when no fine-tuned weights are given.
PUBLISHED = {
    "bert-base-uncased": {"accuracy": 0.9265, "source": "published verified figure cited in kdedge issue 3"},
    "distilbert-base-uncased": {"accuracy": 0.927, "source": "published verified figure cited in kdedge issue 3"},
}


@dataclass
class Variant:
    """One row of the benchmark: what to load and how to run it."""

    name: str
    kind: str  # bundle | student | teacher | teacher-onnx | tfidf | random-transformer
    path: str
    backend: str = "torch"
    precision: str = "fp32"
    extra: dict = field(default_factory=dict)


@dataclass
class Measurement:
    variant: dict
    predictions: list[int] | None
    label_names: list[str]
    published_accuracy: dict | None
    params: int | None
    size_bytes: int | None
    latency_us: dict
    tokenization_us_p50: float | None
    throughput: dict
    peak_rss_mb: float
    load_s: float
    evaluated_texts: int


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over
    from the parent through fork and exec, so a fresh worker would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _percentiles(samples: Sequence[float]) -> dict:
    values = np.asarray(samples) * 1e6
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 90, 99)} | {"calls": len(samples)}


def _time_calls(fn: Callable[[list[str]], object], texts: Sequence[str], calls: int, warmup: int) -> list[float]:
    for i in range(warmup):
        fn([texts[i % len(texts)]])
    samples = []
    for i in range(calls):
        text = [texts[i % len(texts)]]
        started = time.perf_counter()
        fn(text)
        samples.append(time.perf_counter() - started)
    return samples


def _throughput(
    fn: Callable[[list[str]], object], texts: Sequence[str], batch: int, minimum: int, seconds: float
) -> float:
    """Texts per second in batches of `batch`, over at least `minimum` texts or `seconds`, whichever comes first
    (at least one batch), so big transformers do not take minutes per row."""
    total, started = 0, time.perf_counter()
    while total < minimum and (total == 0 or time.perf_counter() - started < seconds):
        for start in range(0, len(texts), batch):
            chunk = list(texts[start : start + batch])
            fn(chunk)
            total += len(chunk)
            if total >= minimum or time.perf_counter() - started >= seconds:
                break
    return round(total / (time.perf_counter() - started), 1)


def _load(variant: Variant, threads: int) -> tuple[Callable, Callable | None, list[str], int | None]:
    """(predict ids, tokenize only, label names, parameter count) for a variant."""
    if variant.kind == "bundle":
        from .runtime import TextClassifier

        clf = TextClassifier.load(variant.path, variant.backend, variant.precision, threads=threads)
        params = clf.manifest["source"]["params"]
        return (lambda texts: clf.logits(texts).argmax(1)), clf.vocab.encode, clf.label_names, params
    import torch

    torch.set_num_threads(threads)
    if variant.kind == "student":
        from .students import Student

        student = Student.from_pretrained(variant.path)
        return (
            (lambda texts: student.logits(texts).argmax(1)),
            student.vocab.encode,
            student.label_names,
            student.params,
        )
    if variant.kind in ("teacher", "teacher-onnx"):
        from .teacher import OnnxTeacher, Teacher

        teacher = (
            Teacher.from_pretrained(variant.path)
            if variant.kind == "teacher"
            else OnnxTeacher(variant.path, variant.precision, threads=threads)
        )
        params = variant.extra.get("params") or getattr(teacher, "params", None)
        tokenize = lambda texts: teacher.tokenizer(list(texts), truncation=True, max_length=teacher.max_length)  # noqa: E731
        return (lambda texts: teacher.logits(texts).argmax(1)), tokenize, teacher.label_names, params
    if variant.kind == "tfidf":
        from .baselines import load_tfidf, tfidf_params

        pipeline, label_names = load_tfidf(variant.path)
        return pipeline.predict, pipeline.steps[0][1].transform, label_names, tfidf_params(pipeline)
    raise ValueError(f"unknown variant kind {variant.kind!r}")


def measure(variant: Variant, texts: list[str], evaluate: bool, threads: int, quick: bool) -> dict:
    """All figures of one variant but its accuracy, which the parent computes from the returned predictions:
    this process imports nothing but what the variant needs, so its peak memory is the variant's own."""
    started = time.perf_counter()
    predict, tokenize, label_names, params = _load(variant, threads)
    load_s = time.perf_counter() - started
    predictions = None
    if evaluate:
        predictions = np.concatenate([predict(texts[i : i + 256]) for i in range(0, len(texts), 256)]).tolist()
    probe = _time_calls(predict, texts, calls=20, warmup=3)
    per_call = statistics.median(probe)
    # enough calls for stable percentiles, within about 20 s (2 s in quick mode) per variant
    budget = 2.0 if quick else 20.0
    calls = int(min(5000 if not quick else 300, max(50, budget / max(per_call, 1e-6))))
    latency = _percentiles(_time_calls(predict, texts, calls=calls, warmup=min(200, calls // 5)))
    tokenization = _percentiles(_time_calls(tokenize, texts, calls=min(calls, 2000), warmup=20))["p50"]
    minimum = max(64, int(min(len(texts), 4 * 1024) * (0.25 if quick else 1)))
    throughput = {f"batch_{b}": _throughput(predict, texts, b, minimum, budget / 2) for b in (64, 1024)}
    path = Path(variant.path)
    if variant.kind in ("bundle", "teacher-onnx"):  # folders with fp32 and int8 models: count the one that ran
        from .runtime import MODEL_FILES

        model_file = path / MODEL_FILES[variant.backend, variant.precision]
        size = model_file.stat().st_size
        if variant.backend == "openvino":
            size += model_file.with_suffix(".bin").stat().st_size
    else:
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else None
    return asdict(
        Measurement(
            variant=asdict(variant),
            predictions=predictions,
            label_names=label_names,
            published_accuracy=variant.extra.get("published"),
            params=params,
            size_bytes=size,
            latency_us=latency,
            tokenization_us_p50=tokenization,
            throughput=throughput,
            peak_rss_mb=peak_rss_mb(),
            load_s=round(load_s, 3),
            evaluated_texts=len(texts),
        )
    )


def run_worker(variant: Variant, texts_file: Path, threads: int, quick: bool, timeout: int = 1800) -> dict:
    """Measure one variant in a fresh Python process and return its figures. The process reads the test texts
    from `texts_file`, not the dataset, so its peak memory is what an app classifying texts would need."""
    spec = json.dumps({"variant": asdict(variant), "texts_file": str(texts_file), "threads": threads, "quick": quick})
    proc = subprocess.run([sys.executable, "-m", "kdedge.bench", spec], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"variant": asdict(variant), "error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sample_texts(data: str, quick: bool) -> tuple[list[str], np.ndarray, dict]:
    from .data import load_dataset

    dataset = load_dataset(data)
    texts, labels = dataset.test.texts, dataset.test.labels
    if quick:  # a fixed, seeded sample keeps CI fast and still exercises every code path
        index = np.random.default_rng(0).permutation(len(texts))[:200]
        texts, labels = [texts[i] for i in index], labels[index]
    return texts, labels, dataset.describe()


def discover(path: str | Path) -> list[Variant]:
    """The variants a path offers: a bundle's four runtimes, a student, a teacher, a TF-IDF model."""
    path = Path(path)
    name = path.name
    if (path / "manifest.json").is_file():
        from .runtime import MODEL_FILES, read_manifest

        manifest = read_manifest(path)
        variants = [
            Variant(f"{name} {backend} {precision}", "bundle", str(path), backend, precision)
            for backend, precision in MODEL_FILES
        ]
        source = Path(manifest["source"]["path"])
        if (source / "model.safetensors").is_file():
            variants.insert(0, Variant(f"{name} torch fp32", "student", str(source)))
        return variants
    if (path / "kdedge_teacher.json").is_file():
        meta = json.loads((path / "kdedge_teacher.json").read_text())
        if "fingerprint" in meta:  # exported to ONNX
            return [
                Variant(
                    f"{name} onnxruntime int8",
                    "teacher-onnx",
                    str(path),
                    "onnxruntime",
                    "int8",
                    extra={"params": meta["params"], **meta.get("bench", {})},
                )
            ]
        return [Variant(f"{name} torch fp32", "teacher", str(path), extra=meta.get("bench", {}))]
    from .baselines import TFIDF_MODEL
    from .errors import KdedgeError

    if (path / TFIDF_MODEL).is_file():
        return [Variant(f"{name} scikit-learn", "tfidf", str(path))]
    if (path / "model.safetensors").is_file() and (path / "vocab.json").is_file():
        return [Variant(f"{name} torch fp32", "student", str(path))]
    if any(path.glob("*.pkl")):
        raise KdedgeError(f"{path}: kdedge never loads pickle files (loading one can run any code); re-save the model")
    raise KdedgeError(f"{path}: not a bundle, student, teacher or TF-IDF model folder")


def random_transformer(architecture: str, label_names: list[str], folder: Path, log) -> list[Path]:
    """A randomly initialised model of a published architecture, saved as a teacher folder and exported to
    ONNX int8: real speed and memory of BERT-base / DistilBERT without their weights (offline)."""
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    from .export import export_teacher
    from .teacher import Teacher, default_base_model

    torch_dir, onnx_dir = folder / architecture, folder / f"{architecture}-onnx"
    if not (onnx_dir / "model.int8.onnx").is_file():
        log(f"building {architecture} with random weights (published architecture) and exporting it to ONNX")
        # all-MiniLM-L6-v2 uses bert-base-uncased's WordPiece vocabulary, so its tokenizer stands in offline
        tokenizer = AutoTokenizer.from_pretrained(default_base_model())
        if architecture == "bert-base-uncased":
            model = BertForSequenceClassification(BertConfig(num_labels=len(label_names)))
        else:
            model = DistilBertForSequenceClassification(DistilBertConfig(num_labels=len(label_names)))
        bench_meta = {"published": PUBLISHED[architecture], "architecture": architecture}
        Teacher(model, tokenizer, label_names, max_length=128).save_pretrained(
            torch_dir, extra={"bench": bench_meta}, force=True
        )
        export_teacher(torch_dir, onnx_dir, int8=True, force=True, log=log)
    return [torch_dir, onnx_dir]


def run(
    targets: Sequence[str],
    data: str | None = None,
    baselines: bool = False,
    baseline_models: Sequence[str] = (),
    quick: bool = False,
    out: str | Path = "benchmarks/results",
    threads: int | None = None,
    work: str | Path = "runs/bench",
    log=print,
) -> dict:
    """Measure every variant of `targets` (plus the baselines), write JSON, a markdown table and plots."""
    import datetime as dt
    import os

    from tqdm.auto import tqdm

    from .data import default_source
    from .results import machine, record_environment, write_bytes, write_json

    data = data or default_source()
    threads = threads or os.cpu_count() or 1
    texts, labels, dataset = sample_texts(data, quick)
    work = Path(work)
    paths = list(targets)
    if baselines:
        paths += _baseline_paths(data, work, log)
        paths += baseline_models or [
            p
            for arch in ("distilbert-base-uncased", "bert-base-uncased")
            for p in map(str, random_transformer(arch, dataset["label_names"], work, log))
        ]
    variants = [variant for path in paths for variant in discover(path)]
    work.mkdir(parents=True, exist_ok=True)
    texts_file = work / "texts.json"
    write_json(texts_file, texts)
    rows = []
    labels_list = labels.tolist()
    bar = tqdm(variants, desc="bench", unit="variant")
    for variant in bar:
        bar.set_postfix_str(variant.name)
        row = run_worker(variant, texts_file, threads, quick)
        if "error" in row:
            log(f"  {variant.name}: failed: {row['error']}")
        else:
            row.update(_accuracy(row["predictions"], row["label_names"], labels, dataset["label_names"]))
        rows.append(row)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "benchmark": "kdedge bench",
        "dataset": dataset,
        "quick": quick,
        "texts_evaluated": len(texts),
        "threads": threads,
        "machine": machine(),
        "openvino_fp32_precision_hint": "f32",
        "labels": labels_list,  # with each row's predictions: paired tests between any two rows
        "rows": rows,
        **record_environment(),
    }
    out = Path(out)
    base = out / f"{dataset['name']}{'-quick' if quick else ''}-{stamp}"
    write_json(base.with_suffix(".json"), result)
    write_bytes(base.with_suffix(".md"), table(result).encode())
    plot(result, base)
    log(f"results: {base}.json, {base}.md, {base}-size.png, {base}-latency.png")
    return result


def _accuracy(predictions: list[int] | None, names: list[str], labels: np.ndarray, dataset_names: list[str]) -> dict:
    from .evaluate import evaluate

    if predictions is None:
        return {"accuracy": None, "macro_f1": None}
    if names != dataset_names:
        from .errors import KdedgeError

        raise KdedgeError(f"a model's labels {names} are not the dataset's {dataset_names}")
    metrics = evaluate(labels, predictions, names)
    keys = ("accuracy", "accuracy_ci95", "macro_f1", "per_class_f1")
    return {key: metrics[key] for key in keys}


def _baseline_paths(data: str, work: Path, log) -> list[str]:
    """TF-IDF + LR and the gold-label MLP, trained once into the work folder."""
    from . import baselines
    from .data import load_dataset

    paths = []
    for name in ("tfidf-lr", "mlp"):
        folder = work / f"baseline-{name}"
        if not folder.is_dir():
            log(f"training the {name} baseline")
            baselines.run(name, load_dataset(data), save=folder, progress=False)
        paths.append(str(folder))
    return paths


def table(result: dict) -> str:
    """The markdown table of a benchmark result."""
    from .evaluate import wilson_interval

    head = (
        "| model / runtime | params | size | test acc % | macro-F1 % | p50 us | p90 us | p99 us | tokenize p50 us "
        "| texts/s @64 | texts/s @1024 | peak RSS MB |\n|" + "---|" * 12
    )
    lines = [head]
    for row in result["rows"]:
        name = row["variant"]["name"]
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error']} |" + " |" * 10)
            continue
        if row["accuracy"] is not None:
            low, high = row.get("accuracy_ci95") or wilson_interval(row["accuracy"], result["texts_evaluated"])
            interval = f" ({100 * low:.1f}-{100 * high:.1f})"
            accuracy, f1 = f"{100 * row['accuracy']:.2f}{interval}", f"{100 * row['macro_f1']:.2f}"
        else:
            published = row["published_accuracy"]
            accuracy, f1 = f"{100 * published['accuracy']:.2f} (published, not measured)", "n/a"
        lat = row["latency_us"]
        size = f"{row['size_bytes'] / 1024:,.0f} KiB" if row["size_bytes"] else ""
        lines.append(
            f"| {name} | {row['params']:,} | {size} | {accuracy} | {f1} | {lat['p50']:,} | {lat['p90']:,} | "
            f"{lat['p99']:,} | {row['tokenization_us_p50']:,} | {row['throughput']['batch_64']:,} | "
            f"{row['throughput']['batch_1024']:,} | {row['peak_rss_mb']} |"
        )
    m = result["machine"]
    lines.append(
        f"\n{result['texts_evaluated']:,} test texts of {result['dataset']['name']}; {result['threads']} threads for "
        f"every runtime (OpenVINO runs single texts on one, which is faster for a student); "
        f"CPU {m.get('cpu')} ({', '.join(m.get('isa', []))}); latency is end to end at batch 1 "
        f"(raw text in, label out); test accuracy with its 95% Wilson interval. Command: `{result['command']}`"
    )
    return "\n".join(lines + targets(result["rows"], result.get("labels"))) + "\n"


# The product's targets (kdedge issue 6), checked on every run that has the rows they compare.
TARGETS = {"student_p50_us": 50.0, "speedup_vs_distilbert_int8": 100.0, "student_peak_rss_mb": 80.0, "gap_points": 1.0}


def targets(rows: list[dict], labels: list[int] | None = None) -> list[str]:
    """Plain-words lines saying which targets this run met and which it missed, with the measured figures;
    with the test labels, the student-teacher difference comes with its paired test."""
    ok = [r for r in rows if "error" not in r]
    student = min(
        (r for r in ok if r["variant"]["kind"] == "bundle" and r["variant"]["precision"] == "int8"),
        key=lambda r: r["latency_us"]["p50"],
        default=None,
    )
    if student is None:
        return []
    name, p50 = student["variant"]["name"], student["latency_us"]["p50"]

    def line(met: bool, text: str) -> str:
        return f"- {'met' if met else '**MISSED**'}: {text}"

    out = [
        "",
        "Targets (kdedge issue 6), for the fastest int8 student runtime, " + name + ":",
        "",
        line(p50 <= TARGETS["student_p50_us"], f"p50 latency {p50:,} us (target <= {TARGETS['student_p50_us']:g} us)"),
        line(
            student["peak_rss_mb"] <= TARGETS["student_peak_rss_mb"],
            f"peak RSS {student['peak_rss_mb']} MB (target <= {TARGETS['student_peak_rss_mb']:g} MB)",
        ),
    ]
    distilbert = min(
        (r for r in ok if "distilbert" in r["variant"]["name"] and r["variant"]["precision"] == "int8"),
        key=lambda r: r["latency_us"]["p50"],
        default=None,
    )
    if distilbert:
        speedup = distilbert["latency_us"]["p50"] / p50
        out.append(
            line(
                speedup >= TARGETS["speedup_vs_distilbert_int8"],
                f"{speedup:,.0f}x lower p50 than {distilbert['variant']['name']} "
                f"(target >= {TARGETS['speedup_vs_distilbert_int8']:g}x)",
            )
        )
    teacher = max(
        (r for r in ok if r["variant"]["kind"] == "teacher" and r["accuracy"]),
        key=lambda r: r["accuracy"],
        default=None,
    )
    if teacher and student["accuracy"] is not None:
        gap = 100 * (teacher["accuracy"] - student["accuracy"])
        paired = "; no paired test: this run kept no per-text predictions, so the difference may be noise"
        if labels and student.get("predictions") and teacher.get("predictions"):
            from .evaluate import mcnemar

            test = mcnemar(labels, student["predictions"], teacher["predictions"])
            verdict = "on par with" if test["verdict"] == "on par" else test["verdict"] + " than"
            paired = f"; {verdict} the teacher by an exact McNemar test, p={test['p_value']:.2f}"
        out.append(
            line(
                gap <= TARGETS["gap_points"],
                f"{abs(gap):.2f} points {'below' if gap >= 0 else 'above'} the teacher {teacher['variant']['name']} "
                f"(target <= {TARGETS['gap_points']:g}{paired})",
            )
        )
    return out


def plot(result: dict, base: Path) -> None:
    """Accuracy vs model size (log scale, as in the reference's figure) and accuracy vs latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One point per model, at its fastest runtime. A model's runtimes share its parameter count (the exported
    # teacher and the torch teacher too), so rows are grouped by it and named after the first one.
    best: dict[int, tuple[str, dict]] = {}
    for row in result["rows"]:
        if "error" in row:
            continue
        model = row["variant"]["name"].rsplit(" ", 2)[0].removesuffix("-onnx")
        name, fastest = best.get(row["params"], (model, row))
        best[row["params"]] = (name, row if row["latency_us"]["p50"] < fastest["latency_us"]["p50"] else fastest)
    for suffix, x_of, label in (
        ("size", lambda r: r["params"], "parameters (log scale)"),
        ("latency", lambda r: r["latency_us"]["p50"], "p50 latency at batch 1, microseconds (log scale)"),
    ):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for name, row in best.values():
            measured = row["accuracy"] is not None
            accuracy = 100 * (row["accuracy"] if measured else row["published_accuracy"]["accuracy"])
            runtime = row["variant"]["name"].removeprefix(row["variant"]["name"].rsplit(" ", 2)[0]).strip()
            legend = f"{name} ({runtime})" + ("" if measured else ", published accuracy")
            ax.scatter(x_of(row), accuracy, marker="o" if measured else "x", s=60, label=legend)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy %")
        ax.set_title(f"{result['dataset']['name']}: accuracy vs {suffix}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.tight_layout()
        fig.savefig(f"{base}-{suffix}.png", dpi=120)
        plt.close(fig)


def _worker_main(spec: dict) -> None:
    variant = Variant(**spec["variant"])
    texts = json.loads(Path(spec["texts_file"]).read_text(encoding="utf-8"))
    # random weights: speed and memory only, the accuracy shown is the published one
    evaluate = not variant.extra.get("published")
    print(json.dumps(measure(variant, texts, evaluate, spec["threads"], spec["quick"])))


if __name__ == "__main__":
    _worker_main(json.loads(sys.argv[1]))

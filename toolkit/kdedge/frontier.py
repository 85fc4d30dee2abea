"""The accuracy-size-latency frontier that `kdedge distill --student auto` walks: what each candidate student
costs (parameters, batch-1 latency in the runtime that ships it) and buys (validation accuracy), next to the
teacher and gold-label references (TF-IDF + LR, fastText), as a table and a plot.
"""

from __future__ import annotations

import importlib.util
import itertools
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from .data import TextDataset
from .runtime import onnx_session
from .students import Student


def latency_us(student: Student, texts: Sequence[str], calls: int = 300) -> float:
    """Median end-to-end latency of one text (raw text in, logits out) in ONNX Runtime fp32 on one thread: the
    student exported as a bundle would run it. Training does not change it, so an untrained student will do."""
    from .export import export_onnx
    from .graph import simplify

    texts = list(texts)[:calls] or ["hello"]
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on the GRU and dynamic axes; the bundle export says them
        path = Path(work) / "model.onnx"
        export_onnx(student.model, torch.from_numpy(student.vocab.encode(texts[:4])), path)  # as export does
        simplify(path, [student.vocab.encode(texts[:20]), *(student.vocab.encode([text]) for text in texts[:5])])
        session = onnx_session(path, threads=1)
        name = session.get_inputs()[0].name
        for text in texts[:20]:  # warm-up
            session.run(None, {name: student.vocab.encode([text])})
        samples = []
        for text in texts:
            started = time.perf_counter()
            session.run(None, {name: student.vocab.encode([text])})
            samples.append(time.perf_counter() - started)
    return round(1e6 * statistics.median(samples), 1)


def gold_references(dataset: TextDataset, tfidf: dict, seed: int = 0, progress: bool = False) -> list[dict]:
    """The frontier's gold-label reference points: TF-IDF + LR (`tfidf`: the teacher's comparison with it, see
    `compare_with_tfidf`) and, when the `fasttext-wheel` package is installed, fastText, with validation accuracy,
    parameters and one-text latency (raw text in, one thread), so a user sees what distillation buys at each
    size."""
    from .baselines import fasttext_params, fit_fasttext, one_text_latency_us

    points = [
        {
            "name": "tfidf-lr (gold labels)",
            "kind": "reference",
            "params": tfidf["baseline_params"],
            "latency_us": tfidf.get("baseline_latency_us"),
            "val_accuracy": tfidf["baseline_accuracy"],
        }
    ]
    if importlib.util.find_spec("fasttext") is None:
        return points
    model, predict, _, selection = fit_fasttext(dataset, seed, progress)
    points.append(
        {
            "name": "fasttext (gold labels)",
            "kind": "reference",
            "params": fasttext_params(model),
            "latency_us": one_text_latency_us(predict, dataset.validation.texts, calls=300),
            "val_accuracy": selection["best_val_accuracy"],
        }
    )
    return points


def table(frontier: dict) -> str:
    """The frontier in plain text: one line per point, smallest first."""
    width = max(24, *(len(point["name"]) for point in frontier["points"]))
    lines = [f"{'candidate':<{width}} {'parameters':>12} {'latency us':>11} {'val acc %':>10}  note"]
    for point in sorted(frontier["points"], key=lambda p: p["params"] or 0):
        latency = f"{point['latency_us']:,.1f}" if point.get("latency_us") is not None else "-"
        params = f"{point['params']:,}" if point.get("params") else "-"
        accuracy = f"{100 * point['val_accuracy']:.2f}" if point.get("val_accuracy") is not None else "-"
        lines.append(f"{point['name']:<{width}} {params:>12} {latency:>11} {accuracy:>10}  {point.get('note', '')}")
    return "\n".join(lines)


REFERENCE_MARKERS = "sD^v"  # a grey marker per gold-label reference, in turn


def plot(frontier: dict, path: str | Path) -> None:
    """Validation accuracy against parameters and against batch-1 latency (log scales), the teacher as a line
    with the tolerance band under it, gold-label references as grey points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    teacher, tolerance = frontier["teacher_val_accuracy"], frontier["tolerance"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for axis, key, label in zip(axes, ("params", "latency_us"), ("parameters", "batch-1 latency, us (ONNX Runtime)")):
        axis.axhline(100 * teacher, color="black", linewidth=1, label="teacher")
        axis.axhspan(100 * (teacher - tolerance), 100 * teacher, color="0.9", label=f"within {100 * tolerance:g} pt")
        references = itertools.cycle(REFERENCE_MARKERS)
        for point in frontier["points"]:
            if point.get(key) is None or point.get("val_accuracy") is None:
                continue
            style = {"color": "0.5", "marker": next(references)} if point["kind"] == "reference" else {"marker": "o"}
            if point.get("chosen"):
                style.update(markersize=12, markeredgecolor="red", markeredgewidth=2)
            axis.plot(point[key], 100 * point["val_accuracy"], linestyle="none", label=point["name"], **style)
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # labels on every minor tick of a short decade overlap
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy %")
    # beside the plots, not over them: a legend inside can hide the points it names
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(f"{frontier['dataset']}: students along the accuracy-size-latency frontier")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)

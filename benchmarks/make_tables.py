"""Render benchmarks/README.md's tables from the committed result files (no figure is typed by hand).

python benchmarks/make_tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
START, END = "<!-- tables:start -->", "<!-- tables:end -->"


def _load(pattern: str) -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(RESULTS.glob(pattern))]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def models_table() -> str:
    rows = [
        "| model | params | val acc % | test acc % | test macro-F1 % | result file | command |",
        "|---|---|---|---|---|---|---|",
    ]
    found = _load("baseline-*.json") + _load("teacher-*.json") + _load("distill/*.json")
    for path, r in found:
        val = r.get("val_accuracy") or r.get("selection", {}).get("best_val_accuracy")
        transfer = r.get("transfer_set")
        name = r["model"]
        if transfer:
            parts = [f"{transfer['train_texts']:,} train"]
            if transfer["unlabeled_texts"]:
                parts.append(f"{transfer['unlabeled_texts']:,} unlabeled")
            if transfer["augmented_texts"]:
                parts.append(f"{transfer['augmented_texts']:,} augmented")
            options = ", ".join(f"{k}={v}" for k, v in r["student"]["options"].items())
            name += f" ({options}; {' + '.join(parts)})"
        rows.append(
            f"| {name} | {r['params']:,} | {_pct(val)} | {_pct(r['accuracy'])} | {_pct(r['macro_f1'])} | "
            f"`{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    return "\n".join(rows)


def speed_table() -> str:
    rows = ["| what | figure | result file | command |", "|---|---|---|---|"]
    for path, r in _load("label-throughput-*.json"):
        rows.append(
            f"| teacher labeling, {r['backend']} {r['precision']}, batch {r['batch_size']} | "
            f"{r['texts_per_second']} texts/s | `{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    for path, r in _load("text-pipeline-*.json"):
        rows.append(
            f"| student text pipeline, batch | {r['batch_encode_texts_per_s_median']:,} texts/s | "
            f"`{path.relative_to(HERE)}` | `{r['command']}` |"
        )
        rows.append(
            f"| student text pipeline, one text | {r['single_text_encode_us_median']} us | "
            f"`{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    return "\n".join(rows)


def main() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    tables = (
        f"{START}\n## Models on Emotion (test: 2,000 tweets)\n\n{models_table()}\n\n## Speed\n\n{speed_table()}\n{END}"
    )
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + tables + tail)


if __name__ == "__main__":
    main()

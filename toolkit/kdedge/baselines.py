"""Gold-label baselines: TF-IDF + logistic regression, the 80K-parameter MLP, and the CNN/BiLSTM students, no teacher.

They are the bar a distilled student has to clear (steps 1 and 2 of the reference).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from .data import TextDataset
from .errors import BundleError
from .evaluate import evaluate
from .results import atomic_folder, record, write_json
from .students import Student, fit
from .text import Vocabulary

# Regularisation strengths tried for logistic regression; the best on validation is kept.
TFIDF_C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
# A saved TF-IDF model: scikit-learn objects in skops' format (no pickle: loading runs no code of the file's
# choosing), beside a config with the label names.
TFIDF_FORMAT, TFIDF_MODEL = "kdedge-tfidf-lr", "model.skops"
FORMAT_VERSION = 1  # of the config.json beside a saved baseline (TF-IDF, fastText)
# The one non-scikit-learn object such a file may hold: kdedge's own word splitter, named by the vectorizer.
TFIDF_TRUSTED = ["kdedge.text.tokenize"]


def fit_tfidf_lr(dataset: TextDataset, seed: int = 0, progress: bool = True) -> tuple:
    """TF-IDF over word 1-2-grams + logistic regression, with C chosen on the validation split.

    Returns the fitted pipeline and the search (every C with its validation accuracy, and the chosen one)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from tqdm.auto import tqdm

    from .text import tokenize

    search = []
    best = None
    for c in tqdm(TFIDF_C_GRID, desc="tfidf-lr C", disable=not progress):
        pipeline = make_pipeline(
            TfidfVectorizer(
                tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True, min_df=1
            ),
            LogisticRegression(C=c, max_iter=2000, random_state=seed),
        )
        pipeline.fit(dataset.train.texts, dataset.train.labels)
        accuracy = float((pipeline.predict(dataset.validation.texts) == dataset.validation.labels).mean())
        search.append({"C": c, "val_accuracy": accuracy})
        if best is None or accuracy > best[0]:
            best = (accuracy, c, pipeline)
    val_accuracy, c, pipeline = best
    return pipeline, {"criterion": "validation accuracy", "C": c, "best_val_accuracy": val_accuracy, "search": search}


def tfidf_lr(
    dataset: TextDataset, seed: int = 0, save: str | Path | None = None, progress: bool = True, force: bool = False
) -> dict:
    """TF-IDF + logistic regression (`fit_tfidf_lr`), evaluated on the test split."""
    pipeline, selection = fit_tfidf_lr(dataset, seed, progress)
    c = selection.pop("C")
    metrics = evaluate(dataset.test.labels, pipeline.predict(dataset.test.texts), dataset.label_names)
    vectorizer, params = pipeline.steps[0][1], tfidf_params(pipeline)
    if save:
        import skops.io

        _save(save, force, TFIDF_FORMAT, dataset.label_names, lambda tmp: skops.io.dump(pipeline, tmp / TFIDF_MODEL))
    return record(
        "tfidf-lr",
        dataset.describe(),
        "test",
        metrics,
        params,
        seed,
        hyperparameters={
            "C": c,
            "ngram_range": [1, 2],
            "sublinear_tf": True,
            "vocabulary": len(vectorizer.vocabulary_),
        },
        selection=selection,
    )


# fastText (Joulin et al. 2017) settings tried; the best on validation is kept. 200k hash buckets for word
# bigrams keep the model at ~10M parameters (its default 2M buckets would take 800 MB).
FASTTEXT_GRID = [
    {"epoch": epoch, "lr": lr, "wordNgrams": n, "dim": 50, "bucket": 200_000}
    for epoch in (5, 25, 100)
    for lr in (0.1, 0.5, 1.0)
    for n in (1, 2)
]


def fit_fasttext(dataset: TextDataset, seed: int = 0, progress: bool = True) -> tuple:
    """fastText supervised on gold labels (the `fasttext-wheel` package), settings chosen on validation.

    Returns the model, a `predict` (texts -> label ids, raw text in) and the search."""
    import tempfile

    import fasttext as ft
    from tqdm.auto import tqdm

    from .text import tokenize

    def line(text: str) -> str:
        return " ".join(tokenize(text))  # fastText splits on whitespace; this is the word split TF-IDF uses

    def predict(texts: Sequence[str]) -> list[int]:
        return [int(labels[0].removeprefix("__label__")) for labels in model.predict([line(t) for t in texts])[0]]

    with tempfile.TemporaryDirectory() as work:
        train_file = Path(work) / "train.txt"
        rows = (f"__label__{y} {line(t)}\n" for t, y in zip(dataset.train.texts, dataset.train.labels))
        train_file.write_text("".join(rows), encoding="utf-8")
        search, best = [], None
        for settings in tqdm(FASTTEXT_GRID, desc="fasttext", disable=not progress):
            model = ft.train_supervised(str(train_file), thread=1, seed=seed, verbose=0, **settings)
            accuracy = float((np.array(predict(dataset.validation.texts)) == dataset.validation.labels).mean())
            search.append({**settings, "val_accuracy": accuracy})
            if best is None or accuracy > best[0]:
                best = (accuracy, settings, model)
    val_accuracy, settings, model = best
    selection = {"criterion": "validation accuracy", "best_val_accuracy": val_accuracy, "search": search}
    return model, predict, settings, selection


def fasttext_params(model) -> int:
    return int(model.get_input_matrix().size + model.get_output_matrix().size)


def one_text_latency_us(predict: Callable[[list[str]], object], texts: Sequence[str], calls: int = 1000) -> float:
    """Median seconds, in us, of `predict` on one raw text at a time (after a short warm-up)."""
    texts = list(texts)[:calls]
    for text in texts[:20]:
        predict([text])
    samples = []
    for text in texts:
        started = time.perf_counter()
        predict([text])
        samples.append(time.perf_counter() - started)
    return round(1e6 * float(np.median(samples)), 1)


def fasttext(
    dataset: TextDataset, seed: int = 0, save: str | Path | None = None, progress: bool = True, force: bool = False
) -> dict:
    """fastText (`fit_fasttext`), evaluated on the test split: the classic fast linear text classifier, a
    reference point for what distillation buys at each size."""
    model, predict, settings, selection = fit_fasttext(dataset, seed, progress)
    metrics = evaluate(dataset.test.labels, predict(dataset.test.texts), dataset.label_names)
    if save:  # fastText's own binary format, not a pickle
        _save(save, force, "kdedge-fasttext", dataset.label_names, lambda tmp: model.save_model(str(tmp / "model.bin")))
    return record(
        "fasttext",
        dataset.describe(),
        "test",
        metrics,
        fasttext_params(model),
        seed,
        hyperparameters={**settings, "threads": 1, "words": len(model.words)},
        selection=selection,
        latency_us_p50_one_text=one_text_latency_us(predict, dataset.test.texts),
        latency_note="one text at a time, raw text in (kdedge's word split + fastText predict), one thread",
    )


def _save(path: str | Path, force: bool, kind: str, label_names: list[str], write: Callable[[Path], None]) -> None:
    """A baseline's folder: its model file (written by `write`) and a config with its format and label names."""
    with atomic_folder(path, force=force) as tmp:
        write(tmp)
        config = {"format": kind, "format_version": FORMAT_VERSION, "label_names": label_names}
        (tmp / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")


def tfidf_params(pipeline) -> int:
    """Parameters of a TF-IDF + LR pipeline: the classifier's weights and biases."""
    classifier = pipeline.steps[-1][1]
    return int(classifier.coef_.size + classifier.intercept_.size)


def load_tfidf(path: str | Path):
    """(pipeline, label names) of a TF-IDF model saved by `tfidf_lr`; anything else is refused in one line."""
    import skops.io

    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if config.get("format") != TFIDF_FORMAT or config.get("format_version") != FORMAT_VERSION:
            raise BundleError(f"{path}: not a {TFIDF_FORMAT} v{FORMAT_VERSION} model")
        untrusted = set(skops.io.get_untrusted_types(file=path / TFIDF_MODEL)) - set(TFIDF_TRUSTED)
        if untrusted:
            raise BundleError(f"{path}: {TFIDF_MODEL} holds types kdedge does not load: {', '.join(sorted(untrusted))}")
        pipeline = skops.io.load(path / TFIDF_MODEL, trusted=TFIDF_TRUSTED)
        label_names = [str(name) for name in config["label_names"]]
    except BundleError:
        raise
    except Exception as err:  # skops and JSON raise many types for a damaged file; the user needs one line
        raise BundleError(f"{path}: not a loadable TF-IDF model ({type(err).__name__}: {err})") from None
    return pipeline, label_names


def mlp(
    dataset: TextDataset,
    seed: int = 0,
    save: str | Path | None = None,
    force: bool = False,
    vocab_size: int = 5000,
    dim: int = 16,
    epochs: int = 40,
    lr: float = 3e-3,
    batch_size: int = 64,
    progress: bool = True,
) -> dict:
    """The reference MLP (embedding 5,000 x 16, masked mean, linear) on gold labels, early-stopped on validation."""
    vocab = Vocabulary.build(dataset.train.texts, size=vocab_size)
    student = Student.create("mlp", vocab, dataset.label_names, seed=seed, dim=dim, pooling="mean")
    report = fit(
        student.model,
        vocab.encode(dataset.train.texts, pad_to="max"),
        dataset.train.labels,
        vocab.encode(dataset.validation.texts, pad_to="max"),
        dataset.validation.labels,
        loss="ce",
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        desc="mlp",
    )
    metrics = evaluate(dataset.test.labels, student.logits(dataset.test.texts).argmax(1), dataset.label_names)
    if save:
        student.save_pretrained(save, force=force)
    return record(
        "mlp",
        dataset.describe(),
        "test",
        metrics,
        student.params,
        seed,
        hyperparameters={
            "vocab_size": vocab_size,
            "dim": dim,
            "pooling": "mean",
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "optimizer": "AdamW, cosine decay",
            "loss": "ce",
        },
        selection={"criterion": "validation accuracy (early stopping)", **report},
    )


def gold_student(
    dataset: TextDataset,
    architecture: str,
    seed: int = 0,
    save: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    vocab_size: int | None = None,
) -> dict:
    """A distillation student (distill's default settings for it) trained on the gold labels alone.

    Distilled and gold-label students then differ only in their targets, which isolates what the teacher adds.
    """
    from dataclasses import asdict, replace

    from .distill import DEFAULT_OPTIONS, StudentConfig, train_student

    config = StudentConfig(architecture=architecture, options=dict(DEFAULT_OPTIONS[architecture]), loss="ce", seed=seed)
    if vocab_size:
        config = replace(config, vocab_size=vocab_size)
    student, report = train_student(dataset, dataset.train.texts, dataset.train.labels, config, progress)
    metrics = evaluate(dataset.test.labels, student.logits(dataset.test.texts).argmax(1), dataset.label_names)
    if save:
        student.save_pretrained(save, force=force)
    return record(
        f"gold-{architecture}",
        dataset.describe(),
        "test",
        metrics,
        student.params,
        seed,
        hyperparameters=asdict(config),
        selection={"criterion": "validation accuracy (early stopping)", **report},
    )


BASELINES = {
    "tfidf-lr": tfidf_lr,
    "fasttext": fasttext,
    "mlp": mlp,
    "gold-mlp": partial(gold_student, architecture="mlp"),
    "cnn": partial(gold_student, architecture="cnn"),
    "bilstm": partial(gold_student, architecture="bilstm"),
}


def run(name: str, dataset: TextDataset, output: str | Path | None = None, **kwargs) -> dict:
    """Train and evaluate one baseline; write its result JSON when `output` is given."""
    result = BASELINES[name](dataset, **kwargs)
    if output:
        write_json(output, result)
    return result

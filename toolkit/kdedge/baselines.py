"""Gold-label baselines: TF-IDF + logistic regression, the 80K-parameter MLP, and the CNN/BiLSTM students, no teacher.

They are the bar a distilled student has to clear (steps 1 and 2 of the reference).
"""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

from .data import TextDataset
from .evaluate import evaluate
from .results import atomic_folder, record, write_json
from .students import Student, fit
from .text import Vocabulary

# Regularisation strengths tried for logistic regression; the best on validation is kept.
TFIDF_C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)


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


def tfidf_lr(dataset: TextDataset, seed: int = 0, save: str | Path | None = None, progress: bool = True) -> dict:
    """TF-IDF + logistic regression (`fit_tfidf_lr`), evaluated on the test split."""
    pipeline, selection = fit_tfidf_lr(dataset, seed, progress)
    c = selection.pop("C")
    metrics = evaluate(dataset.test.labels, pipeline.predict(dataset.test.texts), dataset.label_names)
    vectorizer, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    params = int(classifier.coef_.size + classifier.intercept_.size)
    if save:
        with atomic_folder(save, force=True) as tmp:
            (tmp / "model.pkl").write_bytes(pickle.dumps({"pipeline": pipeline, "label_names": dataset.label_names}))
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


def mlp(
    dataset: TextDataset,
    seed: int = 0,
    save: str | Path | None = None,
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
        student.save_pretrained(save)
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
        student.save_pretrained(save)
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

"""`kdedge distill`: teacher -> transfer set -> soft labels -> tiny student, in one call.

The student is trained with one loss for every example, labelled or not: the KL divergence between the
teacher's and the student's label distributions (the reference's simplification of Hinton et al.).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .augment import Augmenter, remove_leaks
from .data import TextDataset, read_texts
from .errors import KdedgeError
from .evaluate import evaluate
from .results import record
from .softlabels import SoftLabels, label_texts
from .students import Student, fit
from .text import Vocabulary

# Options each student is distilled with unless told otherwise (attention pooling was the best mlp pooling).
DEFAULT_OPTIONS = {
    "mlp": {"dim": 16, "pooling": "attention"},
    "cnn": {"dim": 64, "filters": 128, "kernel": 3},
    "bilstm": {"dim": 64, "hidden": 64},
}


@dataclass
class StudentConfig:
    """How a student is built and trained (recorded in every result)."""

    architecture: str = "mlp"
    vocab_size: int = 5000
    max_length: int = 64
    options: dict = field(default_factory=lambda: dict(DEFAULT_OPTIONS["mlp"]))
    loss: str = "kl"
    temperature: float = 1.0
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 128
    weight_decay: float = 0.0
    patience: int = 5
    seed: int = 0


def cache_dir() -> Path:
    """Where teachers fine-tuned by `distill` are kept for reuse ($KDEDGE_CACHE, else ~/.cache/kdedge)."""
    return Path(os.environ.get("KDEDGE_CACHE") or Path.home() / ".cache" / "kdedge")


def default_teacher_dir(dataset: TextDataset) -> Path:
    digest = hashlib.sha256(repr(sorted(dataset.checksums.items())).encode()).hexdigest()[:12]
    return cache_dir() / "teachers" / f"{dataset.name}-{digest}-minilm"


def transfer_set(
    dataset: TextDataset,
    unlabeled: list[str] | None = None,
    augment: int = 0,
    replacements: dict[str, list[str]] | None = None,
    seed: int = 0,
) -> tuple[list[str], dict]:
    """Train texts + unlabeled texts + `augment` augmented copies of each train text, with every text that
    occurs in validation or test removed (and duplicates dropped)."""
    held_out = dataset.validation.texts + dataset.test.texts
    base, leaked = remove_leaks(dataset.train.texts + list(unlabeled or []), held_out)
    train_kept = len(remove_leaks(dataset.train.texts, held_out)[0])
    augmented: list[str] = []
    aug_leaked = 0
    if augment:
        new = Augmenter(replacements, seed=seed).expand(dataset.train.texts, augment)
        augmented, aug_leaked = remove_leaks(new, held_out + base)
    stats = {
        "train_texts": train_kept,
        "unlabeled_texts": len(base) - train_kept,
        "augmented_texts": len(augmented),
        "removed_as_validation_or_test": leaked + aug_leaked,
        "transfer_set_size": len(base) + len(augmented),
    }
    return base + augmented, stats


class _LazyTeacher:
    """Loads the teacher only when a text has no cached soft label, so a complete cache needs no weights."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._teacher = None

    def get(self):
        if self._teacher is None:
            if self.path is None:
                raise KdedgeError("some texts have no cached soft label: pass --teacher to label them")
            from .teacher import Teacher

            self._teacher = Teacher.from_pretrained(self.path)
        return self._teacher


def distill(
    dataset: TextDataset,
    out: str | Path,
    teacher_dir: str | Path | None = None,
    config: StudentConfig | None = None,
    unlabeled: str | Path | None = None,
    augment: int = 0,
    soft_labels: str | Path | None = None,
    bf16: bool = False,
    progress: bool = True,
    log=print,
) -> dict:
    """Distil a teacher into a student saved at `out`; returns the result record (test split)."""
    config = config or StudentConfig()
    started = time.perf_counter()
    if teacher_dir is None and soft_labels is None:
        teacher_dir = _ensure_default_teacher(dataset, progress, log)
    lazy = _LazyTeacher(Path(teacher_dir) if teacher_dir else None)
    cache_path = Path(soft_labels) if soft_labels else Path(teacher_dir) / "soft_labels.npz"
    teacher_id = lazy.get().fingerprint if teacher_dir else SoftLabels.stored_teacher(cache_path)
    cache = SoftLabels(cache_path, teacher_id, dataset.label_names)
    replacements = cache.extra.get("replacements")
    if augment and replacements is None:
        words = Vocabulary.build(dataset.train.texts, size=config.vocab_size).tokens[2:]
        replacements = lazy.get().similar_words(words)
        cache.extra["replacements"] = replacements
    extra_texts = read_texts(unlabeled) if unlabeled else None
    texts, stats = transfer_set(dataset, extra_texts, augment, replacements, config.seed)
    log(
        f"transfer set: {stats['transfer_set_size']:,} texts ({stats['train_texts']:,} train, "
        f"{stats['unlabeled_texts']:,} unlabeled, {stats['augmented_texts']:,} augmented; "
        f"{stats['removed_as_validation_or_test']:,} removed as validation/test texts)"
    )
    held_out = dataset.validation.texts + dataset.test.texts
    labeling = label_texts(
        cache, texts + held_out, lambda chunk: lazy.get().logits(chunk, bf16=bf16), progress=progress
    )
    teacher_logits = cache.lookup(texts)
    student, training = train_student(dataset, texts, teacher_logits, config, progress)
    test_logits = student.logits(dataset.test.texts)
    metrics = evaluate(dataset.test.labels, test_logits.argmax(1), dataset.label_names)
    teacher_test = cache.lookup(dataset.test.texts).argmax(1)
    teacher_val = cache.lookup(dataset.validation.texts).argmax(1)
    student_val = student.logits(dataset.validation.texts).argmax(1)
    student.save_pretrained(out)
    return record(
        f"distilled-{config.architecture}",
        dataset.describe(),
        "test",
        metrics,
        student.params,
        config.seed,
        teacher=str(teacher_dir) if teacher_dir else None,
        teacher_id=teacher_id,
        teacher_accuracy=float((teacher_test == dataset.test.labels).mean()),
        teacher_val_accuracy=float((teacher_val == dataset.validation.labels).mean()),
        val_accuracy=float((student_val == dataset.validation.labels).mean()),
        agreement_with_teacher=float((test_logits.argmax(1) == teacher_test).mean()),
        transfer_set_size=stats["transfer_set_size"],
        transfer_set=stats,
        augment=augment,
        unlabeled=str(unlabeled) if unlabeled else None,
        soft_labels=str(cache_path),
        labeling=labeling,
        student=asdict(config),
        training=training,
        saved_to=str(out),
        total_time_s=round(time.perf_counter() - started, 1),
    )


def train_student(
    dataset: TextDataset, texts: list[str], teacher_logits: np.ndarray, config: StudentConfig, progress: bool
) -> tuple[Student, dict]:
    """Build the vocabulary on the transfer set, then fit the student to the teacher's logits."""
    vocab = Vocabulary.build(texts, size=config.vocab_size, max_length=config.max_length)
    student = Student.create(config.architecture, vocab, dataset.label_names, **config.options)
    report = fit(
        student.model,
        vocab.encode(texts, pad_to="max"),
        teacher_logits,
        vocab.encode(dataset.validation.texts, pad_to="max"),
        dataset.validation.labels,
        loss=config.loss,
        temperature=config.temperature,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        patience=config.patience,
        seed=config.seed,
        progress=progress,
        desc=f"student {config.architecture}",
    )
    return student, report


def _ensure_default_teacher(dataset: TextDataset, progress: bool, log) -> Path:
    """Fine-tune the default teacher once per dataset and reuse it from the cache afterwards."""
    from .results import write_json
    from .teacher import TEACHER_FILE, fine_tune

    folder = default_teacher_dir(dataset)
    if (folder / TEACHER_FILE).is_file():
        log(f"reusing the teacher fine-tuned earlier: {folder}")
        return folder
    log(f"no --teacher given: fine-tuning the default teacher (all-MiniLM-L6-v2) into {folder}")
    result = fine_tune(dataset, out=folder, progress=progress)
    write_json(folder.with_suffix(".json"), result)
    return folder

"""`kdedge distill`: teacher -> transfer set -> soft labels -> tiny student, in one call.

The student is trained with one loss for every example, labelled or not: the KL divergence between the
teacher's and the student's label distributions (the reference's simplification of Hinton et al.).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .augment import Augmenter, remove_leaks
from .data import TextDataset, read_texts
from .errors import KdedgeError
from .evaluate import evaluate
from .results import record
from .softlabels import SoftLabels, label_texts
from .students import Student, fit
from .text import Vocabulary, frequent_words

WordVectors = Callable[[list[str]], np.ndarray]  # words -> the teacher's vectors for them, (n, hidden)

# The augmented texts do not change with the training seed, so runs with other seeds reuse their soft labels.
AUGMENT_SEED = 0

# Options each student is distilled with unless told otherwise; for mlp, chosen on Emotion's validation split
# (benchmarks/README.md): recurrent pooling beat context pooling by 1.5 points, which beat attention by 1.5.
DEFAULT_OPTIONS = {
    "mlp": {"dim": 16, "pooling": "recurrent", "dropout": 0.1},
    "cnn": {"dim": 64, "filters": 128, "kernel": 3},
    "bilstm": {"dim": 64, "hidden": 64},
}


@dataclass
class StudentConfig:
    """How a student is built and trained (recorded in every result)."""

    architecture: str = "mlp"
    vocab_size: int = 4000  # whole words; + 1,000 word pieces: the reference's 80K parameters for the mlp
    buckets: int = 1000  # tokenizer entries for out-of-vocabulary words (word pieces, see kdedge.text)
    tokenizer: str = "wordpiece"  # how they are learnt (kdedge.text.KINDS)
    max_length: int = 64
    options: dict = field(default_factory=lambda: dict(DEFAULT_OPTIONS["mlp"]))
    loss: str = "kl"
    temperature: float = 2.0
    epochs: int = 30
    lr: float = 1e-2
    batch_size: int = 256
    weight_decay: float = 0.0
    patience: int = 5
    seed: int = 0
    init: str = "random"  # "teacher": embeddings start from the teacher's word vectors (PCA), see embedding_init


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
        words = frequent_words(dataset.train.texts, config.vocab_size - 2)
        replacements = lazy.get().similar_words(words)
        cache.extra["replacements"] = replacements
    extra_texts = read_texts(unlabeled) if unlabeled else None
    texts, stats = transfer_set(dataset, extra_texts, augment, replacements, AUGMENT_SEED)
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
    teacher_val_accuracy = float((cache.lookup(dataset.validation.texts).argmax(1) == dataset.validation.labels).mean())

    def vectors(words: list[str]) -> np.ndarray:
        return cached_word_vectors(cache, words, lambda todo: lazy.get().word_vectors(todo, bf16=bf16))

    choice = None
    if config.architecture == "auto":
        order = word_order_sensitivity(cache, lambda chunk: lazy.get().logits(chunk, bf16=bf16), dataset, config.seed)
        student, training, choice = choose_student(
            dataset, texts, teacher_logits, config, teacher_val_accuracy, order, progress, log, vectors
        )
        config = replace(config, architecture=student.architecture, options=student.options)
    else:
        student, training = train_student(dataset, texts, teacher_logits, config, progress, vectors)
    test_logits = student.logits(dataset.test.texts)
    metrics = evaluate(dataset.test.labels, test_logits.argmax(1), dataset.label_names)
    teacher_test = cache.lookup(dataset.test.texts).argmax(1)
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
        teacher_val_accuracy=teacher_val_accuracy,
        val_accuracy=float((student_val == dataset.validation.labels).mean()),
        agreement_with_teacher=float((test_logits.argmax(1) == teacher_test).mean()),
        transfer_set_size=stats["transfer_set_size"],
        transfer_set=stats,
        augment=augment,
        augment_seed=AUGMENT_SEED,
        unlabeled=str(unlabeled) if unlabeled else None,
        soft_labels=str(cache_path),
        labeling=labeling,
        student=asdict(config),
        training=training,
        student_choice=choice,
        saved_to=str(out),
        torch_threads=torch.get_num_threads(),  # float sums depend on it: a seed reproduces with the same count
        total_time_s=round(time.perf_counter() - started, 1),
    )


def word_order_sensitivity(cache: SoftLabels, logits_fn, dataset: TextDataset, seed: int = 0) -> dict:
    """How much the teacher relies on word order: shuffle the words of every validation text and count how
    often its answer changes, and how much its accuracy drops."""
    rng = random.Random(seed)
    texts = dataset.validation.texts
    shuffled = []
    for text in texts:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    label_texts(cache, shuffled, logits_fn, progress=False)
    original = cache.lookup(texts).argmax(1)
    mixed = cache.lookup(shuffled).argmax(1)
    labels = dataset.validation.labels
    return {
        "changed_share": float((original != mixed).mean()),
        "teacher_val_accuracy": float((original == labels).mean()),
        "teacher_val_accuracy_shuffled": float((mixed == labels).mean()),
        "seed": seed,
    }


# Candidates of `--student auto`, smallest first.
CANDIDATES = ("mlp", "cnn", "bilstm")
WITHIN = 0.01  # a student within 1 point of the teacher's validation accuracy is good enough


def choose_student(
    dataset: TextDataset,
    texts: list[str],
    teacher_logits: np.ndarray,
    config: StudentConfig,
    teacher_val_accuracy: float,
    order: dict,
    progress: bool,
    log,
    vectors: WordVectors | None = None,
) -> tuple[Student, dict, dict]:
    """Train the candidates smallest first; keep the first within `WITHIN` of the teacher on validation,
    else the most accurate. Returns the student, its training report and the choice with its reasons."""
    tried = []
    best = None
    for architecture in CANDIDATES:
        candidate = replace(config, architecture=architecture, options=dict(DEFAULT_OPTIONS[architecture]))
        student, training = train_student(dataset, texts, teacher_logits, candidate, progress, vectors)
        accuracy = training["best_val_accuracy"]
        # test figures are reported for the table across students; the choice reads validation only
        test = evaluate(dataset.test.labels, student.logits(dataset.test.texts).argmax(1), dataset.label_names)
        tried.append(
            {
                "architecture": architecture,
                "params": student.params,
                "val_accuracy": accuracy,
                "test_accuracy": test["accuracy"],
                "test_macro_f1": test["macro_f1"],
            }
        )
        log(f"  {architecture}: {student.params:,} parameters, validation accuracy {accuracy:.4f}")
        if best is None or accuracy > best[1]["best_val_accuracy"]:
            best = (student, training)
        if accuracy >= teacher_val_accuracy - WITHIN:
            best = (student, training)
            rule = f"the smallest student within {100 * WITHIN:g} point of the teacher"
            break
    else:
        rule = f"no student came within {100 * WITHIN:g} point of the teacher, so the most accurate one"
    student, training = best
    gap = 100 * (teacher_val_accuracy - training["best_val_accuracy"])
    need = "a sequence model may be needed" if order["changed_share"] >= 0.05 else "a bag of words can do"
    reason = (
        f"word order changes the teacher's answer on {order['changed_share']:.0%} of validation texts, so {need}: "
        f"{student.architecture} chosen, {student.params / 1e6:.2f}M parameters, {abs(gap):.1f} points "
        f"{'below' if gap >= 0 else 'above'} the teacher on validation ({rule})"
    )
    log(reason)
    return student, training, {"word_order": order, "candidates": tried, "rule": rule, "reason": reason}


def train_student(
    dataset: TextDataset,
    texts: list[str],
    teacher_logits: np.ndarray,
    config: StudentConfig,
    progress: bool,
    vectors: WordVectors | None = None,
) -> tuple[Student, dict]:
    """Build the vocabulary on the transfer set, then fit the student to the teacher's logits.

    With `config.init == "teacher"`, `vectors` gives the teacher's word vectors for the embedding init."""
    vocab = Vocabulary.build(
        texts, size=config.vocab_size, max_length=config.max_length, buckets=config.buckets, kind=config.tokenizer
    )
    student = Student.create(config.architecture, vocab, dataset.label_names, seed=config.seed, **config.options)
    if config.init == "teacher":
        if vectors is None:
            raise KdedgeError("init 'teacher' needs the teacher's word vectors")
        words = [token.removeprefix("##") for token in vocab.tokens[2:]]  # a word piece as a word of its own
        table = student.model.embedding.weight.data
        table[2 : 2 + len(words)] = torch.from_numpy(embedding_init(vectors(words), table.shape[1]))
    elif config.init != "random":
        raise KdedgeError(f"unknown init {config.init!r} (random or teacher)")
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


def embedding_init(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The teacher's word vectors reduced to the student's embedding size by PCA, scaled to unit variance
    (the scale of a default `nn.Embedding` init)."""
    if dim > min(vectors.shape):
        raise KdedgeError(f"cannot reduce {vectors.shape[0]} teacher word vectors of size {vectors.shape[1]} to {dim}")
    centered = vectors - vectors.mean(0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    reduced = centered @ components[:dim].T
    return (reduced / reduced.std()).astype(np.float32)


def cached_word_vectors(cache: SoftLabels, words: list[str], compute: WordVectors) -> np.ndarray:
    """The teacher's word vectors for `words`, computed once and kept in the soft-label file (fp16), so a
    later run needs no teacher."""
    todo = [word for word in words if word not in cache.vectors]
    if todo:
        cache.vectors.update(zip(todo, compute(todo).astype(np.float16)))
        cache.save()
    return np.stack([cache.vectors[word] for word in words]).astype(np.float32)


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

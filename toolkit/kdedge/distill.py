"""`kdedge distill`: teacher -> transfer set -> soft labels -> tiny student, in one call.

The student is trained with one loss for every example, labelled or not: the KL divergence between the
teacher's and the student's label distributions (the reference's simplification of Hinton et al.).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .augment import (
    NEAR_DUPLICATE,
    Augmenter,
    NearDuplicates,
    auto_copies,
    leak_key,
    near_duplicates,
    remove_leaks,
)
from .compare import compare_with_tfidf
from .data import TextDataset, read_texts
from .errors import KdedgeError
from .evaluate import evaluate, mcnemar, wilson_interval
from .results import check_new, record
from .softlabels import ShardFolder, SoftLabels, label_texts
from .students import StreamData, Student, build, count_params, fit
from .text import Vocabulary, frequent_words

WordVectors = Callable[[list[str]], np.ndarray]  # words -> the teacher's vectors for them, (n, hidden)

# In-memory transfer texts are cut into pieces of this size when training streams a corpus beside them.
CHUNK = 65536

# The augmented texts do not change with the training seed, so runs with other seeds reuse their soft labels.
AUGMENT_SEED = 0

# Options each student is distilled with unless told otherwise; for mlp, chosen on Emotion's validation split
# (benchmarks/README.md): recurrent pooling beat context pooling by 1.5 points, which beat attention by 1.5.
DEFAULT_OPTIONS = {
    "mlp": {"dim": 16, "pooling": "recurrent", "dropout": 0.1},
    "cnn": {"dim": 64, "filters": 128, "kernel": 3},
    "bilstm": {"dim": 64, "hidden": 64},
    # layers: the teacher's first and last (transformer_student.default_layers); vocab: see VOCABULARIES there
    "transformer": {"vocab": "teacher"},
}

# How the transformer student trains unless told otherwise (the small students' settings are StudentConfig's
# defaults): it starts from the fine-tuned teacher, so it wants a fine-tuning learning rate, and an epoch over
# a large transfer set costs it minutes, not seconds. 8 epochs with patience 2 against 4 with patience 1: better
# on validation over four paired runs of the 3-layer rung on 20-per-class CLINC150 (81 vs 48 texts, p = 0.005),
# at up to twice the epochs (benchmarks/README.md, "The rungs' training").
TRANSFORMER_TRAINING = {"lr": 1e-4, "batch_size": 64, "epochs": 8, "patience": 2, "length_buckets": True}


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
    # "teacher": embeddings start from the teacher's word vectors, or a path: from a word-vector file (PCA,
    # embedding_init; read_word_vectors)
    init: str = "random"
    length_buckets: bool = False  # batches of similar length (kdedge.students.epoch_batches)
    device: str = "cpu"  # where the student trains ("cuda": a GPU); it runs on the CPU either way

    @classmethod
    def for_architecture(cls, architecture: str, **settings) -> StudentConfig:
        """A config with the architecture's default options and training settings, then `settings`."""
        defaults = TRANSFORMER_TRAINING if architecture == "transformer" else {}
        options = dict(DEFAULT_OPTIONS.get(architecture, {}))
        return cls(architecture=architecture, **{"options": options, **defaults, **settings})


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
    drop_near_duplicates: bool = True,
) -> tuple[list[str], dict]:
    """Train texts + unlabeled texts + `augment` augmented copies of each train text, without the texts that
    occur in validation or test, their augmented copies, duplicates, and (by default) near-duplicates of a
    validation or test text (`augment.near_duplicates`: most of the same words)."""
    held_out = dataset.validation.texts + dataset.test.texts
    base, leaked = remove_leaks(dataset.train.texts + list(unlabeled or []), held_out)
    train_kept = len(remove_leaks(dataset.train.texts, held_out)[0])  # base starts with these
    forbidden = {leak_key(text) for text in held_out}
    train_leaks = {i for i, text in enumerate(dataset.train.texts) if leak_key(text) in forbidden}
    augmented: list[str] = []
    aug_leaked = 0
    if augment:
        new = Augmenter(replacements, seed=seed).expand(dataset.train.texts, augment, skip=train_leaks)
        augmented, aug_leaked = remove_leaks(new, held_out + base)
    texts = base + augmented
    near = set(near_duplicates(texts, held_out))
    keep = [not (drop_near_duplicates and i in near) for i in range(len(texts))]
    parts = {
        "train_texts": (0, train_kept),
        "unlabeled_texts": (train_kept, len(base)),
        "augmented_texts": (len(base), len(texts)),
    }
    stats = {
        **{name: sum(keep[start:end]) for name, (start, end) in parts.items()},
        "removed_as_validation_or_test": leaked + aug_leaked,
        "train_texts_in_validation_or_test_not_augmented": len(train_leaks),
        "near_duplicates_of_validation_or_test": len(near),
        "near_duplicates_dropped": drop_near_duplicates,
        "near_duplicate_threshold": NEAR_DUPLICATE,
        "transfer_set_size": sum(keep),
    }
    return [text for text, kept in zip(texts, keep) if kept], stats


class ShardCorpus:
    """A corpus's soft labels in a shard folder (`kdedge label --ray`), read shard by shard as training goes:
    memory holds one shard, whatever the corpus size. Texts that occur in validation or test, or already in
    the in-memory transfer set, are dropped as they are read, and so are near-duplicates of validation or test
    texts unless `drop_near_duplicates` is off (they are counted either way, as in `transfer_set`). The
    vocabulary pass (`count`) remembers each shard's kept rows, so an epoch reads a shard without filtering it
    again (the near-duplicate search costs microseconds a text)."""

    def __init__(
        self,
        folder: str | Path,
        teacher_id: str | None,
        held_out: list[str],
        in_memory: list[str],
        drop_near_duplicates: bool = True,
    ) -> None:
        self.folder = ShardFolder.open_existing(folder)
        if teacher_id and self.folder.identity["teacher"] != teacher_id:
            raise KdedgeError(f"{folder}: soft labels of teacher {self.folder.identity['teacher']}, not {teacher_id}")
        self.held_out = {leak_key(t) for t in held_out}
        self.in_memory = {leak_key(t) for t in in_memory}
        self.near = NearDuplicates(held_out)
        self.drop_near_duplicates = drop_near_duplicates
        self.shards = self.folder.shards()
        self.kept = self.removed_as_held_out = self.near_duplicates = 0
        self._kept_rows: dict[Path, np.ndarray] = {}

    def read(self, shard: Path) -> tuple[list[str], np.ndarray]:
        texts, logits = self.folder.read(shard)
        rows = self._kept_rows.get(shard)
        if rows is None:
            rows = self._filter(texts)[0]
        return [texts[i] for i in rows], logits[rows]

    def _filter(self, texts: list[str]) -> tuple[np.ndarray, int, int]:
        """The rows kept, the held-out texts and the near-duplicates of held-out texts among `texts`."""
        keys = [leak_key(t) for t in texts]
        keep = [i for i, k in enumerate(keys) if k not in self.held_out and k not in self.in_memory]
        near = set(self.near.find([texts[i] for i in keep]))
        kept = [i for n, i in enumerate(keep) if not (self.drop_near_duplicates and n in near)]
        return np.array(kept, dtype=np.int64), sum(k in self.held_out for k in keys), len(near)

    def count(self) -> Iterator[str]:
        """One pass over the kept texts (for the vocabulary), counting them, the held-out texts and the
        near-duplicates of held-out texts dropped."""
        self.kept = self.removed_as_held_out = self.near_duplicates = 0
        for shard in self.shards:
            texts, _ = self.folder.read(shard)
            rows, leaked, near = self._filter(texts)
            self._kept_rows[shard] = rows
            self.kept += len(rows)
            self.removed_as_held_out += leaked
            self.near_duplicates += near
            yield from (texts[i] for i in rows)


class _LazyTeacher:
    """Loads the teacher only when a text has no cached soft label, so a complete cache needs no weights."""

    def __init__(self, path: Path | None, device: str = "cpu") -> None:
        self.path = path
        self.device = device
        self._teacher = None

    def get(self):
        if self._teacher is None:
            if self.path is None:
                raise KdedgeError("some texts have no cached soft label: pass --teacher to label them")
            from .teacher import Teacher

            self._teacher = Teacher.from_pretrained(self.path).to(self.device)
        return self._teacher


def distill(
    dataset: TextDataset,
    out: str | Path,
    teacher_dir: str | Path | None = None,
    config: StudentConfig | None = None,
    unlabeled: str | Path | None = None,
    augment: int | str = "auto",
    soft_labels: str | Path | None = None,
    bf16: bool = False,
    progress: bool = True,
    log=print,
    force: bool = False,
    drop_near_duplicates: bool = True,
    budget: Budget | None = None,
    frontier_plot: str | Path | None = None,
    shards: str | Path | None = None,
    device: str = "cpu",
    rung_training: dict | None = None,
) -> dict:
    """Distil a teacher into a student saved at `out` (an existing `out` is replaced only with `force`);
    returns the result record (test split). The teacher fine-tunes and labels, and the students train, on
    `device` ("cpu", "cuda" or "auto"); the student is saved for, measured and tested on the CPU.

    `rung_training`: under `--student auto`, settings that replace the transformer rungs' own
    (TRANSFORMER_TRAINING), e.g. {"epochs": 2}; `config`'s training settings are the small students'.

    `shards`: a folder of corpus soft labels (`kdedge label --ray`) added to the transfer set and streamed from
    disk during training, so memory stays bounded whatever the corpus size."""
    from .teacher import describe_device, resolve_device

    config = config or StudentConfig()
    check_new(out, force)
    device = resolve_device(device)
    config = replace(config, device=device)
    if config.architecture == "transformer":
        from .transformer_student import check_teacher

        check_teacher(teacher_dir, config.options)
    started = time.perf_counter()
    augment_choice = "auto: by training split size" if augment == "auto" else "given"
    augment = auto_copies(len(dataset.train)) if augment == "auto" else int(augment)
    if teacher_dir is None and soft_labels is None:
        teacher_dir = _ensure_default_teacher(dataset, progress, log, device)
    lazy = _LazyTeacher(Path(teacher_dir) if teacher_dir else None, device)
    form = "torch-bf16" if bf16 else "torch-fp32"
    # one default cache per form: bf16 and fp32 logits differ slightly, and a cache never mixes the two
    cache_path = Path(soft_labels) if soft_labels else Path(teacher_dir) / f"soft_labels.{form}.npz"
    if teacher_dir:
        cache = SoftLabels(cache_path, lazy.get().fingerprint, dataset.label_names, form)
    else:
        cache = SoftLabels.open_existing(cache_path, dataset.label_names)
    teacher_id, form = cache.teacher_id, cache.form
    replacements = cache.extra.get("replacements")
    if augment and replacements is None:
        words = frequent_words(dataset.train.texts, config.vocab_size - 2)
        replacements = lazy.get().similar_words(words)
        cache.extra["replacements"] = replacements
    extra_texts = read_texts(unlabeled) if unlabeled else None
    texts, stats = transfer_set(dataset, extra_texts, augment, replacements, AUGMENT_SEED, drop_near_duplicates)
    log(
        f"transfer set: {stats['transfer_set_size']:,} texts ({stats['train_texts']:,} train, "
        f"{stats['unlabeled_texts']:,} unlabeled, {stats['augmented_texts']:,} augmented, {augment} per train text"
        f"{' (auto)' if augment_choice != 'given' else ''}; "
        f"{stats['removed_as_validation_or_test']:,} removed as validation/test texts, "
        f"{stats['near_duplicates_of_validation_or_test']:,} near-duplicates of them dropped)"
    )
    held_out = dataset.validation.texts + dataset.test.texts
    corpus = ShardCorpus(shards, teacher_id, held_out, texts, drop_near_duplicates) if shards else None
    labeling = label_texts(
        cache, texts + held_out, lambda chunk: lazy.get().logits(chunk, bf16=bf16), progress=progress
    )
    labeling["device"] = describe_device(device)
    teacher_logits = cache.lookup(texts)
    teacher_val = cache.lookup(dataset.validation.texts).argmax(1)
    teacher_val_accuracy = float((teacher_val == dataset.validation.labels).mean())
    # said before the student trains: a teacher no better than a linear model makes a student that is no better
    comparison = compare_with_tfidf(dataset, teacher_val, config.seed)
    log(comparison["message"])

    def vectors(words: list[str]) -> np.ndarray:
        return cached_word_vectors(cache, words, lambda todo: lazy.get().word_vectors(todo, bf16=bf16))

    choice = None
    if config.architecture == "auto":
        from .frontier import gold_references

        label = (lambda chunk: lazy.get().logits(chunk, bf16=bf16)) if teacher_dir else None
        order = word_order_sensitivity(cache, label, dataset, config.seed)
        references = gold_references(dataset, comparison, config.seed, progress)
        student, training, choice = choose_student(
            dataset,
            texts,
            teacher_logits,
            config,
            teacher_val,
            order,
            progress,
            log,
            vectors,
            budget,
            references,
            corpus,
            teacher_dir,
            rung_training,
        )
        if frontier_plot:
            from .frontier import plot

            plot(choice["frontier"], frontier_plot)
        rung = student.architecture == "transformer"
        settings = {**TRANSFORMER_TRAINING, **(rung_training or {})} if rung else {}
        config = replace(config, architecture=student.architecture, options=student.options, **settings)
    else:
        student, training = train_student(
            dataset, texts, teacher_logits, config, progress, vectors, corpus, teacher_dir
        )
        config = replace(config, options=student.options)  # the transformer's: the layers kept, its config
    if corpus:
        stats["corpus_texts"] = corpus.kept
        stats["removed_as_validation_or_test"] += corpus.removed_as_held_out
        stats["near_duplicates_of_validation_or_test"] += corpus.near_duplicates
        stats["transfer_set_size"] += corpus.kept
    test_logits = student.logits(dataset.test.texts)
    metrics = evaluate(dataset.test.labels, test_logits.argmax(1), dataset.label_names)
    teacher_test = cache.lookup(dataset.test.texts).argmax(1)
    student_val = student.logits(dataset.validation.texts).argmax(1)
    versus = {
        "validation": mcnemar(dataset.validation.labels, student_val, teacher_val),
        "test": mcnemar(dataset.test.labels, test_logits.argmax(1), teacher_test),
    }
    student.save_pretrained(out, force=force)
    return record(
        f"distilled-{config.architecture}",
        dataset.describe(),
        "test",
        metrics,
        student.params,
        config.seed,
        teacher=str(teacher_dir) if teacher_dir else None,
        teacher_id=teacher_id,
        teacher_form=form,
        teacher_accuracy=float((teacher_test == dataset.test.labels).mean()),
        teacher_accuracy_ci95=wilson_interval(float((teacher_test == dataset.test.labels).mean()), len(teacher_test)),
        student_vs_teacher=versus,  # exact McNemar: "a" is the student
        teacher_val_accuracy=teacher_val_accuracy,
        teacher_vs_tfidf=comparison,
        val_accuracy=float((student_val == dataset.validation.labels).mean()),
        agreement_with_teacher=float((test_logits.argmax(1) == teacher_test).mean()),
        transfer_set_size=stats["transfer_set_size"],
        transfer_set=stats,
        augment=augment,
        augment_choice=augment_choice,
        augment_seed=AUGMENT_SEED,
        unlabeled=str(unlabeled) if unlabeled else None,
        soft_labels=str(cache_path),
        corpus_shards=str(shards) if shards else None,
        corpus_form=corpus.folder.identity["form"] if corpus else None,
        labeling=labeling,
        student=asdict(config),
        training=training,
        student_choice=choice,
        saved_to=str(out),
        torch_threads=torch.get_num_threads(),  # float sums depend on it: a seed reproduces with the same count
        total_time_s=round(time.perf_counter() - started, 1),
    )


def word_order_sensitivity(cache: SoftLabels, logits_fn, dataset: TextDataset, seed: int = 0) -> dict | None:
    """How much the teacher relies on word order: shuffle the words of every validation text and count how
    often its answer changes, and how much its accuracy drops. None when the shuffled texts are not cached and
    there is no teacher to label them (`logits_fn` None): the check is a hint, not worth refusing a run."""
    rng = random.Random(seed)
    texts = dataset.validation.texts
    shuffled = []
    for text in texts:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    if logits_fn is None and cache.missing(shuffled):
        return None
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


# Candidates of `--student auto` (tried smallest first; the transformer student joins them when the teacher is a
# `kdedge teacher` folder).
CANDIDATES = ("mlp", "cnn", "bilstm")
TOLERANCE = 0.01  # a student within 1 point of the teacher's validation accuracy is good enough


def within_tolerance(accuracy: float, teacher_accuracy: float, tolerance: float, texts: int) -> bool:
    """Whether a student's validation accuracy is at most `tolerance` below the teacher's, both fractions of the
    same `texts`. Compared in texts, not floats: a student exactly on the edge (10 of 1,000 texts below at 1 point)
    is within, where the float comparison says yes or no depending on rounding."""
    return round(accuracy * texts) >= round(teacher_accuracy * texts) - round(tolerance * texts, 6)


@dataclass
class Budget:
    """What `--student auto` may spend: how far below the teacher a student may stay (validation accuracy, as
    a fraction), and caps on parameters and on batch-1 latency in the runtime (ONNX Runtime, one thread)."""

    tolerance: float = TOLERANCE
    max_params: int | None = None
    max_latency_us: float | None = None


def choose_student(
    dataset: TextDataset,
    texts: list[str],
    teacher_logits: np.ndarray,
    config: StudentConfig,
    teacher_val: np.ndarray,
    order: dict | None,
    progress: bool,
    log,
    vectors: WordVectors | None = None,
    budget: Budget | None = None,
    references: Sequence[dict] = (),
    corpus: ShardCorpus | None = None,
    teacher_dir: str | Path | None = None,
    rung_training: dict | None = None,
) -> tuple[Student, dict, dict]:
    """Walk the frontier smallest first: skip candidates over the parameter budget (known before training) or
    the latency budget (measured on the trained candidate), and keep the first within `budget.tolerance` of the
    teacher on validation, else the most accurate one in budget. Returns the student, its training report and
    the choice: the rule that decided, every point of the frontier (with `references`, gold-label models on the
    same validation split) and the paired test against the teacher. `teacher_val`: the teacher's validation
    predictions. With a transformer `teacher_dir` (a `kdedge teacher` folder), the transformer student made from
    it joins the candidates (in its place by size, usually the largest), trained with its own settings
    (TRANSFORMER_TRAINING, updated with `rung_training`)."""
    from .frontier import latency_us, table
    from .teacher import TEACHER_FILE
    from .transformer_student import ladder as transformer_ladder

    budget = budget or Budget()
    teacher_val_accuracy = float((teacher_val == dataset.validation.labels).mean())
    tried, skipped = [], []
    best = None
    rule = None
    ladder = []  # (parameters, config, latency known before training, the untrained student if already made)
    for architecture in CANDIDATES:
        candidate = replace(config, architecture=architecture, options=dict(DEFAULT_OPTIONS[architecture]))
        rows, labels = candidate.vocab_size + candidate.buckets, len(dataset.label_names)
        ladder.append((count_params(build(architecture, rows, labels, **candidate.options)), candidate, None, None))
    if teacher_dir and (Path(teacher_dir) / TEACHER_FILE).is_file():
        for layers in transformer_ladder(teacher_dir):
            options = {**DEFAULT_OPTIONS["transformer"], "layers": layers}
            settings = {**TRANSFORMER_TRAINING, **(rung_training or {})}
            candidate = replace(config, architecture="transformer", options=options, **settings)
            # its size is known once the teacher is cut down (seconds, no training); its training takes long, so
            # a latency budget is checked first (training does not change latency)
            untrained = new_student(dataset, texts, candidate, corpus, teacher_dir)
            if budget.max_params and untrained.params > budget.max_params and options["vocab"] != "task":
                # the teacher's whole vocabulary is most of a rung's parameters: pruned to the task's, it may fit
                candidate = replace(candidate, options={**options, "vocab": "task"})
                untrained = new_student(dataset, texts, candidate, corpus, teacher_dir)
            latency = latency_us(untrained, dataset.validation.texts) if budget.max_latency_us else None
            ladder.append((untrained.params, candidate, latency, untrained))
    for params, candidate, latency, untrained in sorted(ladder, key=lambda rung: rung[0]):  # smallest first
        architecture = candidate.architecture
        name = rung_name(candidate)
        if budget.max_params and params > budget.max_params:
            skipped.append({"architecture": architecture, "name": name, "params": params, "why": "over --max-params"})
            log(f"  {name}: about {params:,} parameters, over --max-params {budget.max_params:,}: skipped")
            continue
        if latency is not None and latency > budget.max_latency_us:
            skipped.append(
                {
                    "architecture": architecture,
                    "name": name,
                    "params": params,
                    "latency_us": latency,
                    "why": "over --max-latency-us",
                }
            )
            log(f"  {name}: {latency:,.1f} us, over --max-latency-us {budget.max_latency_us:,}: skipped")
            continue
        student, training = train_student(
            dataset, texts, teacher_logits, candidate, progress, vectors, corpus, teacher_dir, untrained
        )
        accuracy = training["best_val_accuracy"]
        latency = latency_us(student, dataset.validation.texts)
        # test figures are reported for the table across students; the choice reads validation only
        test = evaluate(dataset.test.labels, student.logits(dataset.test.texts).argmax(1), dataset.label_names)
        point = {
            "architecture": architecture,
            "name": name,
            "options": candidate.options,
            "params": student.params,
            "latency_us": latency,
            "val_accuracy": accuracy,
            "test_accuracy": test["accuracy"],
            "test_macro_f1": test["macro_f1"],
        }
        log(f"  {name}: {student.params:,} parameters, {latency:,.1f} us, validation accuracy {accuracy:.4f}")
        if budget.max_latency_us and latency > budget.max_latency_us:
            skipped.append({**point, "why": "over --max-latency-us"})
            continue
        tried.append(point)
        if best is None or accuracy > best[1]["best_val_accuracy"]:
            best = (student, training, point)
        if within_tolerance(accuracy, teacher_val_accuracy, budget.tolerance, len(dataset.validation.labels)):
            best = (student, training, point)
            rule = f"the smallest student within {100 * budget.tolerance:g} point of the teacher on validation"
            break
    if best is None:
        raise KdedgeError("no candidate student fits the budget (--max-params / --max-latency-us)")
    if rule is None:
        rule = (
            f"no student{' in budget' if skipped else ''} came within {100 * budget.tolerance:g} point of the "
            "teacher on validation, so the most accurate one"
        )
    student, training, chosen = best
    gap = 100 * (teacher_val_accuracy - training["best_val_accuracy"])
    paired = mcnemar(dataset.validation.labels, student.logits(dataset.validation.texts).argmax(1), teacher_val)
    side = "below" if gap >= 0 else "above"
    standing = (
        f"on par with the teacher ({abs(gap):.2f} points {side}, McNemar p={paired['p_value']:.2f})"
        if paired["verdict"] == "on par"
        else f"{abs(gap):.2f} points {side} the teacher (McNemar p={paired['p_value']:.2g})"
    )
    reason = f"{chosen['name']} chosen ({student.params / 1e6:.2f}M parameters): {rule}; on validation: {standing}."
    if order:
        reason += (
            f" (Word order changes the teacher's answer on {order['changed_share']:.0%} of validation texts, "
            "a hint at how much a sequence student may gain.)"
        )
    frontier = {
        "dataset": dataset.name,
        "teacher_val_accuracy": teacher_val_accuracy,
        "tolerance": budget.tolerance,
        "points": [
            *({**p, "name": f"{p['name']} (distilled)", "kind": "student", "chosen": p is chosen} for p in tried),
            *({**p, "name": f"{p['name']} (distilled)", "kind": "student", "note": p["why"]} for p in skipped),
            *references,
        ],
    }
    log(table(frontier))
    log(reason)
    choice = {
        "word_order": order,
        "budget": asdict(budget),
        "candidates": tried,
        "skipped": skipped,
        "rule": rule,
        "reason": reason,
        "vs_teacher": paired,
        "frontier": frontier,
    }
    return student, training, choice


def rung_name(config: StudentConfig) -> str:
    """How the frontier names a candidate: its architecture, and a transformer's depth."""
    if config.architecture == "transformer":
        return f"transformer {len(config.options['layers'])} layers"
    return config.architecture


def train_student(
    dataset: TextDataset,
    texts: list[str],
    teacher_logits: np.ndarray,
    config: StudentConfig,
    progress: bool,
    vectors: WordVectors | None = None,
    corpus: ShardCorpus | None = None,
    teacher_dir: str | Path | None = None,
    untrained: Student | None = None,
) -> tuple[Student, dict]:
    """Build the vocabulary on the transfer set (or take `untrained`, made by `new_student` with this config),
    then fit the student to the teacher's logits.

    With `config.init == "teacher"`, `vectors` gives the teacher's word vectors for the embedding init; any other
    `config.init` but "random" is a word-vector file (`read_word_vectors`) the embeddings start from. With
    `corpus`, its texts join the transfer set and are read from disk shard by shard. The transformer student
    is made from the teacher folder `teacher_dir`."""
    student = untrained or new_student(dataset, texts, config, corpus, teacher_dir)
    vocab = student.vocab
    init_info = None
    if config.init != "random" and config.architecture != "transformer":  # the transformer *is* the teacher
        words = [token.removeprefix("##") for token in vocab.tokens[2:]]  # a word piece as a word of its own
        table = student.model.embedding.weight.data
        if config.init == "teacher":
            if vectors is None:
                raise KdedgeError("init 'teacher' needs the teacher's word vectors")
            table[2 : 2 + len(words)] = torch.from_numpy(embedding_init(vectors(words), table.shape[1]))
        else:
            found, init_info = read_word_vectors(config.init, words)
            if init_info["dimensions"] < table.shape[1]:
                raise KdedgeError(
                    f"--init {Path(config.init).name}: its vectors have {init_info['dimensions']} dimensions, "
                    f"the student's embeddings {table.shape[1]}: pass -o dim={init_info['dimensions']}"
                )
            rows = [2 + i for i in found]  # words the file lacks keep their random start, at the same scale
            table[rows] = torch.from_numpy(embedding_init(np.stack(list(found.values())), table.shape[1]))
    if corpus:

        def in_memory(start: int) -> tuple[list[str], np.ndarray]:
            return texts[start : start + CHUNK], teacher_logits[start : start + CHUNK]

        pieces = [functools.partial(in_memory, start) for start in range(0, len(texts), CHUNK)]
        pieces += [functools.partial(corpus.read, shard) for shard in corpus.shards]
        data = StreamData(vocab, pieces, len(texts) + corpus.kept, config.length_buckets)
        train, targets = data, None
    else:
        train, targets = vocab.encode(texts, pad_to="max"), teacher_logits
    report = fit(
        student.model,
        train,
        targets,
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
        by_length=config.length_buckets,
        device=config.device,
    )
    if init_info:
        report["embedding_init"] = init_info
    return student, report


def new_student(
    dataset: TextDataset,
    texts: list[str],
    config: StudentConfig,
    corpus: ShardCorpus | None = None,
    teacher_dir: str | Path | None = None,
) -> Student:
    """An untrained student with its tokenizer: a vocabulary learnt on the transfer set, or for the transformer
    student the teacher cut down (`transformer_student.from_teacher`)."""
    every_text = itertools.chain(texts, corpus.count()) if corpus else texts
    if config.architecture == "transformer":
        from .transformer_student import from_teacher

        return from_teacher(
            teacher_dir, every_text, dataset.label_names, config.max_length, seed=config.seed, **config.options
        )
    vocab = Vocabulary.build(
        every_text, size=config.vocab_size, max_length=config.max_length, buckets=config.buckets, kind=config.tokenizer
    )
    return Student.create(config.architecture, vocab, dataset.label_names, seed=config.seed, **config.options)


def embedding_init(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Word vectors (the teacher's, or a file's) reduced to the student's embedding size by PCA, scaled to unit
    variance (the scale of a default `nn.Embedding` init)."""
    if dim > min(vectors.shape):
        raise KdedgeError(f"cannot reduce {vectors.shape[0]} word vectors of size {vectors.shape[1]} to {dim}")
    centered = vectors - vectors.mean(0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    reduced = centered @ components[:dim].T
    return (reduced / reduced.std()).astype(np.float32)


def read_word_vectors(path: str | Path, words: list[str]) -> tuple[dict[int, np.ndarray], dict]:
    """The vectors a word-vector text file has for `words` ({index in words: vector}), and what was read.

    The file is GloVe's or word2vec / fastText's text format: a word and its numbers per line, space-separated
    (a first "count dimensions" line is skipped), gzip allowed. It is streamed, so a multi-GB file needs no
    memory beyond the vectors kept. A word is looked up as it is, then lowercased. The recorded sha256 is of the
    text read (for a .gz file, its decompressed content, not the compressed file's bytes)."""
    import gzip

    path = Path(path)
    if not path.is_file():
        raise KdedgeError(f"--init {path}: expected random, teacher or a word-vector file (no such file)")
    by_word: dict[str, list[int]] = {}
    by_lower: dict[str, list[int]] = {}
    for index, word in enumerate(words):
        by_word.setdefault(word, []).append(index)
        by_lower.setdefault(word.lower(), []).append(index)
    exact: dict[int, np.ndarray] = {}
    loose: dict[int, np.ndarray] = {}  # another casing: the file's first (most frequent) one
    digest, size = hashlib.sha256(), None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw:
            for number, line in enumerate(raw, 1):
                digest.update(line)
                word, _, numbers = line.rstrip(b"\r\n").decode("utf-8", "replace").partition(" ")
                if number == 1 and " " not in numbers.strip() and word.isdigit():
                    continue  # word2vec's "count dimensions" header
                fields = numbers.split()
                size = size or len(fields)
                if len(fields) != size or not size:
                    raise KdedgeError(f"{path.name} line {number}: expected a word and {size or 'some'} numbers")
                exact_rows, loose_rows = by_word.get(word, ()), by_lower.get(word.lower(), ())
                if exact_rows or loose_rows:
                    vector = np.array(fields, dtype=np.float32)
                    exact.update(dict.fromkeys(exact_rows, vector))
                    for index in loose_rows:
                        loose.setdefault(index, vector)
    except (OSError, EOFError, ValueError) as err:
        raise KdedgeError(f"--init {path.name}: not a readable word-vector file ({err})") from None
    found = {**loose, **exact}
    if not found:
        raise KdedgeError(f"--init {path.name}: none of the student's {len(words):,} words has a vector there")
    info = {
        "file": str(path),
        "sha256": digest.hexdigest(),
        "dimensions": size,
        "words_found": len(found),
        "words": len(words),
    }
    return dict(sorted(found.items())), info


def cached_word_vectors(cache: SoftLabels, words: list[str], compute: WordVectors) -> np.ndarray:
    """The teacher's word vectors for `words`, computed once and kept in the soft-label file (fp16), so a
    later run needs no teacher."""
    todo = [word for word in words if word not in cache.vectors]
    if todo:
        cache.vectors.update(zip(todo, compute(todo).astype(np.float16)))
        cache.save()
    return np.stack([cache.vectors[word] for word in words]).astype(np.float32)


def _ensure_default_teacher(dataset: TextDataset, progress: bool, log, device: str) -> Path:
    """Fine-tune the default teacher once per dataset and reuse it from the cache afterwards."""
    from .results import write_json
    from .teacher import TEACHER_FILE, fine_tune

    folder = default_teacher_dir(dataset)
    if (folder / TEACHER_FILE).is_file():
        log(f"reusing the teacher fine-tuned earlier: {folder}")
        return folder
    log(f"no --teacher given: fine-tuning the default teacher (all-MiniLM-L6-v2) into {folder}")
    # distill compares it with TF-IDF + LR itself, after labeling
    result = fine_tune(dataset, out=folder, progress=progress, compare=False, device=device)
    write_json(folder.with_suffix(".json"), result)
    return folder

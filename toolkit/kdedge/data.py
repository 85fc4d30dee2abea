"""Loading text-classification datasets from local files or the Hugging Face hub.

Everything downstream (baselines, teacher, distillation, benchmarks) sees one shape: a `TextDataset` with
`train`, `validation` and `test` splits of texts and integer labels, plus label names in a stable order.
This module imports no torch, so the runtime and light tools can use it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError
from .text import sanitize

SPLITS = ("train", "validation", "test")
# File stems accepted for each split (the Kaggle copy of Emotion says "val", GLUE says "dev").
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}
FORMATS = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet")
DEFAULT_HUB_DATASET = "dair-ai/emotion"
# Share of train carved out as validation when a dataset has no validation split of its own.
CARVE_FRACTION = 0.1
CARVE_SEED = 0
MAX_PHRASE_WORDS = 64


@dataclass
class Split:
    """One split: raw texts and integer labels indexing `TextDataset.label_names`."""

    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class TextDataset:
    """A dataset ready for training and evaluation."""

    name: str
    label_names: list[str]
    splits: dict[str, Split]
    source: str
    checksums: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def validation(self) -> Split:
        return self.splits["validation"]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    def describe(self) -> dict:
        """What a result file records about the data it was computed on."""
        return {
            "name": self.name,
            "source": self.source,
            "label_names": self.label_names,
            "sizes": {name: len(split) for name, split in self.splits.items()},
            "sha256": self.checksums,
            "notes": self.notes,
        }


def default_source() -> str:
    """The offline copy of Emotion beside the project when it exists, else the hub id."""
    here = Path(__file__).resolve()
    for root in (Path.cwd(), *here.parents):
        candidate = root.parent / "shared" / "datasets" / "emotion"
        if (candidate / "train.jsonl").is_file():
            return str(candidate)
    return DEFAULT_HUB_DATASET


def load_dataset(source: str | None = None, text_column: str = "text", label_column: str = "label") -> TextDataset:
    """Load a local folder (`train/validation/test` files) or a Hugging Face hub dataset id."""
    source = source or default_source()
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DataError(f"{path}: expected a folder with train/validation/test files")
        raw, checksums = _read_folder(path, text_column, label_column)
        name = path.resolve().name
    elif _looks_local(source):
        raise DataError(f"{source}: no such folder")
    else:
        raw, checksums = _read_hub(source, text_column, label_column)
        name = source.rsplit("/", 1)[-1]
    return _assemble(name, source, raw, checksums)


def _looks_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or Path(source).suffix != ""


# A raw split: (texts, labels as strings or ints, where each row came from, known label names or None)
RawSplit = tuple[list[str], list, list[str], list[str] | None]


def _read_folder(folder: Path, text_column: str, label_column: str) -> tuple[dict[str, RawSplit], dict]:
    raw: dict[str, RawSplit] = {}
    checksums: dict[str, str] = {}
    for split in SPLITS:
        files = [
            folder / f"{stem}{ext}"
            for stem in SPLIT_ALIASES[split]
            for ext in FORMATS
            if (folder / f"{stem}{ext}").is_file()
        ]
        if len(files) > 1:
            raise DataError(f"{folder}: several files for split '{split}': {', '.join(f.name for f in files)}")
        if files:
            data = files[0].read_bytes()
            checksums[files[0].name] = hashlib.sha256(data).hexdigest()
            texts, labels, rows = _parse_file(files[0], data, text_column, label_column)
            raw[split] = (texts, labels, rows, None)
    if "train" not in raw:
        wanted = ", ".join(f"train{ext}" for ext in FORMATS)
        raise DataError(f"{folder}: missing train split (looked for {wanted})")
    if "validation" not in raw and "test" not in raw:
        raise DataError(f"{folder}: missing validation and test splits (need at least one of them)")
    return raw, checksums


def _parse_file(path: Path, data: bytes, text_column: str, label_column: str) -> tuple[list, list, list]:
    """Parse one split file into texts, labels and row descriptions ('train.jsonl line 3')."""
    suffix = path.suffix
    if suffix == ".parquet":
        return _parse_parquet(path, data, text_column, label_column)
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path.name} line {line}: invalid UTF-8 (byte {err.start})") from None
    if suffix in (".jsonl", ".json"):
        records = _jsonl_records(path, content)
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(content), delimiter="\t" if suffix == ".tsv" else ",")
        records = [(f"{path.name} line {reader.line_num}", row) for row in reader]
    else:  # .txt: "text;label" per line, the format of the original Emotion release
        records = []
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            if ";" not in line:
                raise DataError(f"{path.name} line {number}: expected 'text;label'")
            text, label = line.rsplit(";", 1)
            records.append((f"{path.name} line {number}", {text_column: text, label_column: label.strip()}))
    texts, labels, rows = [], [], []
    for where, record in records:
        for column in (text_column, label_column):
            if column not in record or record[column] is None:
                raise DataError(f"{where}: missing column '{column}'")
        text = record[text_column]
        if not isinstance(text, str):
            raise DataError(f"{where}: column '{text_column}' is not a string")
        texts.append(text)
        labels.append(_label_value(record[label_column], where))
        rows.append(where)
    return texts, labels, rows


def _jsonl_records(path: Path, content: str) -> list[tuple[str, dict]]:
    records = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path.name} line {number}: invalid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path.name} line {number}: expected a JSON object")
        records.append((f"{path.name} line {number}", record))
    return records


def _parse_parquet(path: Path, data: bytes, text_column: str, label_column: str) -> tuple[list, list, list]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path.name}: not a readable Parquet file ({err})") from None
    for column in (text_column, label_column):
        if column not in table.column_names:
            raise DataError(f"{path.name}: missing column '{column}' (has {', '.join(table.column_names)})")
    texts = table.column(text_column).to_pylist()
    labels = table.column(label_column).to_pylist()
    rows = [f"{path.name} row {i + 1}" for i in range(len(texts))]
    for text, label, where in zip(texts, labels, rows):
        if not isinstance(text, str):
            raise DataError(f"{where}: column '{text_column}' is not a string")
        if label is None:
            raise DataError(f"{where}: missing value in column '{label_column}'")
    return texts, [_label_value(label, where) for label, where in zip(labels, rows)], rows


def _label_value(value: object, where: str) -> str | int:
    """Labels are names (strings) or integer ids; integer-looking strings from CSV become ints."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: label must be a string or an integer, got {value!r}")
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise DataError(f"{where}: empty label")
        if value.lstrip("-").isdigit():
            return int(value)
    return value


def _read_hub(hub_id: str, text_column: str, label_column: str) -> tuple[dict[str, RawSplit], dict]:
    import datasets

    try:
        loaded = datasets.load_dataset(hub_id)
    except Exception as err:  # network, missing dataset, bad config: all one line for the user
        raise DataError(f"{hub_id}: cannot load from the Hugging Face hub ({type(err).__name__}: {err})") from None
    raw: dict[str, RawSplit] = {}
    for split in SPLITS:
        name = next((alias for alias in SPLIT_ALIASES[split] if alias in loaded), None)
        if name is None:
            continue
        table = loaded[name]
        for column in (text_column, label_column):
            if column not in table.column_names:
                raise DataError(f"{hub_id} [{name}]: missing column '{column}'")
        feature = table.features[label_column]
        names = list(feature.names) if hasattr(feature, "names") else None
        labels = table[label_column]
        if -1 in labels:  # hidden test labels (GLUE style) are stored as -1
            continue
        rows = [f"{hub_id} [{name}] row {i + 1}" for i in range(len(table))]
        raw[split] = (list(table[text_column]), labels, rows, names)
    if "train" not in raw or ("validation" not in raw and "test" not in raw):
        raise DataError(f"{hub_id}: needs a train split and a labelled validation or test split")
    fingerprints = {name: loaded[name]._fingerprint for name in loaded}
    return raw, fingerprints


def _assemble(name: str, source: str, raw: dict[str, RawSplit], checksums: dict) -> TextDataset:
    """Map labels to ids in a stable order, check held-out labels, carve missing splits."""
    _, train_labels, _, known_names = raw["train"]
    for split, (texts, _, _, _) in raw.items():
        if not texts:
            raise DataError(f"{split} split is empty ({source})")
    if len(set(train_labels)) < 2:
        raise DataError(f"{source}: the train split has only one label; a classifier needs at least two")
    if known_names is not None:  # hub ClassLabel: integer ids with names, keep the publisher's order
        label_names = known_names
        ids = {i: i for i in range(len(known_names))}
    else:
        kinds = {type(label) for split in raw.values() for label in split[1]}
        if len(kinds) > 1:
            raise DataError(f"{source}: labels mix names and integer ids")
        ordered = sorted(set(train_labels))  # names alphabetically, integer ids numerically
        label_names = [str(label) for label in ordered]
        ids = {label: i for i, label in enumerate(ordered)}
    splits: dict[str, Split] = {}
    for split, (texts, labels, rows, _) in raw.items():
        for label, where in zip(labels, rows):
            if label not in ids:
                raise DataError(f"{where}: label {label!r} never occurs in train")
        splits[split] = Split(
            [sanitize(text) for text in texts], np.array([ids[label] for label in labels], dtype=np.int64)
        )
    notes = _carve_missing_split(splits)
    return TextDataset(name, label_names, splits, source, checksums, notes)


def _carve_missing_split(splits: dict[str, Split]) -> list[str]:
    """Give a dataset without validation (or test) labels all three splits, reproducibly.

    The official held-out split becomes `test` (the one reported on), and a seeded share of train becomes
    `validation` (the one models are chosen on). Some training sets hold the phrases of their sentences as
    rows of their own (SST-2: every sentence and many of its sub-phrases); a validation sentence whose
    phrases stay in train would be far easier than the test sentences (measured: the teacher scored 94.8 on
    such a carve, 89.1 on test). So rows are grouped with the longest row that contains them, whole groups are
    held out, validation keeps each held-out group's longest row (a full sentence, like the test split) and
    the rest of the group leaves train.
    """
    if "validation" in splits and "test" in splits:
        return []
    notes = []
    if "test" not in splits:
        splits["test"] = splits.pop("validation")
        notes.append("test = the source's official validation split (its test split has no labels)")
    train = splits["train"]
    group, roots = phrase_groups(train.texts)
    order = list(range(len(roots)))
    random.Random(CARVE_SEED).shuffle(order)
    size = max(1, round(len(order) * CARVE_FRACTION))
    held_groups = set(order[:size])
    held = sorted(roots[g] for g in held_groups)
    keep = [i for i in range(len(train)) if group[i] not in held_groups]
    splits["validation"] = Split([train.texts[i] for i in held], train.labels[held])
    splits["train"] = Split([train.texts[i] for i in keep], train.labels[keep])
    dropped = len(train) - len(held) - len(keep)
    notes.append(
        f"validation = the longest row of {size} of the {len(roots)} groups of train rows ({CARVE_FRACTION:.0%}, "
        f"seed {CARVE_SEED}; a group is a row and the rows it contains as a phrase); the other {dropped} rows of "
        "those groups left train"
    )
    return notes


def phrase_groups(texts: list[str], max_words: int = MAX_PHRASE_WORDS) -> tuple[list[int], list[int]]:
    """Group each text with the longest text that contains it as a run of whole words (or an exact copy).

    Returns each text's group id and each group's root (its longest text). Texts are visited longest first;
    a text no earlier root contains becomes a root and registers all its word runs. Texts over `max_words`
    words register only themselves (their runs would cost quadratic memory), so their phrases stay ungrouped.
    """
    owner: dict[str, int] = {}
    group = [0] * len(texts)
    roots: list[int] = []
    for i in sorted(range(len(texts)), key=lambda i: (-len(texts[i].split()), i)):
        words = texts[i].split()
        key = " ".join(words)
        if key in owner:
            group[i] = owner[key]
            continue
        group[i] = len(roots)
        if len(words) > max_words:
            owner[key] = len(roots)
        else:
            for a in range(len(words)):
                for b in range(a + 1, len(words) + 1):
                    owner.setdefault(" ".join(words[a:b]), len(roots))
        roots.append(i)
    return group, roots


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """Read unlabeled texts: JSONL (objects with a text column, or bare strings), gzip allowed, or plain lines."""
    import gzip

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path.name} line {line}: invalid UTF-8 (byte {err.start})") from None
    is_json = ".jsonl" in path.suffixes or ".json" in path.suffixes
    texts = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        if not is_json:
            texts.append(line)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path.name} line {number}: invalid JSON ({err.msg})") from None
        text = record.get(text_column) if isinstance(record, dict) else record
        if not isinstance(text, str):
            raise DataError(f"{path.name} line {number}: no string '{text_column}'")
        texts.append(text)
    if not texts:
        raise DataError(f"{path.name}: no texts")
    return [sanitize(text) for text in texts]

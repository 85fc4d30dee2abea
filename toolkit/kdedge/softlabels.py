"""The teacher's soft labels, cached on disk so that every later distillation reuses them.

Labeling hundreds of thousands of texts is the most expensive step of the toolkit, so the cache is keyed by a
hash of the normalised text (the same text is never labelled twice), written in small atomic shards while the
teacher runs (an interrupted run resumes where it stopped, nothing is half-written), and merged into one
compact `.npz` file at the end.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .errors import BundleError
from .results import write_bytes

# Texts are labelled in chunks of this size; each finished chunk is one shard on disk.
CHUNK = 4096


def canonical(text: str) -> str:
    """The form a text is labelled and keyed in: NFKC with runs of whitespace collapsed (case is kept,
    because a cased teacher may read "Hello" and "hello" differently)."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def text_key(text: str) -> int:
    """A 64-bit key of the canonical text (collisions are negligible below billions of texts)."""
    digest = hashlib.blake2b(canonical(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _npz(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


class SoftLabels:
    """Logits of one teacher for a set of texts, looked up by text.

    The file records the teacher's identity and label names; using it with another teacher fails loudly.
    """

    def __init__(self, path: str | Path, teacher_id: str, label_names: Sequence[str]) -> None:
        self.path = Path(path)
        self.teacher_id = teacher_id
        self.label_names = list(label_names)
        self.parts = self.path.with_name(self.path.name + ".parts")
        self.extra: dict = {}  # data that must travel with the labels (augmentation's replacement table)
        self.vectors: dict[str, np.ndarray] = {}  # the teacher's out-of-context word vectors (student init)
        self._rows: dict[int, np.ndarray] = {}
        for file in [self.path, *sorted(self.parts.glob("*.npz"))] if self.parts.is_dir() else [self.path]:
            if file.is_file():
                self._read(file)

    def _read(self, file: Path) -> None:
        try:
            with np.load(file, allow_pickle=False) as data:
                teacher, names = str(data["teacher"]), [str(n) for n in data["label_names"]]
                keys, logits = data["keys"], data["logits"]
                extra = json.loads(str(data["extra"])) if "extra" in data else {}
                vectors = zip(data["vector_words"].tolist(), data["vectors"]) if "vectors" in data else ()
        except (OSError, ValueError, KeyError) as err:
            raise BundleError(f"{file}: not a readable soft-label file ({err})") from None
        if teacher != self.teacher_id or names != self.label_names:
            raise BundleError(
                f"{file}: soft labels of teacher {teacher!r} with labels {names}, "
                f"not of {self.teacher_id!r} with {self.label_names}"
            )
        self._rows.update(zip(keys.tolist(), logits))
        self.extra.update(extra)
        self.vectors.update(vectors)

    @staticmethod
    def stored_teacher(path: str | Path) -> str:
        """The teacher id a soft-label file was made with (to use the file without the teacher's weights)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return str(data["teacher"])
        except (OSError, ValueError, KeyError) as err:
            raise BundleError(f"{path}: not a readable soft-label file ({err})") from None

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._rows

    def missing(self, texts: Sequence[str]) -> list[str]:
        """Canonical forms of the texts not labelled yet, each once, in first-seen order."""
        seen: dict[int, str] = {}
        for text in texts:
            key = text_key(text)
            if key not in self._rows and key not in seen:
                seen[key] = canonical(text)
        return list(seen.values())

    def add(self, texts: Sequence[str], logits: np.ndarray) -> None:
        """Store a labelled chunk as one atomic shard (this is what makes labeling resumable)."""
        keys = np.array([text_key(t) for t in texts], dtype=np.int64)
        logits = np.asarray(logits, dtype=np.float32)
        self.parts.mkdir(parents=True, exist_ok=True)
        shard = self.parts / f"{len(list(self.parts.glob('*.npz'))):06d}.npz"
        write_bytes(shard, self._payload(keys, logits))
        self._rows.update(zip(keys.tolist(), logits))

    def _payload(self, keys: np.ndarray, logits: np.ndarray, vectors: bool = False) -> bytes:
        """The file's arrays; word vectors (large, rarely added) go only into the merged file."""
        words = list(self.vectors) if vectors else []
        table = {}
        if words:
            table = {"vector_words": np.array(words), "vectors": np.stack([self.vectors[w] for w in words])}
        return _npz(
            keys=keys,
            logits=logits,
            teacher=np.array(self.teacher_id),
            label_names=np.array(self.label_names),
            extra=np.array(json.dumps(self.extra)),
            **table,
        )

    def save(self) -> None:
        """Merge everything into the main file atomically, then drop the shards."""
        keys = np.array(sorted(self._rows), dtype=np.int64)
        logits = np.stack([self._rows[k] for k in keys.tolist()]) if len(keys) else np.zeros((0, len(self.label_names)))
        write_bytes(self.path, self._payload(keys, logits.astype(np.float32), vectors=True))
        if self.parts.is_dir():
            for shard in self.parts.glob("*.npz"):
                shard.unlink()
            self.parts.rmdir()

    def lookup(self, texts: Sequence[str]) -> np.ndarray:
        """Logits for every text, in order; every text must have been labelled."""
        try:
            return np.stack([self._rows[text_key(t)] for t in texts]).astype(np.float32)
        except KeyError:
            missing = len(self.missing(texts))
            raise BundleError(f"{self.path}: {missing} of the texts have no soft label yet") from None


def label_texts(
    cache: SoftLabels,
    texts: Sequence[str],
    logits_fn: Callable[[list[str]], np.ndarray],
    progress: bool = True,
) -> dict:
    """Label every text the cache does not hold yet, chunk by chunk, and merge the cache.

    `logits_fn` maps a list of texts to an array of logits (a torch or ONNX Runtime teacher).
    Returns throughput statistics of this run.
    """
    todo = cache.missing(texts)
    started = time.perf_counter()
    with tqdm(total=len(todo), desc="labeling", unit="text", disable=not progress) as bar:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            cache.add(chunk, logits_fn(chunk))
            bar.update(len(chunk))
            bar.set_postfix(texts_per_s=f"{(start + len(chunk)) / (time.perf_counter() - started):.0f}")
    elapsed = time.perf_counter() - started
    if todo or cache.parts.is_dir() or not cache.path.is_file():  # merge new shards; a complete file stays as is
        cache.save()
    return {
        "texts": len(texts),
        "newly_labelled": len(todo),
        "cached": len(texts) - len(todo),
        "seconds": round(elapsed, 2),
        "texts_per_second": round(len(todo) / elapsed, 1) if todo and elapsed > 0 else None,
    }

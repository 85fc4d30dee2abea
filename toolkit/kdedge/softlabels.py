"""The teacher's soft labels, cached on disk so that every later distillation reuses them.

Labeling hundreds of thousands of texts is the most expensive step of the toolkit, so the cache is keyed by a
hash of the normalised text (the same text is never labelled twice), written in small atomic shards while the
teacher runs (an interrupted run resumes where it stopped, nothing is half-written), and merged into one
compact `.npz` file at the end.

A file holds the logits of one teacher (its weights' fingerprint) in one *form*: torch fp32 or bf16, ONNX Runtime
fp32 or int8. The forms answer differently (bf16 moves logits by up to 0.1, int8 by up to 2.4 on Emotion,
`benchmarks/results/label-agreement-emotion.json`), so logits of two forms never share a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from .errors import BundleError
from .results import write_bytes

# Texts are labelled in chunks of this size; each finished chunk is one shard on disk.
CHUNK = 4096

# How a teacher ran: its framework and numeric precision.
FORMS = ("torch-fp32", "torch-bf16", "onnxruntime-fp32", "onnxruntime-int8")


def check_form(form: str) -> str:
    if form not in FORMS:
        raise BundleError(f"unknown teacher form {form!r} (one of {', '.join(FORMS)})")
    return form


def legacy_form(teacher: str, logits: np.ndarray, where: object) -> tuple[str, str]:
    """(fingerprint, form) of a file written before the form was recorded (the committed soft labels).

    Such files keyed int8 ONNX labels as "FINGERPRINT:int8" and everything else by the fingerprint alone. bf16
    autocast returns bf16 logits, whose float32 copies have their low 16 bits zero; an fp32 logit has them all
    zero with probability 2^-16, a row of them practically never. So a file whose every row is bf16-exact was
    labelled by torch in bf16, a file with none by an fp32 teacher (torch, or ONNX Runtime fp32 which agrees
    with it to 2e-5 and shared its key), and a file with both mixed forms and cannot be used.
    """
    if teacher.endswith(":int8"):
        return teacher.removesuffix(":int8"), "onnxruntime-int8"
    exact = ((np.ascontiguousarray(logits, dtype=np.float32).view(np.uint32) & 0xFFFF) == 0).all(axis=1)
    if exact.all() and len(exact):
        return teacher, "torch-bf16"
    if not exact.any():
        return teacher, "torch-fp32"
    raise BundleError(
        f"{where}: an old soft-label file that mixes bf16 and fp32 logits ({int(exact.sum())} of {len(exact)} "
        "rows bf16); label again into a new file"
    )


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

    The file records the teacher's identity, form and label names; using it with another teacher, or the same
    teacher in another form, fails loudly. Several labelers may share one file: shards are named by their
    content and written atomically, and merging happens under a file lock.
    """

    def __init__(self, path: str | Path, teacher_id: str, label_names: Sequence[str], form: str) -> None:
        self.path = Path(path)
        self.teacher_id = teacher_id
        self.form = check_form(form)
        self.label_names = list(label_names)
        self.parts = self.path.with_name(self.path.name + ".parts")
        self.extra: dict = {}  # data that must travel with the labels (augmentation's replacement table)
        self.vectors: dict[str, np.ndarray] = {}  # the teacher's out-of-context word vectors (student init)
        self._rows: dict[int, np.ndarray] = {}
        self._lock = FileLock(self.path.with_name(f".{self.path.name}.lock"))
        if self.parts.is_dir():  # a shard listed here must not be merged and deleted by another labeler unread
            with self._lock:
                self._read_all()
        else:  # the main file alone is replaced atomically: no lock (and no lock file beside a file only read)
            self._read_all()

    def _files(self) -> list[Path]:
        shards = sorted(self.parts.glob("*.npz")) if self.parts.is_dir() else []
        return [file for file in (self.path, *shards) if file.is_file()]

    def _read_all(self) -> list[Path]:
        """Read the main file and every shard present now; returns the shards read."""
        files = self._files()
        for file in files:
            self._read(file)
        return [file for file in files if file != self.path]

    def _read(self, file: Path) -> None:
        try:
            with np.load(file, allow_pickle=False) as data:
                teacher, form = self._identity(data, file)
                names = [str(n) for n in data["label_names"]]
                keys, logits = data["keys"], data["logits"]
                extra = json.loads(str(data["extra"])) if "extra" in data else {}
                vectors = zip(data["vector_words"].tolist(), data["vectors"]) if "vectors" in data else ()
        except (OSError, ValueError, KeyError) as err:
            raise BundleError(f"{file}: not a readable soft-label file ({err})") from None
        if (teacher, form, names) != (self.teacher_id, self.form, self.label_names):
            raise BundleError(
                f"{file}: soft labels of teacher {teacher!r} ({form}) with labels {names}, "
                f"not of {self.teacher_id!r} ({self.form}) with {self.label_names}"
            )
        self._rows.update(zip(keys.tolist(), logits))
        self.extra.update(extra)
        self.vectors.update(vectors)

    @staticmethod
    def _identity(data, file: object) -> tuple[str, str]:
        if "form" in data:
            return str(data["teacher"]), str(data["form"])
        return legacy_form(str(data["teacher"]), data["logits"], file)

    @staticmethod
    def stored_teacher(path: str | Path) -> tuple[str, str]:
        """The teacher id and form a soft-label file was made with (to use it without the teacher's weights)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return SoftLabels._identity(data, path)
        except (OSError, ValueError, KeyError) as err:
            raise BundleError(f"{path}: not a readable soft-label file ({err})") from None

    @classmethod
    def open_existing(cls, path: str | Path, label_names: Sequence[str]) -> SoftLabels:
        """A file written earlier, with the teacher id and form it records (to use it without the teacher)."""
        teacher_id, form = cls.stored_teacher(path)
        return cls(path, teacher_id, label_names, form)

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
        """Store a labelled chunk as one atomic shard (this is what makes labeling resumable).

        The shard is named by its content's hash: concurrent labelers never pick the same name for different
        shards (a name from a file count would race), and two labelers of the same chunk write the same file."""
        keys = np.array([text_key(t) for t in texts], dtype=np.int64)
        logits = np.asarray(logits, dtype=np.float32)
        payload = self._payload(keys, logits)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:  # another labeler's merge removes the empty shard folder
            write_bytes(self.parts / f"{hashlib.sha256(payload).hexdigest()[:32]}.npz", payload)
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
            form=np.array(self.form),
            label_names=np.array(self.label_names),
            extra=np.array(json.dumps(self.extra)),
            **table,
        )

    def save(self) -> None:
        """Merge everything into the main file atomically, then drop the shards that went into it.

        Under a lock, the main file and the shards are read again first: another labeler may have merged or
        added shards since, and its rows must not be lost. Shards written after that read stay for the next
        merge."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            extra, vectors = dict(self.extra), dict(self.vectors)
            merged = self._read_all()
            self.extra.update(extra)  # what this run set wins over what the files held
            self.vectors.update(vectors)
            keys = np.array(sorted(self._rows), dtype=np.int64)
            width = len(self.label_names)
            logits = np.stack([self._rows[k] for k in keys.tolist()]) if len(keys) else np.zeros((0, width))
            write_bytes(self.path, self._payload(keys, logits.astype(np.float32), vectors=True))
            for shard in merged:
                shard.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: another labeler's new shards
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


class ShardFolder:
    """Soft labels of a corpus as a folder of Parquet shards (`part-<content hash>.parquet`): the output of
    corpus-scale labeling (`kdedge label --ray`), read back as a stream by `distill`.

    Each shard holds rows (key, text, logits) sorted by key; its Parquet metadata records the teacher's
    fingerprint, form and label names. A shard is written atomically and named by the hash of its bytes, so an
    interrupted run leaves only complete shards, a re-run skips the texts they hold, and concurrent writers
    never clobber each other.
    """

    META = b"kdedge.softlabels"

    def __init__(self, path: str | Path, teacher_id: str, label_names: Sequence[str], form: str) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise BundleError(f"{self.path}: not a folder (soft-label shards go into a folder)")
        self.identity = {"teacher": teacher_id, "form": check_form(form), "label_names": list(label_names)}
        for shard in self.shards():
            found = self.stored_identity(shard)
            if found != self.identity:
                raise BundleError(f"{shard}: soft labels of {found}, not of {self.identity}")

    def shards(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet")) if self.path.is_dir() else []

    @classmethod
    def stored_identity(cls, shard: str | Path) -> dict:
        import pyarrow.parquet as pq

        try:
            metadata = pq.read_schema(shard).metadata or {}
            return json.loads(metadata[cls.META])
        except (OSError, KeyError, ValueError) as err:
            raise BundleError(f"{shard}: not a kdedge soft-label shard ({err})") from None

    @classmethod
    def open_existing(cls, path: str | Path) -> ShardFolder:
        """A folder written earlier, with the identity its shards record."""
        shards = sorted(Path(path).glob("part-*.parquet"))
        if not shards:
            raise BundleError(f"{path}: no soft-label shards (part-*.parquet)")
        identity = cls.stored_identity(shards[0])
        return cls(path, identity["teacher"], identity["label_names"], identity["form"])

    def __len__(self) -> int:
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(shard).num_rows for shard in self.shards())

    def keys(self) -> np.ndarray:
        """Sorted keys of every text labelled so far (8 bytes a text: what a resumed run skips)."""
        import pyarrow.parquet as pq

        parts = [pq.read_table(shard, columns=["key"]).column("key").to_numpy() for shard in self.shards()]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def write(self, keys: np.ndarray, texts: Sequence[str], logits: np.ndarray) -> Path:
        """Write one shard (rows sorted by key) atomically; returns its path."""
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        order = np.argsort(keys, kind="stable")
        logits = np.ascontiguousarray(np.asarray(logits, dtype=np.float32)[order])
        width = len(self.identity["label_names"])
        table = pa.table(
            {
                "key": pa.array(np.asarray(keys, dtype=np.int64)[order]),
                "text": pa.array([texts[i] for i in order], pa.string()),
                "logits": pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1)), width),
            }
        ).replace_schema_metadata({self.META: json.dumps(self.identity)})
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        payload = buffer.getvalue()
        shard = self.path / f"part-{hashlib.sha256(payload).hexdigest()[:32]}.parquet"
        write_bytes(shard, payload)
        return shard

    def read(self, shard: Path) -> tuple[list[str], np.ndarray]:
        """One shard's texts and logits."""
        import pyarrow.parquet as pq

        table = pq.read_table(shard, columns=["text", "logits"])
        width = len(self.identity["label_names"])
        logits = table.column("logits").combine_chunks().values.to_numpy(zero_copy_only=False).reshape(-1, width)
        return table.column("text").to_pylist(), logits

    def batches(self, batch_size: int = 65536) -> Iterator[tuple[list[str], np.ndarray]]:
        """(texts, logits) in batches, shard by shard: memory stays bounded by one batch whatever the size."""
        import pyarrow.parquet as pq

        width = len(self.identity["label_names"])
        for shard in self.shards():
            for batch in pq.ParquetFile(shard).iter_batches(batch_size, columns=["text", "logits"]):
                logits = batch.column("logits").values.to_numpy(zero_copy_only=False).reshape(-1, width)
                yield batch.column("text").to_pylist(), logits

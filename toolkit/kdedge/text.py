"""The student's text pipeline: normalise, split into words, map words to ids.

Training and the runtime share exactly this code (numpy only, no torch), so a bundle classifies a text the
same way the student saw it during training. Everything is deterministic: the same texts give the same
vocabulary and the same ids on every machine.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
FORMAT_VERSION = 1
# The unknown-word marker (augmentation writes it for masked words), words (letters/digits, with an inner
# apostrophe as in "don't"), or single other non-space characters, so emoji and punctuation are tokens too.
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN = re.compile(r"<unk>|[^\W_]+(?:'[^\W_]+)*|\S", re.UNICODE)


def normalize(text: str, lowercase: bool = True) -> str:
    """NFKC-normalise (full-width forms, ligatures), unify apostrophes, optionally lower-case."""
    text = unicodedata.normalize("NFKC", sanitize(text)).replace("\u2019", "'").replace("`", "'")
    return text.lower() if lowercase else text


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split a text into word tokens after normalisation."""
    return _TOKEN.findall(normalize(text, lowercase))


@dataclass
class Vocabulary:
    """A frequency vocabulary with padding id 0 and unknown-word id 1.

    `max_length` caps the number of tokens a text is encoded to (longer texts are truncated).
    With `buckets` > 0, a word outside the vocabulary is not just "unknown": it gets the id of a bucket chosen
    by a hash of its first `prefix` characters, a crude stem ("dazzled", "dazzling" -> "dazz"), so a student
    can learn what rare and unseen words of the same stem mean. Bucket ids follow the word ids.
    """

    tokens: list[str]
    max_length: int = 64
    lowercase: bool = True
    buckets: int = 0
    prefix: int = 4
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        if self.max_length < 1:
            raise ValueError("max_length must be at least 1")
        self._index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        size: int = 5000,
        min_count: int = 1,
        max_length: int = 64,
        lowercase: bool = True,
        buckets: int = 0,
    ) -> Vocabulary:
        """Keep the `size - 2` most frequent words (ties broken alphabetically, so the result is stable).

        The reserved tokens are not counted: augmented texts spell masked words as "<unk>", which must map to
        the unknown-word id, not take a vocabulary row of its own."""
        if size < 3:
            raise ValueError("vocabulary size must be at least 3")
        counts = Counter(token for text in texts for token in tokenize(text, lowercase) if token not in (PAD, UNK))
        ranked = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        return cls([PAD, UNK] + [token for token, _ in ranked[: size - 2]], max_length, lowercase, buckets)

    def __len__(self) -> int:
        """Rows the embedding table needs: words, then buckets."""
        return len(self.tokens) + self.buckets

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.lowercase)

    def ids(self, text: str) -> list[int]:
        """Token ids of one text, truncated to `max_length`."""
        index = self._index
        tokens = self.tokenize(text)[: self.max_length]
        if not self.buckets:
            return [index.get(token, UNK_ID) for token in tokens]
        return [index[token] if token in index else self._bucket(token) for token in tokens]

    def _bucket(self, token: str) -> int:
        stem = token[: self.prefix].encode("utf-8")
        return len(self.tokens) + zlib.crc32(stem) % self.buckets

    def encode(self, texts: Sequence[str], pad_to: str = "longest") -> np.ndarray:
        """Encode texts to an int64 array (n, length), right-padded with `PAD_ID`.

        `pad_to="longest"` pads to the longest text of this batch (fast at inference time);
        `pad_to="max"` pads every batch to `max_length` (fixed shapes).
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        rows = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
            rows.append(self.ids(text))
        if pad_to == "max":
            width = self.max_length
        elif pad_to == "longest":
            width = max((len(row) for row in rows), default=0) or 1
        else:
            raise ValueError("pad_to is 'longest' or 'max'")
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "buckets": self.buckets,
            "prefix": self.prefix,
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"unsupported vocabulary format {data.get('format_version')!r} (expected {FORMAT_VERSION})"
            )
        return cls(
            list(data["tokens"]),
            int(data["max_length"]),
            bool(data["lowercase"]),
            int(data.get("buckets", 0)),
            int(data.get("prefix", 4)),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def sanitize(text: str) -> str:
    """Replace lone surrogates (what broken JSON escapes such as "\\ud800" decode to) with U+FFFD: they are
    not text, cannot be encoded, and must not fail a batch. Training and the runtime both call this."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)

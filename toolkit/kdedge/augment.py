"""Transfer-set construction: Tang et al. (2019) augmentation and leakage removal.

The student learns from whatever the teacher labels, so more (and more varied) in-domain text helps, as long as
no validation or test text sneaks in: that would make the reported accuracy a lie.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence

from .text import UNK, tokenize

# Written in place of a masked word: the student's vocabulary maps it to its unknown id, and the teacher
# reads its tokenizer's mask token there (see Teacher.logits).
MASK = UNK

# `augment="auto"`: copies per training text so that the augmented texts number about AUGMENT_TARGET, at most
# AUGMENT_MAX copies. On Emotion (16k training texts) 8 copies (128k texts) were worth 0.6-1.5 points of
# validation accuracy over none, and Tang et al. used 20 copies; a fixed target keeps the teacher's labeling
# time about the same for every dataset, so small datasets, where the student most needs more of the teacher's
# answers, get the most copies.
AUGMENT_TARGET = 128_000
AUGMENT_MAX = 20


def auto_copies(train_size: int) -> int:
    """Augmented copies per training text that `augment="auto"` makes for a training split of this size."""
    return min(AUGMENT_MAX, round(AUGMENT_TARGET / max(1, train_size)))


class Augmenter:
    """Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", section 3.3.

    Per word: with `p_mask` it becomes the mask word, else with `p_replace` it becomes an interchangeable word
    (`replacements`: a word -> candidates table; Tang use words of the same part of speech, we use the
    teacher's nearest neighbours, see `Teacher.similar_words`). Then with `p_ngram` only a random n-gram
    (n in 1..`max_n`) of the result is kept.
    """

    def __init__(
        self,
        replacements: Mapping[str, Sequence[str]] | None = None,
        p_mask: float = 0.1,
        p_replace: float = 0.1,
        p_ngram: float = 0.25,
        max_n: int = 5,
        seed: int = 0,
    ) -> None:
        self.replacements = dict(replacements or {})
        self.p_mask, self.p_replace, self.p_ngram, self.max_n = p_mask, p_replace, p_ngram, max_n
        self.rng = random.Random(seed)

    def __call__(self, text: str) -> str:
        rng = self.rng
        words = []
        for word in tokenize(text):
            roll = rng.random()
            if roll < self.p_mask:
                words.append(MASK)
            elif roll < self.p_mask + self.p_replace and self.replacements.get(word):
                words.append(rng.choice(self.replacements[word]))
            else:
                words.append(word)
        if words and rng.random() < self.p_ngram:
            n = rng.randint(1, min(self.max_n, len(words)))
            start = rng.randint(0, len(words) - n)
            words = words[start : start + n]
        return " ".join(words)

    def expand(self, texts: Sequence[str], copies: int, max_tries: int = 3, skip: Collection[int] = ()) -> list[str]:
        """`copies` new texts per input text, distinct from each other and from the inputs.

        Copies are made in rounds over all texts, so a run with fewer copies yields a prefix of one with more
        (and reuses its cached soft labels). Short texts cannot always yield that many distinct variants; each
        slot is tried `max_tries` times. Copies of the texts at the indices in `skip` (held-out texts) are
        drawn but dropped, so that every other text gets the same copies as without them.
        """
        seen = {" ".join(tokenize(t)) for t in texts}
        out = []
        for _ in range(copies):
            for index, text in enumerate(texts):
                for _ in range(max_tries):
                    new = self(text)
                    if new and new not in seen:
                        seen.add(new)
                        if index not in skip:
                            out.append(new)
                        break
        return out


def leak_key(text: str) -> str:
    """Texts that the student cannot tell apart (same words after normalisation) count as the same text."""
    return " ".join(tokenize(text))


def remove_leaks(texts: Iterable[str], held_out: Iterable[str]) -> tuple[list[str], int]:
    """Drop every text that also occurs in `held_out` (validation and test), and duplicates.

    Returns the kept texts in order and how many were dropped because they leak.
    """
    forbidden = {leak_key(t) for t in held_out}
    kept, seen, leaked = [], set(), 0
    for text in texts:
        key = leak_key(text)
        if key in forbidden:
            leaked += 1
        elif key not in seen:
            seen.add(key)
            kept.append(text)
    return kept, leaked


# Texts sharing at least this share of their distinct words with a held-out text count as its near-duplicates.
NEAR_DUPLICATE = 0.8


class NearDuplicates:
    """Finds texts whose word sets have a Jaccard similarity >= `threshold` with some held-out text.

    Exact, by prefix filtering (Chaudhuri et al. 2006): with the words of every set in one fixed order (rarest in
    held-out first), two sets that similar must share a word among the first |set| - ceil(threshold |set|) + 1
    of each, so only held-out texts sharing such a word are compared. (MinHash LSH, e.g. datasketch, measured
    350 us per text here and is approximate; this takes a few us.) The index is built once, so a corpus read
    shard by shard is checked against the same held-out texts."""

    def __init__(self, held_out: Iterable[str], threshold: float = NEAR_DUPLICATE) -> None:
        self.threshold = threshold
        self.held = [set(tokenize(text)) for text in held_out]
        self.frequency = Counter(word for words in self.held for word in words)
        self.index: dict[str, list[int]] = defaultdict(list)
        for i, words in enumerate(self.held):
            for word in self._prefix(words) if words else ():
                self.index[word].append(i)

    def _prefix(self, words: set[str]) -> list[str]:
        ordered = sorted(words, key=lambda w: (self.frequency[w], w))
        return ordered[: len(words) - math.ceil(self.threshold * len(words)) + 1]

    def find(self, texts: Sequence[str]) -> list[int]:
        """Indices of the `texts` that are near-duplicates of a held-out text."""
        found = []
        for i, text in enumerate(texts):
            words = set(tokenize(text))
            if not words:
                continue
            candidates = {j for word in self._prefix(words) for j in self.index.get(word, ())}
            if any(len(words & self.held[j]) >= self.threshold * len(words | self.held[j]) for j in candidates):
                found.append(i)
        return found


def near_duplicates(texts: Sequence[str], held_out: Iterable[str], threshold: float = NEAR_DUPLICATE) -> list[int]:
    """Indices of the texts that are near-duplicates of a held-out text (see `NearDuplicates`)."""
    return NearDuplicates(held_out, threshold).find(texts)

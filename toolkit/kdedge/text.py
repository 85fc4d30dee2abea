"""The student's text pipeline: a standard Hugging Face `tokenizers` tokenizer that turns texts into ids.

Training and the runtime share it, and it is saved as `tokenizer.json` (the format every `tokenizers` port
reads: Rust, Python, JavaScript's `@huggingface/tokenizers`), so a bundle classifies a text the same way in
every language. NFKC normalisation, lower-casing and BERT's pre-tokenisation (whitespace and punctuation;
combining marks stay inside their word, so "नमस्ते" is one word), then a WordPiece model: the most frequent
words of the training texts are one id each, and any other word is spelt with word pieces learnt from the
words left out ("dazzled" -> "dazz", "##led"), so rare and unseen words still carry meaning. Built
deterministically: the same texts give the same tokenizer on every machine.

`tokenize` is the plain word splitter that augmentation and the TF-IDF baseline use (regex, no ids).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
FORMAT_VERSION = 2  # 1: kdedge's own vocab.json (regex words + crc32 buckets); 2: tokenizer.json
TOKENIZER_FILE = "tokenizer.json"
# How out-of-vocabulary words are handled (StudentConfig.tokenizer; chosen on Emotion validation, see
# benchmarks/README.md): "wordpiece" keeps the `size` most frequent words whole and spends `buckets` entries
# on word pieces trained on the other words; "wordpiece-trained" and "unigram" let `tokenizers`' trainers
# pick all `size + buckets` entries.
KINDS = ("wordpiece", "wordpiece-trained", "unigram")
MAX_CHARS_PER_WORD = 100  # WordPiece maps longer "words" (URLs, runs of emoji) to the unknown id
# The augmenter's and the TF-IDF baseline's words: the unknown-word marker, words (letters/digits, with an
# inner apostrophe as in "don't"), or single other non-space characters.
_TOKEN = re.compile(r"<unk>|[^\W_]+(?:'[^\W_]+)*|\S", re.UNICODE)


def normalize(text: str, lowercase: bool = True) -> str:
    """NFKC-normalise (full-width forms, ligatures), unify apostrophes, optionally lower-case."""
    text = unicodedata.normalize("NFKC", sanitize(text)).replace("\u2019", "'").replace("`", "'")
    return text.lower() if lowercase else text


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split a text into words after normalisation (augmentation and TF-IDF; students use `Vocabulary`)."""
    return _TOKEN.findall(normalize(text, lowercase))


def frequent_words(texts: Iterable[str], n: int) -> list[str]:
    """The `n` most frequent words of `tokenize` (ties alphabetical), the reserved tokens left out."""
    counts = Counter(token for text in texts for token in tokenize(text) if token not in (PAD, UNK))
    return [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def sanitize(text: str) -> str:
    """Lone UTF-16 surrogates (from broken JSON, "\\ud800") become U+FFFD, as a JavaScript string's
    `toWellFormed()` does; a surrogate pair becomes its character. Other text is returned unchanged."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _pipeline(model: models.Model, lowercase: bool, max_length: int) -> Tokenizer:
    tokenizer = Tokenizer(model)
    steps = [
        normalizers.NFKC(),
        normalizers.Replace("\u2019", "'"),
        normalizers.Replace("`", "'"),
        # The two characters on which Rust's whitespace (what the pre-tokenizer splits on) and JavaScript's \s
        # disagree, found by the conformance vectors: the byte-order mark goes, next-line is a space.
        normalizers.Replace("\ufeff", ""),
        normalizers.Replace("\u0085", " "),
    ]
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Lowercase()] if lowercase else steps)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _finish(tokenizer: Tokenizer) -> Tokenizer:
    """Augmentation writes UNK for masked words: matched before normalisation, it is the unknown id, never
    "<", "unk", ">". PAD is not matched in texts: "<pad>" in a text is three ordinary tokens."""
    tokenizer.add_special_tokens([AddedToken(UNK, normalized=False)])
    return tokenizer


def _words(texts: Iterable[str], lowercase: bool) -> Counter:
    """Word counts after the tokenizer's own normalisation and pre-tokenisation."""
    probe = _pipeline(models.WordPiece({PAD: PAD_ID, UNK: UNK_ID}, unk_token=UNK), lowercase, 1)
    normalize_str, split = probe.normalizer.normalize_str, probe.pre_tokenizer.pre_tokenize_str
    counts: Counter = Counter()
    for text in texts:
        for part in sanitize(text).split(UNK):
            counts.update(word for word, _ in split(normalize_str(part)))
    return counts


def _ranked(counts: Counter, known: set[str]) -> list[str]:
    return [key for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if key not in known]


def _pieces(rare: list[tuple[str, int]], n: int, known: set[str]) -> list[str]:
    """`n` word pieces that spell the words left out of the vocabulary, chosen deterministically (`tokenizers`'
    trainers break ties in hash-map order and learn a slightly different vocabulary on every run): the
    characters the rare words use (a quarter of the budget at most), at a word's start and as "##"
    continuations, then the word starts (2-6 characters) and endings ("##" + 2-4 characters) that cover the
    most characters of rare-word occurrences. WordPiece matches the longest piece first, so "dazzled" becomes
    "dazz", "##led" when those were frequent among rare words."""
    if n <= 0:
        return []
    chars: Counter = Counter()
    parts: Counter = Counter()
    for word, count in rare:
        if len(word) > MAX_CHARS_PER_WORD:
            continue
        chars[word[0]] += count
        chars.update({f"##{c}": count for c in set(word[1:])})
        for length in range(2, min(len(word), 7)):
            parts[word[:length]] += count * length
        for length in range(2, min(len(word), 5)):
            parts[f"##{word[-length:]}"] += count * length
    alphabet = _ranked(chars, known)[: n // 4]
    return alphabet + _ranked(parts, known | set(alphabet))[: n - len(alphabet)]


def _repeat(counts: Iterable[tuple[str, int]]) -> Iterator[str]:
    for word, count in counts:
        for _ in range(count):
            yield word


class Vocabulary:
    """Texts -> int64 id arrays with a `tokenizers` Tokenizer; id 0 pads, id 1 is the unknown word.

    `max_length` caps the number of tokens a text is encoded to (longer texts are truncated); it is stored in
    tokenizer.json as its truncation length. `len()` is the number of embedding rows a student needs.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        if tokenizer.token_to_id(PAD) != PAD_ID or tokenizer.token_to_id(UNK) != UNK_ID:
            raise ValueError(f"a kdedge tokenizer has {PAD!r} as id {PAD_ID} and {UNK!r} as id {UNK_ID}")
        if not tokenizer.truncation:
            raise ValueError("a kdedge tokenizer has a truncation length (its max_length)")
        self.tokenizer = tokenizer
        self.max_length: int = tokenizer.truncation["max_length"]

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        size: int = 5000,
        min_count: int = 1,
        max_length: int = 64,
        lowercase: bool = True,
        buckets: int = 0,
        kind: str = "wordpiece",
    ) -> Vocabulary:
        """Build a tokenizer of at most `size + buckets` ids from `texts` (see KINDS)."""
        if size < 3:
            raise ValueError("vocabulary size must be at least 3")
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        if kind not in KINDS:
            raise ValueError(f"tokenizer kind is one of {KINDS}, not {kind!r}")
        counts = _words(texts, lowercase)
        ranked = sorted((kv for kv in counts.items() if kv[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        special = [PAD, UNK]
        if kind == "wordpiece":
            vocab = special + [word for word, _ in ranked[: size - 2]]
            vocab += _pieces(ranked[size - 2 :], buckets, set(vocab))
            model = models.WordPiece(
                {token: i for i, token in enumerate(vocab)}, unk_token=UNK, max_input_chars_per_word=MAX_CHARS_PER_WORD
            )
            return cls(_finish(_pipeline(model, lowercase, max_length)))
        if kind == "wordpiece-trained":
            model = models.WordPiece(unk_token=UNK, max_input_chars_per_word=MAX_CHARS_PER_WORD)
            trainer = trainers.WordPieceTrainer(
                vocab_size=size + buckets, min_frequency=min_count, special_tokens=special, show_progress=False
            )
        else:
            model = models.Unigram()
            trainer = trainers.UnigramTrainer(
                vocab_size=size + buckets, special_tokens=special, unk_token=UNK, show_progress=False
            )
        tokenizer = _pipeline(model, lowercase, max_length)
        tokenizer.train_from_iterator(_repeat(ranked), trainer, length=None)
        return cls(_finish(tokenizer))

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_str() == other.to_str()

    @property
    def tokens(self) -> list[str]:
        """Every token, in id order."""
        return [token for token, _ in sorted(self.tokenizer.get_vocab().items(), key=lambda kv: kv[1])]

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.encode(sanitize(text)).tokens  # encode_batch_fast leaves the token strings out

    def ids(self, text: str) -> list[int]:
        """Token ids of one text, truncated to `max_length`."""
        return self._encode([text])[0].ids

    def _encode(self, texts: list[str]) -> list:
        try:
            # the fast variant skips character offsets: 25% faster than encode() even for one text
            return self.tokenizer.encode_batch_fast(texts)
        except TypeError:  # the Rust side takes valid Unicode only
            return self._encode([sanitize(text) for text in texts])

    def encode(self, texts: Sequence[str], pad_to: str = "longest") -> np.ndarray:
        """Encode texts to an int64 array (n, length), right-padded with `PAD_ID`.

        `pad_to="longest"` pads to the longest text of this batch (fast at inference time);
        `pad_to="max"` pads every batch to `max_length` (fixed shapes).
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
        rows = [encoding.ids for encoding in self._encode(texts)] if texts else []
        if pad_to == "max":
            width = self.max_length
        elif pad_to == "longest":
            width = max((len(row) for row in rows), default=0) or 1
            if len(rows) == 1 and rows[0]:  # one text, the latency case: skip the padding copy (~5 us)
                return np.array(rows, dtype=np.int64)
        else:
            raise ValueError("pad_to is 'longest' or 'max'")
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    def save(self, path: str | Path) -> None:
        """Write tokenizer.json (readable by any `tokenizers` port)."""
        Path(path).write_text(self.to_str(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        try:
            tokenizer = Tokenizer.from_str(Path(path).read_text(encoding="utf-8"))
        except Exception as err:  # the Rust parser raises a bare Exception
            raise ValueError(f"{path}: not a tokenizer.json ({err})") from None
        return cls(tokenizer)

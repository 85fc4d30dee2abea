"""Conformance vectors: texts with the ids and logits a bundle must give for them, in every runtime.

Every bundle carries `conformance.json`: a few hundred texts (a sample of the test split and hard Unicode:
combining marks, emoji with modifiers, right-to-left scripts, CJK, zero-width and full-width characters, a
10,000-word text), the ids its tokenizer gives them (truncated to the bundle's max length, unpadded) and each
variant's logits as the Python runtime computes them at export. Another runtime (the JavaScript one under
toolkit/js, a C++ app) is correct for this bundle when it reproduces them: ids exactly, fp32 logits to 1e-4.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CONFORMANCE_FILE = "conformance.json"
SAMPLE = 200  # test texts, spread evenly over the split
LOGIT_TOLERANCE = 1e-4  # max |logit difference| allowed against the recorded logits

# Each line exercises something a tokenizer port can get wrong.
HARD_TEXTS = [
    "",
    " ",
    "\t\n\r ",
    "i feel <unk> today",  # augmentation's mask word: the unknown id
    "<pad> is not padding",
    "I DON'T feel   great!! 😊",
    "it’s `fine` isn't it",  # typographic apostrophes
    "नमस्ते, मैं आज बहुत खुश हूँ",  # Devanagari: combining vowel signs and virama stay inside words
    "İstanbul'da çok mutluyum, IŞIK ılık",  # Turkish dotted and dotless I
    "مرحبا، أنا سعيد جدا اليوم",  # Arabic, right to left
    "שלום, אני מרגיש נהדר",  # Hebrew
    "i feel \u202eevil\u202c and \u200fhappy\u200e",  # bidi controls
    "café naïve coöperate façade",  # precomposed accents
    "cafe\u0301 nai\u0308ve",  # decomposed accents (NFKC composes them)
    "Z̷̢͎̈́a̶̝͝l̸̰̀g̴̱̈ő̵̖ text",  # stacked combining marks
    "我今天很开心",  # Chinese
    "今日はとても悲しいです",  # Japanese
    "나는 오늘 정말 화가 난다",  # Korean (Hangul syllables)
    "ｆｕｌｌ－ｗｉｄｔｈ ＨＡＰＰＹ １２３",  # full-width forms
    "ﬁne ﬂowers ½ ² ㎏",  # ligatures and compatibility characters
    "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffjoy",  # zero-width characters
    "\ufeffbom at the start, next\u0085line, vertical\u000btab",  # whitespace Rust and JavaScript disagree on
    "👍🏽 👩🏾‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷",  # skin tones, ZWJ sequences, variation selectors, flags
    "happy😊sad😢angry😠",  # emoji glued to words
    "😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊😊",
    "i am sooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo"
    "oooooooooo happy",  # a word longer than WordPiece's 100 characters
    "https://example.com/a/b?c=d&e=f #hashtag @user",
    "email me at someone@example.org!!!",
    "3.14159 1,000,000 ５０% -42",
    "ÀÉÎÕÜ ÆØÅ ß ẞ Σίσυφος ΌΣΟΣ",  # capitals with special lower-casing (final sigma, sharp s)
    "Привет, я чувствую себя прекрасно",
    "ⅰⅱⅲ ⓗⓐⓟⓟⓨ 𝓱𝓪𝓹𝓹𝔂 𝐡𝐚𝐩𝐩𝐲",  # roman numerals, circled and mathematical letters (NFKC)
    "i feel \u0000 null \u0007 bell",  # control characters
    "i\u00a0feel\u2003spaced\u3000out",  # non-breaking, em and ideographic spaces
    "\ud800 lone surrogate \udfff",  # from broken JSON: both runtimes read U+FFFD
    "a\U0001f600b\U00010348c",  # astral plane (UTF-16 surrogate pairs in JavaScript)
    "ก็ดีใจมากครับ",  # Thai: combining marks, no spaces
    "ᎣᏏᏲ ᏙᎯᏧ",  # Cherokee
    "i feel  so   alone\n\nand\tsad",
    "I FEEL SO LOVED AND ACCEPTED",
    "i feel so loved and accepted",
    "not happy at all, not at all",
    "i'm i’m im",
]
LONG_WORDS = 10_000


def long_text(words: Sequence[str]) -> str:
    """A 10,000-word text cycling through `words` (runtimes must truncate it, not choke on it)."""
    return " ".join(words[i % len(words)] for i in range(LONG_WORDS))


def conformance_texts(test_texts: Sequence[str]) -> list[str]:
    step = max(1, len(test_texts) // SAMPLE)
    sample = list(test_texts[::step][:SAMPLE])
    return sample + HARD_TEXTS + [long_text(" ".join(test_texts[:50]).split() or ["word"])]


def make_vectors(texts: Sequence[str], ids: np.ndarray, logits: dict[str, np.ndarray]) -> dict:
    """The conformance document: texts, unpadded ids and every variant's logits (rounded to 1e-6)."""
    return {
        "logit_tolerance": LOGIT_TOLERANCE,
        "texts": list(texts),
        "ids": [[int(i) for i in row[row != 0]] for row in ids],
        "logits": {name: np.round(values.astype(np.float64), 6).tolist() for name, values in logits.items()},
    }


def write(path: Path, vectors: dict) -> None:
    # ensure_ascii: every character, lone surrogates included, survives as an escape any JSON parser reads
    path.write_text(json.dumps(vectors, ensure_ascii=True), encoding="utf-8")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check(classifier, vectors: dict) -> dict:
    """Compare a loaded `TextClassifier` with the vectors; returns mismatch counts and the largest logit error."""
    texts = vectors["texts"]
    ids = classifier.vocab.encode(texts)
    id_mismatches = sum(
        [int(i) for i in row[row != 0]] != expected for row, expected in zip(ids, vectors["ids"], strict=True)
    )
    logits = classifier.logits(texts)
    expected = np.asarray(vectors["logits"][f"{classifier.backend}/{classifier.precision}"])
    return {
        "texts": len(texts),
        "id_mismatches": id_mismatches,
        "max_abs_logit_diff": float(np.abs(logits - expected).max()),
        "label_mismatches": int((logits.argmax(1) != expected.argmax(1)).sum()),
    }

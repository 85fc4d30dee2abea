"""Robustness of a bundle under hostile input: a fuzz run over every backend and precision, and a tampering
matrix of damaged bundles. Counts crashes (any exception but a one-line BundleError) and silent wrong answers.

    python benchmarks/robustness.py exported/emotion-mlp --texts 100000 \
        --output benchmarks/results/robustness-emotion-mlp.json

Fuzz texts mix random code points (lone surrogates, controls, combining marks, zero-width and bidi marks,
emoji, CJK, private use) with real-looking words, empty and very long texts. A fuzzed text's answer is wrong
when the probabilities are not a distribution, or when one text alone gets another answer than in a batch.
A tampered bundle's answer is wrong when it loads and classifies a fixed text set differently from the intact
bundle; refusing to load (BundleError) is the right outcome.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kdedge.errors import BundleError
from kdedge.results import record_environment, write_json
from kdedge.runtime import MODEL_FILES, TextClassifier, sha256_file

RANGES = [
    (0x20, 0x7E),  # ASCII
    (0x00, 0x1F),  # controls
    (0xD800, 0xDFFF),  # lone surrogates
    (0x0300, 0x036F),  # combining marks
    (0x0900, 0x097F),  # Devanagari
    (0x0600, 0x06FF),  # Arabic (RTL)
    (0x200B, 0x200F),  # zero-width and bidi marks
    (0xFF01, 0xFF5E),  # full-width forms
    (0x4E00, 0x4FFF),  # CJK
    (0x1F300, 0x1F6FF),  # emoji
    (0x1F3FB, 0x1F3FF),  # skin-tone modifiers
    (0xE000, 0xE0FF),  # private use
    (0x10FFF0, 0x10FFFF),  # the last code points
]
WORDS = [
    "i",
    "feel",
    "so",
    "happy",
    "sad",
    "angry",
    "scared",
    "love",
    "surprised",
    "today",
    "the",
    "was",
    "not",
    "very",
]


def fuzz_texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = ["", " ", "\x00", "\ud800", "a" * 100_000, " ".join(["feel"] * 10_000)]
    while len(texts) < count:
        parts = []
        for _ in range(int(rng.integers(1, 30))):
            if rng.random() < 0.5:
                parts.append(str(rng.choice(WORDS)))
            else:
                low, high = RANGES[int(rng.integers(len(RANGES)))]
                parts.append("".join(chr(int(c)) for c in rng.integers(low, high + 1, int(rng.integers(1, 6)))))
        texts.append(("" if rng.random() < 0.5 else " ").join(parts))
    return texts[:count]


def fuzz(bundle: Path, texts: list[str], singles: int) -> dict:
    """Per backend/precision: crashes, invalid distributions, single-vs-batch disagreements."""
    out = {}
    for backend, precision in MODEL_FILES:
        clf = TextClassifier.load(bundle, backend, precision)
        crashes = invalid = disagree = 0
        probabilities = []
        started = time.perf_counter()
        for start in range(0, len(texts), 256):
            chunk = texts[start : start + 256]
            try:
                p = clf.predict_proba(chunk)
            except Exception:
                crashes += len(chunk)
                continue
            invalid += int((~np.isfinite(p).all(1) | (np.abs(p.sum(1) - 1) > 1e-4)).sum())
            probabilities.append(p.argmax(1))
        batch = np.concatenate(probabilities) if probabilities else np.zeros(0, int)
        for i in range(min(singles, len(batch))):
            try:
                disagree += int(clf.predict_proba([texts[i]])[0].argmax() != batch[i])
            except Exception:
                crashes += 1
        out[f"{backend}/{precision}"] = {
            "texts": len(texts),
            "single_texts_checked": min(singles, len(batch)),
            "crashes": crashes,
            "invalid_distributions": invalid,
            "single_vs_batch_disagreements": disagree,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return out


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        change(manifest)
        path.write_text(json.dumps(manifest), encoding="utf-8")

    return apply


def _relisted(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """A change to the bundle's files with the manifest's checksums updated to match: a consistent forgery."""

    def apply(folder: Path) -> None:
        change(folder)
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["files"] = {name: sha256_file(folder / name) for name in manifest["files"]}
        path.write_text(json.dumps(manifest), encoding="utf-8")

    return apply


def _tokenizer(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / json.loads((folder / "manifest.json").read_text())["tokenizer"]
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")

    return _relisted(apply)


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda m: m.__setitem__(key, value)


def _outside_tokenizer(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    shutil.copy(folder / manifest["tokenizer"], folder.parent / "stray-tokenizer.json")
    manifest["tokenizer"] = "../stray-tokenizer.json"
    manifest["files"]["../stray-tokenizer.json"] = sha256_file(folder.parent / "stray-tokenizer.json")
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _unlisted_tokenizer(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    shutil.copy(folder / manifest["tokenizer"], folder / "other.json")
    manifest["tokenizer"] = "other.json"
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _more_words(tokenizer: dict) -> None:
    vocab = tokenizer["model"]["vocab"]
    vocab.update({f"zz{i}": len(vocab) + i for i in range(50)})


def _swap_words(tokenizer: dict) -> None:
    vocab = tokenizer["model"]["vocab"]
    words = sorted(vocab, key=vocab.get)[2:]
    vocab.update(zip(words, sorted((vocab[w] for w in words), reverse=True)))


def _truncate(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes((folder / name).read_bytes()[:100])


def tamperings() -> dict[str, Callable[[Path], None]]:
    cases: dict[str, Callable[[Path], None]] = {
        "manifest not JSON": lambda f: (f / "manifest.json").write_text("{not json"),
        "manifest a list": lambda f: (f / "manifest.json").write_text("[]"),
        "manifest not UTF-8": lambda f: (f / "manifest.json").write_bytes(b"\xff\xfe{"),
        "manifest missing": lambda f: (f / "manifest.json").unlink(),
        "tokenizer outside the bundle": _outside_tokenizer,
        "tokenizer not listed in files": _unlisted_tokenizer,
        "absolute file entry": _edit_manifest(lambda m: m["files"].__setitem__("/etc/hostname", "0" * 64)),
        "parent file entry": _edit_manifest(lambda m: m["files"].__setitem__("../x", "0" * 64)),
        "digest not hex": _edit_manifest(lambda m: m["files"].__setitem__(next(iter(m["files"])), "zz")),
        "files a list": _edit_manifest(_set("files", ["model.onnx"])),
        "files empty": _edit_manifest(_set("files", {})),
        "label_names too few": _edit_manifest(lambda m: m.__setitem__("label_names", m["label_names"][:-1])),
        "label_names too many": _edit_manifest(lambda m: m.__setitem__("label_names", [*m["label_names"], "x"])),
        "label_names one": _edit_manifest(_set("label_names", ["a"])),
        "label_names duplicates": _edit_manifest(lambda m: m.__setitem__("label_names", ["a"] * len(m["label_names"]))),
        "label_names not strings": _edit_manifest(
            lambda m: m.__setitem__("label_names", list(range(len(m["label_names"]))))
        ),
        "label_names missing": _edit_manifest(lambda m: m.pop("label_names")),
        "max_length missing": _edit_manifest(lambda m: m.pop("max_length")),
        "max_length negative": _edit_manifest(_set("max_length", -1)),
        "max_length a string": _edit_manifest(_set("max_length", "64")),
        "max_length changed": _edit_manifest(lambda m: m.__setitem__("max_length", m["max_length"] + 1)),
        "tokenizer key missing": _edit_manifest(lambda m: m.pop("tokenizer")),
        "tokenizer a number": _edit_manifest(_set("tokenizer", 3)),
        "conformance not listed": _edit_manifest(_set("conformance", "elsewhere.json")),
        "source missing": _edit_manifest(lambda m: m.pop("source")),
        "source params a string": _edit_manifest(lambda m: m["source"].__setitem__("params", "many")),
        "format version 0": _edit_manifest(_set("format_version", 0)),
        "format other": _edit_manifest(_set("format", "other")),
        "tokenizer truncated": _truncate("tokenizer.json"),
        "tokenizer more words than the table": _tokenizer(_more_words),
        "tokenizer words swapped": _tokenizer(_swap_words),
        "tokenizer not a tokenizer": _tokenizer(lambda t: t.clear()),
        "tokenizer max_length changed": _tokenizer(lambda t: t["truncation"].__setitem__("max_length", 65)),
        "tokenizer without truncation": _tokenizer(lambda t: t.__setitem__("truncation", None)),
    }
    for name in sorted({*MODEL_FILES.values(), *(n.replace(".xml", ".bin") for n in MODEL_FILES.values())}):
        cases[f"{name} truncated"] = _truncate(name)
        cases[f"{name} truncated, relisted"] = _relisted(_truncate(name))
        cases[f"{name} deleted"] = lambda f, n=name: (f / n).unlink()
    return cases


# Changes a forger can make consistently that the runtime cannot detect: the words' order is the model's
# own business. They are reported, not counted as the runtime's failures.
UNDETECTABLE = {"tokenizer words swapped"}


def tamper(bundle: Path, texts: list[str]) -> dict:
    reference = {key: TextClassifier.load(bundle, *key).predict(texts) for key in MODEL_FILES}
    rows = {}
    for name, change in tamperings().items():
        with tempfile.TemporaryDirectory() as work:
            folder = Path(work) / "bundle"
            shutil.copytree(bundle, folder)
            change(folder)
            outcomes = {}
            for key in MODEL_FILES:
                try:
                    answer = TextClassifier.load(folder, *key).predict(texts)
                except BundleError:
                    outcomes["/".join(key)] = "refused"
                except Exception as err:
                    outcomes["/".join(key)] = f"crash: {type(err).__name__}"
                else:
                    outcomes["/".join(key)] = "same answers" if answer == reference[key] else "silent wrong answer"
            rows[name] = outcomes
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--texts", type=int, default=100_000, help="fuzz texts per backend and precision")
    parser.add_argument("--singles", type=int, default=2_000, help="of them, also classified one at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    texts = fuzz_texts(args.texts, args.seed)
    fuzzed = fuzz(args.bundle, texts, args.singles)
    tampered = tamper(args.bundle, fuzz_texts(300, args.seed + 1))
    outcomes = [(name, o) for name, row in tampered.items() for o in row.values()]
    summary = {
        "fuzz_crashes": sum(r["crashes"] for r in fuzzed.values()),
        "fuzz_wrong_answers": sum(
            r["invalid_distributions"] + r["single_vs_batch_disagreements"] for r in fuzzed.values()
        ),
        "tamper_cases": len(tampered),
        "tamper_crashes": sum(o.startswith("crash") for _, o in outcomes),
        "tamper_silent_wrong_answers": sum(o == "silent wrong answer" for n, o in outcomes if n not in UNDETECTABLE),
        "tamper_undetectable_by_design": sorted(UNDETECTABLE),
    }
    result = {"bundle": str(args.bundle), "seed": args.seed, "summary": summary, "fuzz": fuzzed, "tampering": tampered}
    if args.output:
        write_json(args.output, {**result, **record_environment()})
    print(json.dumps(summary, indent=2))
    return 0 if not any(v for k, v in summary.items() if k.endswith(("crashes", "answers"))) else 1


if __name__ == "__main__":
    sys.exit(main())

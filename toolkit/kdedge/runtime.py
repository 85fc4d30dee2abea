"""The torch-free runtime that apps embed: load a bundle, classify texts.

Needs only numpy, `tokenizers` and the chosen backend (onnxruntime or openvino): `pip install kdedge` is
enough. Importing this module loads no torch, transformers, datasets or scikit-learn. Loading checks the
bundle's manifest (format version and the sha256 of every file), so a corrupted or mismatched bundle fails with
a clear error instead of classifying wrongly.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import NoReturn

import numpy as np

from .errors import BundleError
from .text import Vocabulary

BUNDLE_FORMAT = "kdedge-bundle"
BUNDLE_VERSION = 2  # 2: tokenizer.json (Hugging Face tokenizers) and conformance vectors
BACKENDS = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "int8")
MODEL_FILES = {
    ("onnxruntime", "fp32"): "model.onnx",
    ("onnxruntime", "int8"): "model.int8.onnx",
    ("openvino", "fp32"): "openvino/model.xml",
    ("openvino", "int8"): "openvino/model.int8.xml",
}


def softmax(logits: np.ndarray) -> np.ndarray:
    if len(logits) == 1:  # one text, the latency case: Python floats beat numpy's per-call cost on a few numbers
        row = logits[0].tolist()
        top = max(row)
        exp = [math.exp(value - top) for value in row]
        total = math.fsum(exp)
        return np.array([[value / total for value in exp]], dtype=np.float32)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(bundle: str | Path, verify: bool = True) -> dict:
    """The bundle's manifest, after checking it against the bundle format and (with `verify`) every listed
    file's checksum. Any problem is one BundleError line: a manifest is data from whoever made the bundle."""
    bundle = Path(bundle)
    path = bundle / "manifest.json"
    if not path.is_file():
        raise BundleError(f"{bundle}: not a kdedge bundle (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: the manifest is not a JSON object")
    if manifest.get("format") == BUNDLE_FORMAT and manifest.get("format_version") == 1:
        raise BundleError(
            f"{bundle}: a bundle of format v1 (kdedge's own tokenizer), this kdedge reads v{BUNDLE_VERSION}: re-make "
            "its student with `kdedge distill` and export it with `kdedge export STUDENT --out BUNDLE --force`"
        )
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("format_version") != BUNDLE_VERSION:
        raise BundleError(
            f"{bundle}: bundle format {manifest.get('format')!r} v{manifest.get('format_version')!r}, "
            f"this kdedge reads {BUNDLE_FORMAT!r} v{BUNDLE_VERSION}"
        )
    check_manifest(bundle, manifest)
    if verify:
        for name, expected in manifest["files"].items():
            file = bundle / name
            if not file.is_file():
                raise BundleError(f"{bundle}: {name} is missing")
            if sha256_file(file) != expected:
                raise BundleError(f"{bundle}: {name} is corrupted (sha256 does not match the manifest)")
    return manifest


def check_manifest(bundle: Path, manifest: dict) -> None:
    """The keys the runtime and bench read, with their types; file names relative, inside the bundle, listed."""

    def fail(message: str) -> NoReturn:
        raise BundleError(f"{bundle}: invalid manifest: {message}")

    names = manifest.get("label_names")
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) and n for n in names)):
        fail("label_names must be a list of at least two non-empty strings")
    if len(set(names)) != len(names):
        fail("label_names has duplicates")
    length = manifest.get("max_length")
    if not (isinstance(length, int) and not isinstance(length, bool) and 1 <= length <= 1_000_000):
        fail("max_length must be a positive integer")
    files = manifest.get("files")
    if not (isinstance(files, dict) and files):
        fail("files must map file names to sha256 digests")
    root = bundle.resolve()
    for name, digest in files.items():
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            fail(f"files[{name!r}] is not a sha256 hex digest")
        relative = PurePosixPath(name)
        if not name or relative.is_absolute() or ".." in relative.parts or "\\" in name:
            fail(f"file {name!r} is not a relative path inside the bundle")
        if not (bundle / name).resolve().is_relative_to(root):
            fail(f"file {name!r} leads outside the bundle")
    tokenizer = manifest.get("tokenizer")
    if not isinstance(tokenizer, str) or tokenizer not in files:
        fail("tokenizer must name a file listed in files")
    if "conformance" in manifest and manifest["conformance"] not in files:
        fail("conformance must name a file listed in files")
    source = manifest.get("source")
    if not (isinstance(source, dict) and isinstance(source.get("params"), int) and isinstance(source.get("path"), str)):
        fail("source must give the student's path and parameter count")


def onnx_session(model_file: Path | bytes, threads: int | None = None):
    """An ONNX Runtime session for a student model (a file, or the model's bytes), set up as the runtime runs
    it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # int8 bundles store weights as int8 + DequantizeLinear; with QDQ handling off, ONNX Runtime folds them into
    # fp32 weights once at load instead of dequantizing the whole table on every call.
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    options.log_severity_level = 4  # failures reach the caller as exceptions; no second copy on stderr
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    model = model_file if isinstance(model_file, bytes) else str(model_file)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class TextClassifier:
    """Classify texts with an exported student bundle.

    >>> clf = TextClassifier.load("exported/emotion-mlp", backend="onnxruntime", precision="int8")
    >>> clf.predict(["i feel wonderful today"])
    ['joy']

    Safe to call from several threads: ONNX Runtime sessions are thread-safe, and each thread gets its own
    OpenVINO infer request. `threads` caps the threads of one call; OpenVINO runs a single text on one.
    """

    def __init__(self, bundle: Path, manifest: dict, backend: str, precision: str, threads: int | None) -> None:
        self.bundle = bundle
        self.manifest = manifest
        self.backend = backend
        self.precision = precision
        self.label_names: list[str] = list(manifest["label_names"])
        try:
            self.vocab = Vocabulary.load(bundle / manifest["tokenizer"])
        except (OSError, ValueError) as err:
            raise BundleError(f"{bundle}: unreadable tokenizer {manifest['tokenizer']} ({err})") from None
        model_name = MODEL_FILES[backend, precision]
        model_file = bundle / model_name
        needed = (
            [model_name, str(PurePosixPath(model_name).with_suffix(".bin"))] if backend == "openvino" else [model_name]
        )
        if any(name not in manifest["files"] for name in needed):
            raise BundleError(f"{bundle}: this bundle has no {backend} {precision} model")
        if self.vocab.max_length != manifest["max_length"]:
            raise BundleError(f"{bundle}: the vocabulary's max_length is not the manifest's")
        self._local = threading.local()
        self._static_single = manifest.get("source", {}).get("architecture") != "transformer"
        self._table_rows: int | None = None  # embedding rows, where the backend lets us read them
        try:
            self._open(model_file, backend, threads)
        except Exception as err:  # both runtimes raise their own types for a damaged model file
            raise BundleError(f"{bundle}: cannot load {model_name} ({type(err).__name__}: {err})") from None
        self._check_model()

    def _open(self, model_file: Path, backend: str, threads: int | None) -> None:
        if backend == "onnxruntime":
            import onnxruntime as ort

            self._session = onnx_session(model_file, threads)
            self._input = self._session.get_inputs()[0].name
            # named outputs and one RunOptions for every call: `run` otherwise builds both on each call (~3 us)
            self._outputs = [self._session.get_outputs()[0].name]
            self._run_options = ort.RunOptions()
        else:
            import openvino as ov

            config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
            if threads:
                config["INFERENCE_NUM_THREADS"] = threads
            # f32 hint: on CPUs with AMX or avx512_bf16 OpenVINO would otherwise run an fp32 model in bf16.
            core = ov.Core()
            model = core.read_model(str(model_file))
            # One text at a time (the latency case) runs a copy compiled for the static shape (1, max_length)
            # on one thread: for a model this small OpenVINO's per-call handling of dynamic shapes and of
            # threads costs more than the compute (measured per text: 170 -> 63 us for the static shape, and
            # 161 -> 90 us end to end for one thread instead of two). Students give the same answer however a
            # text is padded. Not for a transformer student, whose every padded position costs attention and a
            # feed-forward pass: it runs a single text at the text's own length (on one thread too).
            self._table_rows = _embedding_rows(model)
            single = model.clone()
            if self._static_single:
                single.reshape([1, self.vocab.max_length])
            self._compiled = {
                "batch": core.compile_model(model, "CPU", config),
                "single": core.compile_model(single, "CPU", {**config, "INFERENCE_NUM_THREADS": 1}),
            }

    def _check_model(self) -> None:
        """The model must score every label and have a table row for every id the vocabulary can give: ONNX
        Runtime fails on an id past the table, but OpenVINO would silently read memory past it."""
        if self._table_rows is not None and self._table_rows < len(self.vocab):
            raise BundleError(
                f"{self.bundle}: the vocabulary gives ids up to {len(self.vocab) - 1}, "
                f"the model has {self._table_rows} rows"
            )
        ids = np.full((1, 1), len(self.vocab) - 1, dtype=np.int64)
        try:
            width = self._infer(ids, "batch").shape[-1]
        except Exception as err:
            raise BundleError(f"{self.bundle}: the model rejects the vocabulary's ids ({type(err).__name__})") from None
        if width != len(self.label_names):
            raise BundleError(
                f"{self.bundle}: the model scores {width} labels, the manifest names {len(self.label_names)}"
            )

    @classmethod
    def load(
        cls,
        bundle: str | Path,
        backend: str = "onnxruntime",
        precision: str = "int8",
        threads: int | None = None,
        verify: bool = True,
    ) -> TextClassifier:
        if backend not in BACKENDS:
            raise ValueError(f"backend is one of {BACKENDS}, not {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision is one of {PRECISIONS}, not {precision!r}")
        bundle = Path(bundle)
        return cls(bundle, read_manifest(bundle, verify), backend, precision, threads)

    def _run(self, texts: list[str]) -> np.ndarray:
        """Logits of one chunk; OpenVINO runs a single text through its one-thread copy, padded to `max_length`
        where that copy has the static shape."""
        kind = "single" if self.backend == "openvino" and len(texts) == 1 else "batch"
        static = kind == "single" and self._static_single
        return self._infer(self.vocab.encode(texts, pad_to="max" if static else "longest"), kind)

    def _infer(self, ids: np.ndarray, kind: str) -> np.ndarray:
        if self.backend == "onnxruntime":
            return self._session.run(self._outputs, {self._input: ids}, self._run_options)[0]
        requests = self._local.__dict__.setdefault("requests", {})
        if kind not in requests:
            requests[kind] = self._compiled[kind].create_infer_request()
        return requests[kind].infer([ids])[0].copy()

    def logits(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Raw scores (n, labels). Texts longer than the bundle's max length are truncated."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        if len(texts) == 1:  # the latency case: no chunking and concatenating
            return self._run(texts).astype(np.float32, copy=False)
        parts = [self._run(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        return softmax(self.logits(texts, batch_size))

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[str]:
        return [self.label_names[i] for i in self.logits(texts, batch_size).argmax(axis=1)]


def _embedding_rows(model) -> int | None:
    """Rows of the smallest embedding table that the model's input ids index: the Gathers that read a constant
    2-D table (shape computations gather from 1-D tensors, activations have a dynamic batch axis) with indices
    that come from the input (through type conversions only), so a transformer's position and token-type
    tables, indexed by computed positions, do not count."""

    def from_input(value) -> bool:
        node = value.get_node()
        while node.get_type_name() == "Convert":
            node = node.input_value(0).get_node()
        return node.get_type_name() == "Parameter"

    rows = [
        op.input_value(0).get_partial_shape()[0].get_length()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Gather"
        and op.input_value(0).get_partial_shape().is_static
        and len(op.input_value(0).get_partial_shape()) == 2
        and from_input(op.input_value(1))
    ]
    return min(rows, default=None)

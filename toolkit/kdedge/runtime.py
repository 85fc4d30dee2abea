"""The torch-free runtime that apps embed: load a bundle, classify texts.

Needs only numpy, `tokenizers` and the chosen backend (onnxruntime or openvino): `pip install kdedge` is
enough. Importing this module loads no torch, transformers, datasets or scikit-learn. Loading checks the
bundle's manifest (format version and the sha256 of every file), so a corrupted or mismatched bundle fails with
a clear error instead of classifying wrongly.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

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
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(bundle: str | Path, verify: bool = True) -> dict:
    """The bundle's manifest, after checking its format and (with `verify`) every file's checksum."""
    bundle = Path(bundle)
    path = bundle / "manifest.json"
    if not path.is_file():
        raise BundleError(f"{bundle}: not a kdedge bundle (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: unreadable manifest ({err})") from None
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
    if verify:
        for name, expected in manifest["files"].items():
            file = bundle / name
            if not file.is_file():
                raise BundleError(f"{bundle}: {name} is missing")
            if sha256_file(file) != expected:
                raise BundleError(f"{bundle}: {name} is corrupted (sha256 does not match the manifest)")
    return manifest


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
        except ValueError as err:
            raise BundleError(f"{bundle}: {err}") from None
        model_file = bundle / MODEL_FILES[backend, precision]
        if MODEL_FILES[backend, precision] not in manifest["files"]:
            raise BundleError(f"{bundle}: this bundle has no {backend} {precision} model")
        self._local = threading.local()
        if backend == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            # int8 bundles store weights as int8 + DequantizeLinear; with QDQ handling off, ONNX Runtime folds
            # them into fp32 weights once at load instead of dequantizing the whole table on every call.
            options.add_session_config_entry("session.disable_quant_qdq", "1")
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
            self._input = self._session.get_inputs()[0].name
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
            # text is padded.
            single = model.clone()
            single.reshape([1, self.vocab.max_length])
            self._compiled = {
                "batch": core.compile_model(model, "CPU", config),
                "single": core.compile_model(single, "CPU", {**config, "INFERENCE_NUM_THREADS": 1}),
            }

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
        """Logits of one chunk; OpenVINO runs a single text padded to `max_length` through its static copy."""
        if self.backend == "onnxruntime":
            return self._session.run(None, {self._input: self.vocab.encode(texts)})[0]
        kind = "single" if len(texts) == 1 else "batch"
        ids = self.vocab.encode(texts, pad_to="max" if kind == "single" else "longest")
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
        parts = [self._run(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        return softmax(self.logits(texts, batch_size))

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[str]:
        return [self.label_names[i] for i in self.logits(texts, batch_size).argmax(axis=1)]

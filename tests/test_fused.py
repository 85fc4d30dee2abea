"""The tokenizer fused into the int8 OpenVINO model (kdedge export --fused): text in, the runtime's logits out."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kdedge import conformance, fused
from kdedge.data import load_dataset
from kdedge.errors import KdedgeError
from kdedge.export import export_student
from kdedge.runtime import TextClassifier, read_manifest
from kdedge.text import sanitize
from test_shipped import SHIPPED

pytest.importorskip("openvino_tokenizers")


def _run_fused(bundle, texts: list[str]) -> np.ndarray:
    import openvino as ov
    import openvino_tokenizers  # noqa: F401

    config = read_manifest(bundle)["fused"]["compile_with"]  # f32: bf16 on CPUs that have it changes logits by ~0.1
    request = ov.Core().compile_model(str(bundle / fused.FUSED_FILE), "CPU", config).create_infer_request()
    return np.concatenate([request.infer({0: [text]})[0] for text in texts])


def test_fused_model_classifies_raw_text_as_the_runtime_does(tmp_path, small_student, emotion_small):
    dataset = load_dataset(str(emotion_small))
    bundle = tmp_path / "bundle"
    manifest = export_student(small_student, bundle, dataset, log=lambda m: None, fused=True)
    assert manifest["fused"]["id_mismatches"] == 0 and manifest["fused"]["texts"] >= 200
    assert fused.FUSED_FILE in read_manifest(bundle)["files"]  # checksummed like every other file
    texts = [*dataset.test.texts[:100], "", "I FEEL   great!!", "我今天很开心", "naïve café", "😊😊 happy"]
    expected = TextClassifier.load(bundle, "openvino", "int8").logits(texts)
    assert np.abs(_run_fused(bundle, texts) - expected).max() < 1e-4


def test_a_fused_model_that_tokenizes_differently_is_refused(tmp_path, bundle, monkeypatch):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    # the converter's own reading of BertPreTokenizer splits CJK text into characters; tokenizers does not
    monkeypatch.setattr(fused, "convertible", lambda tokenizer_json: tokenizer_json)
    with pytest.raises(KdedgeError, match=r"does not conform: [1-9]"):
        fused.export_fused(copy, read_manifest(copy)["max_length"])
    assert not (copy / fused.FUSED_FILE).exists()


@pytest.mark.parametrize("bundle", [p for p in SHIPPED if "fused" in read_manifest(p)], ids=lambda p: p.name)
def test_shipped_fused_model_reproduces_the_conformance_logits(bundle):
    vectors = conformance.load(bundle / conformance.CONFORMANCE_FILE)
    logits = _run_fused(bundle, [sanitize(text) for text in vectors["texts"]])
    assert np.abs(logits - np.asarray(vectors["logits"]["openvino/int8"])).max() <= vectors["logit_tolerance"]

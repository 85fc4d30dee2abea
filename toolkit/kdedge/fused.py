"""The bundle's tokenizer fused into its int8 OpenVINO model (`kdedge export --fused`): text in, logits out.

With `openvino-tokenizers`, tokenizer.json becomes OpenVINO string operations, and the student's IR reads their
ids: one `openvino/fused.int8.xml` that an app in any language OpenVINO serves (C, C++, Python, Java via JNI)
runs without tokenizer code, loading the openvino-tokenizers extension library. Export checks it against the
bundle's conformance vectors (ids of every text exactly, logits within their tolerance) and refuses otherwise.

Two things its converter does differently from `tokenizers`, found by the conformance vectors (openvino-tokenizers
2026.4.1): it reads BertPreTokenizer as BERT's whole basic tokenizer and splits CJK text into single characters
(tokenizers leaves that to BertNormalizer, which kdedge does not use), and its WhitespaceSplit and Punctuation
differ on format characters and emoji or fail to convert. So it is given the same pre-tokenizer spelt as two
regex Splits, which `tokenizers` itself checks to give the same ids. Its own `connect_models` drops the
tokenizer's state (truncation is a ReadValue whose Assign it leaves out: "ReadValue ... doesn't have sibling
output" when run), so the two graphs are joined here. Texts are padded to the bundle's max length, so the
student always sees one shape (per-call reshaping made every new length slow). Apps compile it with the
manifest's `compile_with` (an fp32 precision hint, as kdedge's runtime does: on CPUs with bf16 OpenVINO would
otherwise run it in bf16, and logits moved by up to 0.1 here; the IR cannot carry that setting).

Measured on the shipped Emotion bundle (AMD EPYC, one thread): ids and logits match all 244 conformance texts,
but one text takes ~300 us, against ~62 us for kdedge's Python runtime: OpenVINO's string operations are slow
per call. It is an option for apps that cannot tokenize, not the fast path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import conformance
from .errors import KdedgeError
from .text import UNK, sanitize

FUSED_FILE = "openvino/fused.int8.xml"
COMPILE_WITH = {"INFERENCE_PRECISION_HINT": "f32"}
_SOURCE = "openvino/model.int8.xml"
# BertPreTokenizer, spelt as `tokenizers` runs it: split on whitespace (removed), then isolate punctuation (ASCII
# punctuation and Unicode's P categories)
_BERT_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\s+"}, "behavior": "Removed", "invert": False},
        {"type": "Split", "pattern": {"Regex": r"[!-/:-@\[-`{-~]|\p{P}"}, "behavior": "Isolated", "invert": False},
    ],
}


def convertible(tokenizer_json: str) -> str:
    """tokenizer.json with BertPreTokenizer spelt as two Splits (see the module's docstring)."""
    spec = json.loads(tokenizer_json)
    if (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer":
        spec["pre_tokenizer"] = _BERT_PRE_TOKENIZER
    return json.dumps(spec)


def _tokenizer_model(bundle: Path, max_length: int):
    """The bundle's tokenizer as an OpenVINO model, its ids checked against `tokenizers` on the conformance texts."""
    from openvino_tokenizers import convert_tokenizer
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    original = (bundle / "tokenizer.json").read_text(encoding="utf-8")
    spelt = Tokenizer.from_str(convertible(original))
    reference = Tokenizer.from_str(original)
    texts = [sanitize(text) for text in conformance.load(bundle / conformance.CONFORMANCE_FILE)["texts"]]
    if any(spelt.encode(text).ids != reference.encode(text).ids for text in texts):
        raise KdedgeError("the spelt-out pre-tokenizer gives other ids than tokenizer.json's")
    wrapper = PreTrainedTokenizerFast(tokenizer_object=spelt, unk_token=UNK, model_max_length=max_length)
    return convert_tokenizer(wrapper, truncation=True, max_length=max_length, use_max_padding=True)


def export_fused(bundle: Path, max_length: int) -> dict:
    """Write FUSED_FILE (and its .bin) into `bundle`, which must already hold its int8 OpenVINO model and
    conformance vectors; returns what the check found, for the manifest. KdedgeError when it does not conform."""
    try:
        import openvino as ov
        import openvino_tokenizers  # noqa: F401  (registers the string operations with OpenVINO)
    except ImportError:
        raise KdedgeError("--fused needs openvino-tokenizers: pip install openvino-tokenizers") from None
    tokenizer = _tokenizer_model(bundle, max_length)
    core = ov.Core()
    vectors = conformance.load(bundle / conformance.CONFORMANCE_FILE)
    texts = [sanitize(text) for text in vectors["texts"]]  # Python strings with lone surrogates are not UTF-8
    ids_request = core.compile_model(tokenizer, "CPU").create_infer_request()
    id_mismatches = 0
    for text, expected in zip(texts, vectors["ids"], strict=True):
        row = ids_request.infer({0: [text]})["input_ids"][0]
        id_mismatches += [int(i) for i in row[row != 0]] != expected
    student = core.read_model(str(bundle / _SOURCE))
    ids = tokenizer.output("input_ids").get_node().input_value(0)
    for target in student.input(0).get_target_inputs():
        target.replace_source_output(ids)
    fused = ov.Model(student.outputs, tokenizer.get_sinks(), tokenizer.get_parameters(), "text_to_logits")
    fused.validate_nodes_and_infer_types()
    request = core.compile_model(fused, "CPU", COMPILE_WITH).create_infer_request()
    logits = np.concatenate([request.infer({0: [text]})[0] for text in texts])
    error = float(np.abs(logits - np.asarray(vectors["logits"]["openvino/int8"])).max())
    if id_mismatches or not error <= vectors["logit_tolerance"]:
        raise KdedgeError(
            f"the fused model does not conform: {id_mismatches} of {len(texts)} texts get other ids, "
            f"logits differ by up to {error:.2e}"
        )
    ov.save_model(fused, str(bundle / FUSED_FILE), compress_to_fp16=False)
    return {
        "file": FUSED_FILE,
        "compile_with": COMPILE_WITH,
        "texts": len(texts),
        "id_mismatches": 0,
        "max_abs_logit_diff": error,
    }

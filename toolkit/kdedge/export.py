"""`kdedge export`: a student folder -> a self-contained bundle for the torch-free runtime.

The bundle holds fp32 and int8 models for ONNX Runtime and OpenVINO, the tokenizer (tokenizer.json),
conformance vectors, the label names, a
manifest (sha256 of every file, versions, the source, and every variant's measured accuracy and agreement with
the torch student) and a model card. It is built in a temporary folder and renamed into place at the end.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from . import conformance
from .data import TextDataset
from .errors import KdedgeError
from .evaluate import evaluate
from .graph import simplify
from .results import atomic_folder, versions
from .runtime import BUNDLE_FORMAT, BUNDLE_VERSION, MODEL_FILES, TextClassifier, sha256_file
from .students import Student
from .text import TOKENIZER_FILE

OPSET = 18
CALIBRATION_SIZE = 1000
MIN_AGREEMENT = 0.99  # int8 must agree with fp32 on at least this share of validation predictions


def export_onnx(model: torch.nn.Module, example_ids: torch.Tensor, path: Path) -> None:
    """fp32 ONNX with dynamic batch and sequence axes (torch's dynamo exporter, which needs onnxscript).

    The export runs in a fresh process: in torch 2.13 a second export of a GRU/LSTM student in one process
    freezes the sequence axis to the example's length (the exporter's dynamic-shape RNN decompositions only
    hold for the first one), and the model then fails on texts of any other length."""
    import io
    import subprocess
    import sys

    buffer = io.BytesIO()
    torch.save((model.eval(), example_ids, str(path)), buffer)
    worker = "import sys; from kdedge.export import _export_onnx; _export_onnx(sys.stdin.buffer.read())"
    done = subprocess.run([sys.executable, "-c", worker], input=buffer.getvalue(), capture_output=True)
    if done.returncode:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
        raise KdedgeError(f"ONNX export failed: {lines[-1]}")
    strip_metadata(path)


def _export_onnx(saved: bytes) -> None:
    """The export itself, in the fresh process `export_onnx` starts (its arguments come as torch.save bytes)."""
    import io

    torch.set_num_threads(1)
    model, example_ids, path = torch.load(io.BytesIO(saved), weights_only=False)  # our own bytes, from the parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes on GRU weights and merged axes; the export is verified after
        batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
        torch.onnx.export(
            model,
            (example_ids,),
            path,
            input_names=["input_ids"],
            output_names=["logits"],
            dynamic_shapes=({0: batch, 1: sequence},),
            dynamo=True,
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )


def strip_metadata(path: Path) -> None:
    """Drop the exporter's per-node metadata (Python stack traces with local paths, FX node text): ~10 KB
    in a student's model, more than its whole graph, and nothing a runtime reads."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, str(path))


# Which axis of a weight holds the output channels (one int8 scale each), by the op that consumes it.
_CHANNEL_AXIS = {"Gather": -1, "Gemm": 0, "MatMul": -1, "Conv": 0, "LSTM": 1}
_MIN_QUANTIZED = 64  # smaller tensors (biases, attention scores) stay fp32: they cost nothing


def quantize_onnx(source: Path, target: Path) -> dict[str, int]:
    """int8 ONNX with every weight matrix (embedding, linear, convolution, LSTM) stored as int8 with one scale
    per output channel (per embedding dimension for the embedding), dequantized by the graph's DequantizeLinear.

    Weight-only on purpose, after measuring ONNX Runtime's dynamic quantization here: it skips Gemm; its
    MatMulInteger scales activations per *batch*, so a text's answer depended on the other texts in its batch;
    its signed weights saturate in the AVX2 kernels of CPUs without VNNI (10x the logit error); and its
    per-tensor embedding scale was 3x less precise than per-word scales. The runtime folds the dequantization
    into the weights once at load (see `runtime.TextClassifier`), so int8 is as fast as fp32 and 4x smaller.

    Returns the op types of the quantized graph, so the caller can check what really got quantized."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            consumers.setdefault(name, (node, position))
    keep, new_nodes = [], []
    for init in graph.initializer:
        node, position = consumers.get(init.name, (None, None))
        weight = numpy_helper.to_array(init)
        quantize = (
            node is not None
            and node.op_type in _CHANNEL_AXIS
            and weight.dtype == np.float32
            and weight.ndim >= 2
            and weight.size >= _MIN_QUANTIZED
            and position == (0 if node.op_type == "Gather" else 1)
        )
        if node is not None and node.op_type == "Gemm":
            trans_b = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
            quantize = quantize and trans_b == 1
        if not quantize:
            keep.append(init)
            continue
        axis = _CHANNEL_AXIS[node.op_type] % weight.ndim
        reduce = tuple(i for i in range(weight.ndim) if i != axis)
        scale = np.maximum(np.abs(weight).max(axis=reduce), 1e-12) / 127.0
        shape = [1] * weight.ndim
        shape[axis] = -1
        quantized = np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
        name = init.name
        keep += [
            numpy_helper.from_array(quantized, f"{name}.int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}.scale"),
        ]
        new_nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{name}.int8", f"{name}.scale"],
                [name],
                name=f"{name}.dequantize",
                axis=axis,
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = new_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    counts: dict[str, int] = {}
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def openvino_full_int8(model, calibration_ids: list[np.ndarray]):
    """Full post-training int8 (weights and activations) of a student's OpenVINO model (left as it is),
    calibrated on `calibration_ids` with the MINMAX range estimator (NNCF's default quantile ranges clip the
    activations of short texts)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    ranges = RangeEstimatorParametersSet.MINMAX
    quantized = nncf.quantize(
        model.clone(),
        nncf.Dataset(calibration_ids),
        subset_size=len(calibration_ids),
        advanced_parameters=AdvancedQuantizationParameters(
            activations_range_estimator_params=ranges, weights_range_estimator_params=ranges
        ),
    )
    # The embedding table feeds a Gather, which post-training quantization leaves in fp32: weight compression
    # stores it (and any weight still in fp32) as int8 too.
    return nncf.compress_weights(quantized, mode=nncf.CompressWeightsMode.INT8_SYM)


def openvino_weight_only_int8(model):
    """int8 weights (symmetric, per channel), fp32 activations, of an OpenVINO model (left as it is)."""
    import nncf

    return nncf.compress_weights(model.clone(), mode=nncf.CompressWeightsMode.INT8_SYM)


def export_openvino(onnx_path: Path, folder: Path, calibration_ids: list[np.ndarray], check: tuple) -> dict:
    """OpenVINO IR in fp32 (no fp16 weight compression) and int8 (NNCF).

    int8 first tries full post-training quantization calibrated on training texts (`openvino_full_int8`).
    Activations that are means over a varying number of words are hard to quantize per tensor, so when that
    variant agrees with fp32 on less than `MIN_AGREEMENT` of the validation texts (`check` = (ids, fp32
    logits)), or is larger, only the weights are quantized and activations stay fp32. Returns which mode was
    kept, and why.
    """
    import nncf
    import openvino as ov

    # NNCF logs its compression statistics as INFO tables with progress bars; what export kept is said by the
    # caller, in one line
    nncf.set_log_level(logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_path))  # once: each int8 variant quantizes its own clone
    ov.save_model(model, str(folder / "model.xml"), compress_to_fp16=False)
    quantized = openvino_full_int8(model, calibration_ids)
    ids, reference = check
    compiled = ov.Core().compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    agreement = float((compiled(ids)[0].argmax(1) == reference.argmax(1)).mean())
    # weight-only int8 is the fallback, saved as the bundle's int8 first; full int8 replaces it only if it keeps
    # the answers and is no larger (NNCF keeps a GRU's weights in fp32 beside its fake-quantize nodes, which made
    # a recurrent student's full int8 file 4.5x the weight-only one)
    ov.save_model(openvino_weight_only_int8(model), str(folder / "model.int8.xml"), compress_to_fp16=False)
    fallback = {"mode": "int8 weights, fp32 activations", "full_int8_validation_agreement": agreement}
    if agreement < MIN_AGREEMENT:
        why = f"full quantization agreed with fp32 on {agreement:.2%} of validation texts, below {MIN_AGREEMENT:.0%}"
        return {**fallback, "why": why}
    ov.save_model(quantized, str(folder / "model.int8-full.xml"), compress_to_fp16=False)
    full_size, small_size = ((folder / f"model.{name}.bin").stat().st_size for name in ("int8-full", "int8"))
    if full_size > small_size:
        for suffix in (".xml", ".bin"):
            (folder / f"model.int8-full{suffix}").unlink()
        why = f"full quantization's weights take {full_size:,} bytes, weight-only int8 {small_size:,}"
        return {**fallback, "why": why}
    for suffix in (".xml", ".bin"):
        (folder / f"model.int8-full{suffix}").replace(folder / f"model.int8{suffix}")
    return {
        "mode": "post-training quantization (weights and activations, MINMAX ranges)",
        "full_int8_validation_agreement": agreement,
    }


def export_student(
    student_dir: str | Path,
    out: str | Path,
    dataset: TextDataset,
    force: bool = False,
    log=print,
    fused: bool = False,
    warn=None,
) -> dict:
    """Export a student folder to a bundle; every variant is checked against the torch student on `dataset`'s
    test split, and the figures go into the manifest. `fused` adds the tokenizer fused into the int8 OpenVINO
    model (kdedge.fused). `warn` (default: `log`) says when OpenVINO's int8 falls back from full to weight-only
    quantization, so a quiet caller still hears it."""
    student = Student.from_pretrained(student_dir)
    if student.label_names != dataset.label_names:
        raise KdedgeError(f"the student's labels {student.label_names} are not the dataset's {dataset.label_names}")
    texts = dataset.test.texts
    reference = student.logits(texts)
    calibration = [
        student.vocab.encode([t]) for t in dataset.train.texts[:: max(1, len(dataset.train) // CALIBRATION_SIZE)]
    ]
    with atomic_folder(out, force=force) as tmp:
        student.vocab.save(tmp / TOKENIZER_FILE)
        log("exporting ONNX fp32")
        export_onnx(
            student.model, torch.from_numpy(student.vocab.encode(texts[:4])), tmp / MODEL_FILES["onnxruntime", "fp32"]
        )
        val_ids = student.vocab.encode(dataset.validation.texts)
        log("simplifying the ONNX graph")
        # checked on the validation split as one padded batch and on single texts, as the runtime runs them
        graph = simplify(tmp / MODEL_FILES["onnxruntime", "fp32"], [val_ids, *calibration[:50]])
        log(
            f"  {graph['exported_nodes']} -> {graph['nodes']} nodes"
            if graph["simplified"]
            else f"  kept the exported graph ({graph['why']})"
        )
        log("quantizing ONNX int8")
        ops = quantize_onnx(tmp / "model.onnx", tmp / MODEL_FILES["onnxruntime", "int8"])
        log("converting to OpenVINO fp32 and int8 (NNCF)")
        openvino_int8 = export_openvino(
            tmp / "model.onnx", tmp / "openvino", calibration, (val_ids, student.logits(dataset.validation.texts))
        )
        if "why" in openvino_int8:
            (warn or log)(
                f"warning: OpenVINO int8 fell back to weight-only int8 ({openvino_int8['mode']}): "
                f"{openvino_int8['why']}"
            )
        else:
            log(f"OpenVINO int8: {openvino_int8['mode']}")
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "kind": "student",
            "label_names": student.label_names,
            "tokenizer": TOKENIZER_FILE,
            "max_length": student.vocab.max_length,
            "opset": OPSET,
            "source": {
                "path": str(student_dir),
                "architecture": student.architecture,
                "options": student.options,
                "params": student.params,
            },
            "onnx_graph": graph,
            "onnx_int8_ops": ops,
            "openvino_int8": openvino_int8,
            "versions": versions(),
            "evaluated_on": dataset.describe(),
        }
        _write_manifest(tmp, manifest)
        log("writing conformance vectors")
        _write_conformance(tmp, dataset.test.texts)  # the runtime's own output, so the bundle must load first
        manifest["conformance"] = conformance.CONFORMANCE_FILE
        if fused:
            from .fused import export_fused

            log("fusing the tokenizer into the int8 OpenVINO model (openvino-tokenizers)")
            manifest["fused"] = export_fused(tmp, student.vocab.max_length)
        _write_manifest(tmp, manifest)
        manifest["variants"] = _check_variants(tmp, dataset, reference, log)
        (tmp / "README.md").write_text(model_card(manifest), encoding="utf-8")
        _write_manifest(tmp, manifest)
    return manifest


def _write_manifest(folder: Path, manifest: dict) -> None:
    """(Re)write manifest.json with the sha256 of every other file of the bundle."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest["files"] = {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _write_conformance(bundle: Path, test_texts: list[str]) -> None:
    """conformance.json: ids and every variant's logits, from the Python runtime, for other runtimes to match."""
    texts = conformance.conformance_texts(test_texts)
    logits = {}
    for backend, precision in MODEL_FILES:
        classifier = TextClassifier.load(bundle, backend, precision, verify=False)
        logits[f"{backend}/{precision}"] = classifier.logits(texts)
    vectors = conformance.make_vectors(texts, classifier.vocab.encode(texts), logits)
    conformance.write(bundle / conformance.CONFORMANCE_FILE, vectors)


def _check_variants(bundle: Path, dataset: TextDataset, reference: np.ndarray, log) -> dict:
    """Accuracy of every backend x precision on the test split, and how closely it follows the torch student."""
    variants = {}
    torch_pred = reference.argmax(1)
    for backend, precision in MODEL_FILES:
        classifier = TextClassifier.load(bundle, backend, precision)
        logits = classifier.logits(dataset.test.texts)
        metrics = evaluate(dataset.test.labels, logits.argmax(1), dataset.label_names)
        key = f"{backend}/{precision}"
        variants[key] = {
            "file": MODEL_FILES[backend, precision],
            "test_accuracy": metrics["accuracy"],
            "test_macro_f1": metrics["macro_f1"],
            "agreement_with_torch": float((logits.argmax(1) == torch_pred).mean()),
            "max_abs_logit_diff_vs_torch": float(np.abs(logits - reference).max()),
        }
        log(
            f"  {key}: accuracy {metrics['accuracy']:.4f}, agreement with torch "
            f"{variants[key]['agreement_with_torch']:.4f}, max |logit diff| "
            f"{variants[key]['max_abs_logit_diff_vs_torch']:.2e}"
        )
    return variants


def model_card(manifest: dict) -> str:
    """A README for the bundle: what it is, how to use it, how well each variant does."""
    source = manifest["source"]
    data = manifest["evaluated_on"]
    rows = "\n".join(
        f"| {key} | `{v['file']}` | {v['test_accuracy']:.4f} | {v['test_macro_f1']:.4f} | "
        f"{v['agreement_with_torch']:.4f} | {v['max_abs_logit_diff_vs_torch']:.1e} |"
        for key, v in manifest["variants"].items()
    )
    fused = (
        f"""
`{manifest["fused"]["file"]}` is the tokenizer and the int8 model in one OpenVINO IR: a string tensor in,
logits out, for apps without a tokenizer (load the openvino-tokenizers extension; compile with
`{json.dumps(manifest["fused"]["compile_with"])}`). It reproduces the conformance ids and logits.
"""
        if "fused" in manifest
        else ""
    )
    return f"""# kdedge bundle: {source["architecture"]} student, {source["params"]:,} parameters

Labels: {", ".join(manifest["label_names"])}. Texts are tokenized by `tokenizer.json` (Hugging Face
`tokenizers`: NFKC, lower-case, BERT pre-tokenizer, WordPiece) and truncated to {manifest["max_length"]} tokens.
`conformance.json` holds texts with the ids and logits every runtime must reproduce.

## Use

```python
from kdedge.runtime import TextClassifier  # pip install kdedge (no torch needed)

clf = TextClassifier.load("path/to/this/folder", backend="onnxruntime", precision="int8")
clf.predict(["i feel wonderful today"])
```

or `kdedge predict path/to/this/folder "i feel wonderful today"`. In Node or a browser (kdedge's `toolkit/js`):

```js
const clf = await TextClassifier.load("path/or/url/of/this/folder", {{ precision: "int8" }});
await clf.predict(["i feel wonderful today"]);
```

`kdedge export path/to/this/folder --web --out site` makes a page that classifies as you type in the browser.
{fused}
## Measured at export on {data["name"]} test ({data["sizes"]["test"]:,} texts)

| variant | file | accuracy | macro-F1 | agreement with torch | max abs logit diff |
|---|---|---|---|---|---|
{rows}

Source student: `{source["path"]}`. Library versions, opset and file checksums are in `manifest.json`.
"""


def export_teacher(teacher_dir: str | Path, out: str | Path, int8: bool = True, force: bool = False, log=print) -> dict:
    """Export a fine-tuned teacher to ONNX (fp32, and int8 by ONNX Runtime's dynamic quantization) next to its
    tokenizer, for fast labeling (`kdedge label --backend onnxruntime`) and the benchmark's transformer rows.

    Dynamic quantization is the standard recipe for transformers; its per-batch activation scales make
    answers depend slightly on the batch, which is why the agreement with fp32 is measured and recorded."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .teacher import TEACHER_FILE, Teacher

    teacher = Teacher.from_pretrained(teacher_dir)
    example = teacher.tokenizer(["i feel fine", "a longer example text"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    wrapper = _LogitsOnly(teacher.model, names).eval()
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", min=2)
    meta = json.loads((Path(teacher_dir) / TEACHER_FILE).read_text(encoding="utf-8"))
    with atomic_folder(out, force=force) as tmp:
        log("exporting the teacher to ONNX fp32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # notes on merged dynamic axes, not faults (tests compare with torch)
            torch.onnx.export(
                wrapper,
                tuple(example[n] for n in names),
                str(tmp / "model.onnx"),
                input_names=names,
                output_names=["logits"],
                dynamic_shapes=(tuple({0: batch, 1: sequence} for _ in names),),  # one spec per *tensors element
                dynamo=True,
                opset_version=OPSET,
                external_data=False,
                verbose=False,
            )
        strip_metadata(tmp / "model.onnx")
        if int8:
            log("quantizing the teacher to int8 (dynamic)")
            quantize_dynamic(
                tmp / "model.onnx",
                tmp / "model.int8.onnx",
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QUInt8,
                per_channel=True,
            )
        teacher.tokenizer.save_pretrained(tmp)
        meta.update(
            {
                "source": str(teacher_dir),
                "fingerprint": teacher.fingerprint,
                "inputs": names,
                "params": teacher.params,
                "versions": versions(),
            }
        )
        (tmp / TEACHER_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


class _LogitsOnly(torch.nn.Module):
    """A Hugging Face classifier called with positional tensors, returning only the logits (exportable)."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, tensors))).logits

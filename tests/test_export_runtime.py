import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import numpy_helper

from kdedge import conformance
from kdedge.data import load_dataset
from kdedge.errors import BundleError, KdedgeError
from kdedge.export import export_student
from kdedge.runtime import MODEL_FILES, TextClassifier, read_manifest
from kdedge.students import Student

VARIANTS = list(MODEL_FILES)


@pytest.fixture(scope="module")
def texts(emotion_small):
    return load_dataset(str(emotion_small)).test.texts


def test_bundle_has_every_file_and_a_verified_manifest(bundle):
    manifest = read_manifest(bundle)
    for name in (
        "model.onnx",
        "model.int8.onnx",
        "openvino/model.xml",
        "openvino/model.bin",
        "openvino/model.int8.xml",
        "openvino/model.int8.bin",
        "tokenizer.json",
        "conformance.json",
        "README.md",
    ):
        assert name in manifest["files"]
    assert not list(bundle.glob("*.data"))  # one self-contained ONNX file, no external data
    # every big weight of the int8 model is stored as int8 and reaches the embedding and linear layer dequantized
    model = onnx.load(str(bundle / "model.int8.onnx"))
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    assert all(a.dtype == np.int8 for a in arrays.values() if a.size >= 64)
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    consumers = {n.op_type for n in model.graph.node if set(n.input) & dequantized}
    assert consumers == {"Gather", "Gemm"}
    assert manifest["onnx_int8_ops"]["DequantizeLinear"] == 2
    assert manifest["onnx_graph"]["simplified"] and manifest["onnx_graph"]["max_logit_change"] <= 1e-4
    for name in ("model.onnx", "model.int8.onnx"):  # no exporter metadata (stack traces with local paths)
        assert not any(n.metadata_props for n in onnx.load(str(bundle / name)).graph.node)
    assert "README.md" in manifest["files"] and "accuracy" in (bundle / "README.md").read_text()


def test_fp32_matches_torch_and_int8_agrees(bundle, small_student, texts):
    student = Student.from_pretrained(small_student)
    reference = student.logits(texts)
    manifest = read_manifest(bundle)
    for backend, precision in VARIANTS:
        logits = TextClassifier.load(bundle, backend, precision).logits(texts)
        recorded = manifest["variants"][f"{backend}/{precision}"]
        agreement = float((logits.argmax(1) == reference.argmax(1)).mean())
        assert agreement == pytest.approx(recorded["agreement_with_torch"])
        if precision == "fp32":
            assert np.abs(logits - reference).max() < 1e-4
        else:
            assert agreement >= 0.99
            accuracy_drop = manifest["variants"][f"{backend}/fp32"]["test_accuracy"] - recorded["test_accuracy"]
            assert accuracy_drop <= 0.005


@pytest.mark.parametrize(("backend", "precision"), VARIANTS)
def test_one_text_at_a_time_gives_the_batch_answer(bundle, texts, backend, precision):
    """OpenVINO runs single texts through a copy compiled for a static, padded shape."""
    classifier = TextClassifier.load(bundle, backend, precision)
    batch = classifier.logits(texts[:20])
    alone = np.concatenate([classifier.logits([text]) for text in texts[:20]])
    assert np.abs(alone - batch).max() < 1e-4


@pytest.mark.parametrize(("backend", "precision"), VARIANTS)
def test_conformance_vectors_are_reproduced(bundle, backend, precision):
    vectors = conformance.load(bundle / conformance.CONFORMANCE_FILE)
    texts = vectors["texts"]
    assert 200 <= len(texts) <= 1000 and max(len(t.split()) for t in texts) == 10_000
    assert "\ud800 lone surrogate \udfff" in texts and any("\u0301" in t for t in texts)
    assert max(len(ids) for ids in vectors["ids"]) == read_manifest(bundle)["max_length"]
    report = conformance.check(TextClassifier.load(bundle, backend, precision), vectors)
    assert report["id_mismatches"] == 0 and report["label_mismatches"] == 0
    assert report["max_abs_logit_diff"] < vectors["logit_tolerance"]


def test_conformance_check_notices_a_different_tokenizer(bundle, small_student, emotion_small, tmp_path):
    """The vectors pin the tokenizer: a bundle whose tokenizer splits differently fails them."""
    from kdedge.text import Vocabulary

    classifier = TextClassifier.load(bundle)
    vectors = conformance.load(bundle / conformance.CONFORMANCE_FILE)
    classifier.vocab = Vocabulary.build(load_dataset(str(emotion_small)).train.texts, size=300)
    report = conformance.check(classifier, vectors)
    assert report["id_mismatches"] > 100 and report["max_abs_logit_diff"] > 1e-3


def test_old_bundle_format_gets_a_one_line_hint(bundle, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1, "vocab": "vocab.json"}))
    with pytest.raises(BundleError, match="re-make its student with `kdedge distill`") as err:
        TextClassifier.load(copy)
    assert "\n" not in str(err.value)
    proc = subprocess.run([sys.executable, "-m", "kdedge", "predict", str(copy), "x"], capture_output=True, text=True)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and "kdedge export" in proc.stderr


def test_old_student_format_is_refused_with_a_hint(small_student, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(small_student, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "format_version": 1}))
    with pytest.raises(BundleError, match="re-make it with `kdedge distill`"):
        Student.from_pretrained(copy)


def test_int8_files_are_small(bundle):
    manifest = read_manifest(bundle)
    int8 = sum((bundle / name).stat().st_size for name in manifest["files"] if ".int8." in name)
    assert int8 < 200 * 1024


def test_export_refuses_to_overwrite_without_force(bundle, small_student, emotion_small):
    with pytest.raises(KdedgeError, match="already exists"):
        export_student(small_student, bundle, load_dataset(str(emotion_small)), log=lambda m: None)


def test_export_cli_keeps_nncf_statistics_out(small_student, emotion_small, tmp_path):
    run = [sys.executable, "-m", "kdedge", "export", str(small_student), "--data", str(emotion_small)]
    proc = subprocess.run([*run, "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "bundle written" in proc.stdout and "OpenVINO int8" in proc.stderr  # kdedge's own lines stay
    assert "Statistics of the bitwidth" not in proc.stdout + proc.stderr and "━" not in proc.stderr


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: (b / "model.int8.onnx").write_bytes((b / "model.int8.onnx").read_bytes()[:-10]), "corrupted"),
        (lambda b: (b / "openvino" / "model.bin").unlink(), "missing"),
        (lambda b: (b / "tokenizer.json").write_text("{}"), "corrupted"),
        (
            lambda b: (b / "manifest.json").write_text(
                json.dumps({**json.loads((b / "manifest.json").read_text()), "format_version": 99})
            ),
            "format",
        ),
        (lambda b: (b / "manifest.json").unlink(), "not a kdedge bundle"),
    ],
)
def test_damaged_bundles_fail_loudly(bundle, tmp_path, damage, message):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    damage(copy)
    with pytest.raises(BundleError, match=message):
        TextClassifier.load(copy)


def test_odd_inputs(bundle):
    classifier = TextClassifier.load(bundle)
    long_text = " ".join(["happy"] * 5000)
    truncated = " ".join(["happy"] * classifier.vocab.max_length)
    probabilities = classifier.predict_proba(
        ["", "   ", "😊😊", "Привет мир", "日本語のテキスト", long_text, truncated, "broken \ud800 json"]
    )
    assert probabilities.shape == (8, 6) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert np.allclose(probabilities[5], probabilities[6])  # long texts are cut at the bundle's max length
    assert classifier.predict([]) == []
    with pytest.raises(TypeError):
        classifier.predict(["fine", 3])
    with pytest.raises(TypeError):
        classifier.predict("a single string")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=8))
def test_arbitrary_unicode_never_crashes(bundle, texts):
    classifier = _classifier(bundle)
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (len(texts), 6)
    assert np.all(np.isfinite(probabilities))


_CACHE: dict = {}


def _classifier(bundle):
    return _CACHE.setdefault(str(bundle), TextClassifier.load(bundle))


@pytest.mark.parametrize(("backend", "precision"), VARIANTS)
def test_threads_get_the_same_answers(bundle, texts, backend, precision):
    classifier = TextClassifier.load(bundle, backend, precision)
    expected = classifier.predict(texts)
    chunks = [texts[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda chunk: classifier.predict(chunk), chunks * 4))
    for i, result in enumerate(results):
        assert result == expected[i % 8 :: 8]


def test_runtime_never_imports_torch(bundle):
    code = (
        "import sys; from kdedge.runtime import TextClassifier; "
        f"c = TextClassifier.load({str(bundle)!r}, 'openvino', 'int8'); print(c.predict(['i feel great'])); "
        f"TextClassifier.load({str(bundle)!r}).predict(['x']); "
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_predict_cli(bundle):
    run = [sys.executable, "-m", "kdedge", "predict", str(bundle)]
    proc = subprocess.run([*run, "i feel great", ""], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["i feel great", ""]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-3 for r in rows)
    stdin = b'"i am so angry"\n{"text": "i feel scared"}\n\xff\xfe\n42\nnot json\n{"text": "last"}\n'
    proc = subprocess.run([*run, "--backend", "openvino"], input=stdin, capture_output=True)
    assert proc.returncode == 0
    assert [json.loads(line)["text"] for line in proc.stdout.decode().splitlines()] == [
        "i am so angry",
        "i feel scared",
        "last",
    ]
    errors = proc.stderr.decode().splitlines()
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5"]


def test_predict_cli_on_a_bad_bundle(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kdedge", "predict", str(tmp_path), "x"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and proc.stderr.strip() == f"Error: {tmp_path}: not a kdedge bundle (no manifest.json)"


def test_openvino_int8_keeps_full_quantization_only_when_it_keeps_the_answers(tmp_path):
    """A bag of words: full int8 agrees with fp32 and is kept; checked against answers it cannot agree with,
    weight-only int8 is kept instead. Either way the bundle holds one int8 model and no leftover candidate."""
    import openvino as ov
    from onnx import TensorProto, helper

    from kdedge.export import MIN_AGREEMENT, export_openvino

    rng = np.random.default_rng(0)
    table, weight = rng.normal(size=(200, 32)).astype(np.float32), rng.normal(size=(32, 3)).astype(np.float32)
    constants = {"table": table, "weight": weight, "axes": np.array([1], np.int64)}
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["vectors"]),
            helper.make_node("ReduceMean", ["vectors", "axes"], ["mean"], keepdims=0),
            helper.make_node("MatMul", ["mean", "weight"], ["logits"]),
        ],
        "bag",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "model.onnx")
    ids = rng.integers(0, 200, size=(300, 8))
    logits = table[ids].mean(1) @ weight
    calibration = [ids[i : i + 1] for i in range(50)]
    for name, answers, mode in (("kept", logits, "post-training"), ("fallback", -logits, "int8 weights")):
        folder = tmp_path / name
        info = export_openvino(tmp_path / "model.onnx", folder, calibration, (ids, answers))
        assert info["mode"].startswith(mode), info
        assert sorted(p.name for p in folder.iterdir()) == [
            "model.bin",
            "model.int8.bin",
            "model.int8.xml",
            "model.xml",
        ]
        int8 = ov.Core().compile_model(str(folder / "model.int8.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        assert (int8(ids)[0].argmax(1) == logits.argmax(1)).mean() >= MIN_AGREEMENT
    assert "below 99%" in info["why"] and info["full_int8_validation_agreement"] == 0

"""Simplifying exported student graphs: fewer nodes, the same logits, the exported graph kept when in doubt."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from kdedge import graph
from kdedge.export import export_onnx
from kdedge.students import Student
from kdedge.text import Vocabulary

TEXTS = ["i feel happy today and so on", "so sad", "i am angry at the world for this", "ok", ""]


def _export(tmp_path, architecture: str, **options):
    vocab = Vocabulary.build(TEXTS * 5, size=40)
    torch.manual_seed(0)
    student = Student.create(architecture, vocab, ["a", "b", "c"], **options)
    path = tmp_path / "model.onnx"
    export_onnx(student.model, torch.from_numpy(vocab.encode(TEXTS[:4])), path)
    checks = [vocab.encode(TEXTS), *(vocab.encode([text]) for text in TEXTS)]
    return student, path, checks


def _ops(path) -> list[str]:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def test_recurrent_attention_student_loses_the_exporters_shape_code(tmp_path):
    student, path, checks = _export(tmp_path, "mlp", pooling="recurrent")
    before = _ops(path)
    done = graph.simplify(path, checks)
    after = _ops(path)
    assert done["simplified"] and done["exported_nodes"] == len(before) and done["nodes"] == len(after)
    assert len(after) <= len(before) - 12
    # the GRU starts from ONNX's default zero state, and no mask arithmetic, Einsum or shape chain is left
    assert not {"Expand", "Cast", "Sub", "Einsum", "Shape", "Concat", "Slice", "Constant"} & set(after)
    gru = next(node for node in onnx.load(str(path)).graph.node if node.op_type == "GRU")
    assert len(gru.input) == 4
    session = ort.InferenceSession(str(path))
    for ids in [*checks, np.zeros((2, 3), dtype=np.int64)]:  # padded batches, single texts, all padding
        expected = student.model(torch.from_numpy(ids)).detach().numpy()
        assert np.abs(session.run(None, {"input_ids": ids})[0] - expected).max() < 1e-5
    assert done["max_logit_change"] < 1e-5


@pytest.mark.parametrize(("architecture", "options"), [("bilstm", {"dim": 8}), ("cnn", {})])
def test_other_students_give_the_same_logits(tmp_path, architecture, options):
    student, path, checks = _export(tmp_path, architecture, **options)
    before = _ops(path)
    done = graph.simplify(path, checks)
    assert done["simplified"] and len(_ops(path)) <= len(before)  # masked max pooling becomes a Where
    session = ort.InferenceSession(str(path))
    for ids in checks:
        expected = student.model(torch.from_numpy(ids)).detach().numpy()
        assert np.abs(session.run(None, {"input_ids": ids})[0] - expected).max() < 1e-5


def test_a_simplification_that_changes_logits_is_not_kept(tmp_path, monkeypatch):
    _, path, checks = _export(tmp_path, "mlp", pooling="recurrent")
    exported = path.read_bytes()
    monkeypatch.setattr(graph, "MAX_LOGIT_CHANGE", -1.0)  # any change, even none, counts as too much
    done = graph.simplify(path, checks)
    assert not done["simplified"] and done["why"].startswith("logits changed by")
    assert path.read_bytes() == exported


@pytest.mark.parametrize(
    ("equation", "ops"),
    [
        ("blh,bld->bhd", ["Transpose", "MatMul"]),
        ("xyz,xyw->xzw", ["Transpose", "MatMul"]),
        ("bij,bik->bkj", ["Einsum"]),  # the product's axes swapped: not this rule's
    ],
)
def test_batched_matmul_rule_reads_the_einsum_equation(equation, ops):
    a, b = np.random.default_rng(0).normal(size=(2, 2, 5, 3)).astype(np.float32)
    nodes = [onnx.helper.make_node("Einsum", ["a", "b"], ["y"], equation=equation)]
    inputs = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [2, 5, 3]) for n in "ab"]
    output = [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)]
    model = onnx.helper.make_model(
        onnx.helper.make_graph(nodes, "g", inputs, output), opset_imports=[onnx.helper.make_opsetid("", 18)]
    )
    rewritten = graph._rewrite(model)
    assert [node.op_type for node in rewritten.graph.node] == ops
    result = ort.InferenceSession(rewritten.SerializeToString()).run(None, {"a": a, "b": b})[0]
    assert np.allclose(result, np.einsum(equation, a, b), atol=1e-6)

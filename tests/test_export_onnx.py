"""ONNX export of the sequence students: every export keeps a dynamic sequence axis."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from kdedge.export import export_onnx
from kdedge.students import Student
from kdedge.text import Vocabulary


def test_recurrent_students_export_with_a_dynamic_sequence_axis_every_time(tmp_path):
    texts = ["i feel happy today and so on", "so sad", "i am angry at the world for this", "ok"]
    vocab = Vocabulary.build(texts * 5, size=40)
    # torch 2.13 froze the sequence axis of the second GRU export in a process; export_onnx runs each in its own
    for i, (architecture, options) in enumerate([("mlp", {"pooling": "recurrent"})] * 2 + [("bilstm", {"dim": 8})]):
        student = Student.create(architecture, vocab, ["a", "b"], **options)
        path = tmp_path / f"{i}.onnx"
        export_onnx(student.model, torch.from_numpy(vocab.encode(texts)), path)
        session = ort.InferenceSession(str(path))
        assert session.get_inputs()[0].shape == ["batch", "sequence"]
        for text in ("ok", "a much longer text than any of the examples the export saw here"):
            ids = vocab.encode([text])
            expected = student.model(torch.from_numpy(ids)).detach().numpy()
            assert np.allclose(session.run(None, {"input_ids": ids})[0], expected, atol=1e-5)


def test_full_int8_keeps_the_answers_of_max_pooling_students(tmp_path):
    """Masking padding with a large negative constant before max pooling gave every activation a range of
    ~1e4, so OpenVINO's full int8 (one scale per tensor) answered the same for every text."""
    from conftest import EMOTION, read_jsonl
    from kdedge.export import export_openvino

    texts = [r["text"] for r in read_jsonl(EMOTION / "train.jsonl", 1200)]
    vocab = Vocabulary.build(texts[:1000], size=1000)
    torch.manual_seed(0)
    for architecture in ("cnn", "bilstm"):
        student = Student.create(architecture, vocab, ["a", "b", "c", "d", "e", "f"])
        path = tmp_path / f"{architecture}.onnx"
        export_onnx(student.model, torch.from_numpy(vocab.encode(texts[:4])), path)
        calibration = [vocab.encode([t]) for t in texts[:300]]
        held = texts[1000:]
        info = export_openvino(path, tmp_path / architecture, calibration, (vocab.encode(held), student.logits(held)))
        # untrained: close logits, so argmaxes are fragile; the -1e4 masking gave 0%
        assert info["full_int8_validation_agreement"] >= 0.8, (architecture, info)

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

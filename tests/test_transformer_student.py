"""The transformer student: a tiny BERT teacher cut down, its vocabulary pruned, distilled, saved, exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from kdedge import conformance
from kdedge.data import load_dataset
from kdedge.distill import StudentConfig, distill
from kdedge.errors import KdedgeError
from kdedge.export import export_student
from kdedge.runtime import MODEL_FILES, TextClassifier
from kdedge.students import Student
from kdedge.teacher import default_base_model
from kdedge.text import PAD_ID, UNK_ID
from kdedge.transformer_student import prune_vocabulary


def _teacher_ids(tokenizer_file: Path, texts: list[str]) -> list[list[int]]:
    full = Tokenizer.from_file(str(tokenizer_file))
    full.no_truncation()
    full.no_padding()
    return [encoding.ids for encoding in full.encode_batch(texts)]


def test_pruned_tokenizer_splits_transfer_texts_as_the_teacher(emotion_small):
    """MiniLM's real WordPiece vocabulary (shipped in a pip package): the pruned tokenizer gives the teacher's
    pieces on every transfer text, a fraction of the vocabulary, padding at id 0, and unseen words still split."""
    source = Path(default_base_model()) / "tokenizer.json"
    texts = load_dataset(str(emotion_small)).train.texts[:500] + ["Zoë's naïve café, 42 km/h!!"]
    vocab, rows = prune_vocabulary(source, texts, pad_id=0, max_length=512)
    assert len(vocab) == len(rows) < 0.2 * Tokenizer.from_file(str(source)).get_vocab_size()
    assert vocab.tokens[PAD_ID] == "<pad>" and vocab.tokens[UNK_ID] == "<unk>" and rows[:2] == [0, 100]
    mapped = [[rows[i] for i in vocab.ids(text)] for text in texts]
    assert mapped == _teacher_ids(source, texts)
    # a word the transfer set never had splits into kept pieces (down to single characters), never unknown
    unseen = "xylophonist quizzically"
    assert UNK_ID not in vocab.ids(unseen) and len(vocab.ids(unseen)) > 4
    assert vocab.ids("<unk>")[1:-1] == [UNK_ID]  # augmentation's mask word is the unknown id


def test_transformer_student_distils_saves_and_runs_in_every_runtime(tiny_teacher, emotion_small, tmp_path):
    dataset = load_dataset(str(emotion_small))
    config = StudentConfig.for_architecture("transformer", epochs=1, lr=1e-3)
    result = distill(dataset, tmp_path / "student", tiny_teacher, config, augment=1, progress=False, log=print)
    assert result["student"]["architecture"] == "transformer" and result["student"]["options"]["layers"] == [0, 1]
    assert 0.0 <= result["accuracy"] <= 1.0 and result["student_vs_teacher"]["test"]["p_value"] <= 1.0
    student = Student.from_pretrained(tmp_path / "student")
    assert student.params == result["params"]
    texts = dataset.test.texts[:50]
    reference = student.logits(texts)
    assert np.allclose(reference, Student.from_pretrained(tmp_path / "student").logits(texts), atol=0)
    # padding changes nothing: a text alone and in a padded batch gets the same logits
    assert np.abs(student.logits(texts[:1]) - reference[:1]).max() < 1e-4
    # the pruned tokenizer splits every text as the teacher's own (and adds [CLS] ... [SEP])
    ids = student.vocab.encode(texts)
    source = tiny_teacher / "tokenizer.json"
    rows = _teacher_rows(tiny_teacher, student)
    assert [[rows[i] for i in row if i != PAD_ID] for row in ids] == _teacher_ids(source, texts)

    bundle = tmp_path / "bundle"
    export_student(tmp_path / "student", bundle, dataset, log=lambda m: None)
    vectors = conformance.load(bundle / conformance.CONFORMANCE_FILE)
    for backend, precision in MODEL_FILES:
        classifier = TextClassifier.load(bundle, backend, precision)
        logits = classifier.logits(texts)
        agreement = (logits.argmax(1) == reference.argmax(1)).mean()
        if precision == "fp32":
            assert np.abs(logits - reference).max() < 1e-3
        assert agreement >= 0.9, (backend, precision, agreement)
        report = conformance.check(classifier, vectors)
        assert report["id_mismatches"] == 0 and report["label_mismatches"] == 0


def _teacher_rows(teacher: Path, student: Student) -> list[int]:
    """The teacher id of each of the student's tokens (the pruned vocabulary keeps the teacher's strings)."""
    full = Tokenizer.from_file(str(teacher / "tokenizer.json")).get_vocab()
    names = {"<pad>": "[PAD]", "<unk>": "[UNK]"}
    return [full[names.get(token, token)] for token in student.vocab.tokens]


def test_transformer_student_needs_the_teacher_folder(tiny_teacher, emotion_small, tmp_path):
    dataset = load_dataset(str(emotion_small))
    first = distill(
        dataset, tmp_path / "mlp", tiny_teacher, StudentConfig(epochs=1), progress=False, log=lambda m: None
    )
    config = StudentConfig.for_architecture("transformer", epochs=1)
    with pytest.raises(KdedgeError, match="pass --teacher"):
        distill(dataset, tmp_path / "t", None, config, soft_labels=first["soft_labels"], progress=False)
    bad = StudentConfig.for_architecture("transformer", epochs=1, options={"layers": [1, 0]})
    with pytest.raises(KdedgeError, match="increasing layer numbers"):
        distill(dataset, tmp_path / "t", tiny_teacher, bad, progress=False, log=lambda m: None)

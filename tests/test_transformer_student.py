"""The transformer student: a tiny BERT teacher cut down, its vocabulary pruned, distilled, saved, exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from kdedge import conformance
from kdedge.data import load_dataset
from kdedge.distill import StudentConfig, distill
from kdedge.errors import KdedgeError
from kdedge.export import export_student
from kdedge.runtime import MODEL_FILES, TextClassifier
from kdedge.students import Student
from kdedge.teacher import Teacher, default_base_model
from kdedge.text import PAD_ID, UNK_ID
from kdedge.transformer_student import from_teacher, prune_vocabulary


def _teacher_ids(tokenizer_file: Path, texts: list[str], max_length: int = 512) -> list[list[int]]:
    full = Tokenizer.from_file(str(tokenizer_file))
    full.enable_truncation(max_length)
    full.no_padding()
    return [encoding.ids for encoding in full.encode_batch(texts, add_special_tokens=False)]


def test_pruned_tokenizer_splits_transfer_texts_as_the_teacher(emotion_small):
    """MiniLM's real WordPiece vocabulary (shipped in a pip package): the pruned tokenizer gives the teacher's
    pieces on every transfer text, a fraction of the vocabulary, padding at id 0, and unseen words still split."""
    source = Path(default_base_model()) / "tokenizer.json"
    texts = [*load_dataset(str(emotion_small)).train.texts[:500], "Zoë's naïve café, 42 km/h!!", "ΌΣΟΣ Σίσυφος"]
    vocab, rows, prefix, suffix = prune_vocabulary(source, texts, pad_id=0, max_length=512)
    assert len(vocab) == len(rows) < 0.2 * Tokenizer.from_file(str(source)).get_vocab_size()
    assert vocab.tokens[PAD_ID] == "<pad>" and vocab.tokens[UNK_ID] == "<unk>" and rows[:2] == [0, 100]
    mapped = [[rows[i] for i in vocab.ids(text)] for text in texts]
    assert mapped == _teacher_ids(source, texts)  # a word-final capital sigma too (see portable_normalizer)
    # a word the transfer set never had splits into kept pieces (down to single characters), never unknown
    unseen = "xylophonist quizzically"
    assert UNK_ID not in vocab.ids(unseen) and len(vocab.ids(unseen)) > 4
    assert vocab.ids("<unk>") == [UNK_ID]  # augmentation's mask word is the unknown id
    # [CLS] and [SEP] are the model's to add (TransformerStudent.wrap), not the tokenizer's
    assert [rows[i] for i in prefix + suffix] == [101, 102] and vocab.ids("") == []
    # keep_all: every token of the teacher, so a text the transfer set never saw splits as the teacher splits it
    whole, rows, _, _ = prune_vocabulary(source, texts[:10], pad_id=0, max_length=512, keep_all=True)
    assert len(whole) == Tokenizer.from_file(str(source)).get_vocab_size()
    assert [rows[i] for i in whole.ids(unseen)] == _teacher_ids(source, [unseen])[0]


@pytest.mark.parametrize("vocab", ["teacher", "task"])
@pytest.mark.parametrize("family", ["tiny_teacher", "tiny_mpnet_teacher", "tiny_mean_teacher"])
def test_with_every_layer_kept_the_student_is_the_teacher(family, vocab, request, emotion_small):
    """Cut nothing and the student answers as the teacher: the vocabulary, whole or pruned, the template tokens added in
    the model, the position ids (MPNet counts them from its padding id, which pruning moves) and the teacher's
    pooling all match."""
    teacher_dir = request.getfixturevalue(family)
    dataset = load_dataset(str(emotion_small))
    # an unknown word mid-text: the pruned unknown id is 1, MPNet's own padding id
    texts = [*dataset.validation.texts[:64], "i feel xqzzyq so happy today"]
    student = from_teacher(teacher_dir, dataset.train.texts + texts, dataset.label_names, 64, [0, 1], vocab)
    teacher = Teacher.from_pretrained(teacher_dir)
    assert np.abs(student.logits(texts) - teacher.logits(texts)).max() < 1e-4
    # the same parameters (a mean-pooled student stores no [CLS] pooler, as none is read), but for MPNet's second
    # "<unk>" token, which the student's vocabulary leaves out (prune_vocabulary)
    if vocab == "teacher":
        left_out = teacher.model.config.hidden_size if family == "tiny_mpnet_teacher" else 0
        assert student.params == teacher.params - left_out


def test_with_the_teachers_vocabulary_the_student_reads_unseen_words_as_the_teacher(tiny_teacher, emotion_small):
    """vocab=teacher: texts with words the transfer set never had are split, and answered, as the teacher does,
    where the pruned vocabulary spells those words out in other pieces."""
    dataset = load_dataset(str(emotion_small))
    transfer = dataset.train.texts[:20]
    texts = [*dataset.validation.texts[:64], "xylophonist quizzically strummed"]
    expected = Teacher.from_pretrained(tiny_teacher).logits(texts)
    teacher_ids = _teacher_ids(tiny_teacher / "tokenizer.json", texts)
    whole = from_teacher(tiny_teacher, transfer, dataset.label_names, 64, layers=[0, 1], vocab="teacher")
    assert whole.options["vocab"] == "teacher"
    rows = _teacher_rows(tiny_teacher, whole)
    assert [[rows[i] for i in whole.vocab.ids(text)] for text in texts] == teacher_ids
    assert np.abs(whole.logits(texts) - expected).max() < 1e-4
    pruned = from_teacher(tiny_teacher, transfer, dataset.label_names, 64, layers=[0, 1], vocab="task")
    rows = _teacher_rows(tiny_teacher, pruned)
    assert [[rows[i] for i in pruned.vocab.ids(text)] for text in texts] != teacher_ids


@pytest.mark.parametrize("family", ["tiny_teacher", "tiny_mpnet_teacher", "tiny_mean_teacher"])
def test_transformer_student_distils_saves_and_runs_in_every_runtime(family, request, few_texts, tmp_path):
    tiny_teacher = request.getfixturevalue(family)
    dataset = load_dataset(str(few_texts))
    config = StudentConfig.for_architecture("transformer", epochs=1, lr=1e-3)
    result = distill(dataset, tmp_path / "student", tiny_teacher, config, augment=1, progress=False, log=print)
    assert result["student"]["architecture"] == "transformer" and result["student"]["options"]["layers"] == [0, 1]
    assert result["student"]["options"]["pooling"] == Teacher.from_pretrained(tiny_teacher).pooling
    assert 0.0 <= result["accuracy"] <= 1.0 and result["student_vs_teacher"]["test"]["p_value"] <= 1.0
    student = Student.from_pretrained(tmp_path / "student")
    assert student.params == result["params"]
    texts = dataset.test.texts[:50]
    reference = student.logits(texts)
    assert np.allclose(reference, Student.from_pretrained(tmp_path / "student").logits(texts), atol=0)
    # padding changes nothing: a text alone and in a padded batch gets the same logits
    assert np.abs(student.logits(texts[:1]) - reference[:1]).max() < 1e-4
    # the pruned tokenizer splits every transfer text as the teacher's own
    train = dataset.train.texts
    rows = _teacher_rows(tiny_teacher, student)
    pruned = [[rows[i] for i in row if i != PAD_ID] for row in student.vocab.encode(train)]
    assert pruned == _teacher_ids(tiny_teacher / "tokenizer.json", train, student.vocab.max_length)

    bundle = tmp_path / "bundle"
    export_student(tmp_path / "student", bundle, dataset, log=lambda m: None)
    vectors = conformance.load(bundle / conformance.CONFORMANCE_FILE)
    for backend, precision in MODEL_FILES:
        classifier = TextClassifier.load(bundle, backend, precision)
        logits = classifier.logits(texts)
        agreement = (logits.argmax(1) == reference.argmax(1)).mean()
        if precision == "fp32":
            assert np.abs(logits - reference).max() < 1e-3
            alone = np.concatenate([classifier.logits([text]) for text in texts[:5]])  # OpenVINO's one-text copy
            assert np.abs(alone - reference[:5]).max() < 1e-3
        assert agreement >= 0.9, (backend, precision, agreement)
        report = conformance.check(classifier, vectors)
        assert report["id_mismatches"] == 0 and report["label_mismatches"] == 0


def _teacher_rows(teacher: Path, student: Student) -> list[int]:
    """The teacher id of each of the student's tokens (the pruned vocabulary keeps the teacher's strings)."""
    spec = json.loads((teacher / "tokenizer.json").read_text(encoding="utf-8"))
    full = spec["model"]["vocab"]
    pad_id = json.loads((teacher / "config.json").read_text(encoding="utf-8"))["pad_token_id"]
    names = {"<pad>": next(t for t, i in full.items() if i == pad_id), "<unk>": spec["model"]["unk_token"]}
    return [full[names.get(token, token)] for token in student.vocab.tokens]


def test_a_mean_pooled_rung_saved_with_the_unread_pooler_still_loads(tiny_mean_teacher, emotion_small, tmp_path):
    """A rung saved when it still stored BERT's [CLS] pooler (never read under mean pooling) loads, and answers
    as before."""
    from safetensors.torch import load_file, save_file

    dataset = load_dataset(str(emotion_small))
    student = from_teacher(tiny_mean_teacher, dataset.train.texts[:200], dataset.label_names, 64, [0])
    student.save_pretrained(tmp_path / "rung")
    weights = load_file(str(tmp_path / "rung" / "model.safetensors"))
    assert not any(".pooler." in key for key in weights)
    size = student.model.model.config.hidden_size
    weights |= {
        "model.bert.pooler.dense.weight": torch.ones(size, size),
        "model.bert.pooler.dense.bias": torch.ones(size),
    }
    save_file(weights, str(tmp_path / "rung" / "model.safetensors"))
    texts = dataset.validation.texts[:16]
    assert np.abs(Student.from_pretrained(tmp_path / "rung").logits(texts) - student.logits(texts)).max() < 1e-6


def test_transformer_student_needs_a_teacher_folder(tiny_teacher, tiny_bert, few_texts, tmp_path):
    """Checked before any work: no teacher folder, a base model that is no kdedge teacher, bad layers."""
    dataset = load_dataset(str(few_texts))
    config = StudentConfig.for_architecture("transformer", epochs=1)
    with pytest.raises(KdedgeError, match="pass --teacher"):
        distill(dataset, tmp_path / "t", None, config, soft_labels=tmp_path / "labels.npz", progress=False)
    with pytest.raises(KdedgeError, match="not a kdedge teacher folder"):
        distill(dataset, tmp_path / "t", tiny_bert, config, progress=False)
    for layers in ([1, 0], [2], [], "0,1"):
        bad = StudentConfig.for_architecture("transformer", options={"layers": layers})
        with pytest.raises(KdedgeError, match="increasing layer numbers"):
            distill(dataset, tmp_path / "t", tiny_teacher, bad, progress=False)
    bad = StudentConfig.for_architecture("transformer", options={"vocab": "all"})
    with pytest.raises(KdedgeError, match="vocab='all': expected one of teacher, task"):
        distill(dataset, tmp_path / "t", tiny_teacher, bad, progress=False)
    assert not (tmp_path / "t").exists()


def test_the_model_adds_the_teachers_template_tokens_inside_the_graph():
    from kdedge.transformer_student import TransformerStudent

    config = {"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}
    model = TransformerStudent(10, 2, {**config, "intermediate_size": 8}, [0], prefix=[2], suffix=[3])
    ids = torch.tensor([[5, 6, 0], [7, 0, 0], [0, 0, 0]])
    assert model.wrap(ids).tolist() == [[2, 5, 6, 3, 0], [2, 7, 3, 0, 0], [2, 3, 0, 0, 0]]
    assert model(ids).shape == (3, 2)


def test_auto_puts_the_transformer_on_the_ladder_by_size(tiny_teacher, few_texts, tmp_path, monkeypatch):
    from kdedge import transformer_student
    from kdedge.distill import Budget

    made = []
    original = transformer_student.from_teacher
    monkeypatch.setattr(transformer_student, "from_teacher", lambda *a, **k: made.append(1) or original(*a, **k))
    dataset = load_dataset(str(few_texts))
    config = StudentConfig(architecture="auto", epochs=1, vocab_size=300, buckets=0)
    # a tolerance of -100 points: no candidate qualifies, so every one is trained and the best kept
    result = distill(
        dataset, tmp_path / "s", tiny_teacher, config, progress=False, log=lambda m: None, budget=Budget(tolerance=-1.0)
    )
    candidates = result["student_choice"]["candidates"]
    assert sorted(c["architecture"] for c in candidates) == ["bilstm", "cnn", "mlp", "transformer"]
    assert [c["params"] for c in candidates] == sorted(c["params"] for c in candidates)
    transformer = next(c for c in candidates if c["architecture"] == "transformer")
    assert len(made) == 1  # cut down once (to size it), then trained as made
    assert transformer["latency_us"] > 0 and 0 <= transformer["val_accuracy"] <= 1
    assert transformer["options"]["vocab"] == "teacher"  # the default: every word read as the teacher reads it
    if result["student"]["architecture"] == "transformer":  # trained with its own settings, recorded as such
        assert result["student"]["lr"] == 1e-4 and result["student"]["options"]["layers"] == [0, 1]


def test_auto_trains_the_rungs_with_their_own_settings_unless_told(tiny_teacher, few_texts, tmp_path, monkeypatch):
    """`rung_training` (the CLI's --epochs / --patience under auto) replaces a rung's own epochs and patience;
    its learning rate and batch size stay the rung's, and the small students keep `config`'s."""
    from kdedge import distill as distill_module
    from kdedge.distill import TRANSFORMER_TRAINING, Budget

    seen = {}  # architecture -> the config it was trained with
    original = distill_module.train_student

    def train_student(dataset, texts, logits, config, *args):
        seen[config.architecture] = config
        return original(dataset, texts, logits, config, *args)

    monkeypatch.setattr(distill_module, "train_student", train_student)
    dataset = load_dataset(str(few_texts))
    config = StudentConfig(architecture="auto", epochs=1, patience=3, vocab_size=300, buckets=0)
    budget = Budget(tolerance=-1.0)
    rung = {"epochs": 1, "patience": 1}
    distill(
        dataset,
        tmp_path / "s",
        tiny_teacher,
        config,
        progress=False,
        log=lambda m: None,
        budget=budget,
        rung_training=rung,
    )
    transformer = seen["transformer"]
    assert TRANSFORMER_TRAINING["epochs"] > 1 and TRANSFORMER_TRAINING["patience"] > 1  # so the override shows
    assert (transformer.epochs, transformer.patience) == (1, 1)
    assert (transformer.lr, transformer.batch_size) == (TRANSFORMER_TRAINING["lr"], TRANSFORMER_TRAINING["batch_size"])
    assert all((seen[name].epochs, seen[name].patience, seen[name].lr) == (1, 3, 0.01) for name in ("mlp", "bilstm"))


def test_auto_prunes_the_vocabulary_of_a_transformer_over_the_parameter_budget(
    tiny_teacher, few_texts, tmp_path, monkeypatch
):
    """The teacher's whole vocabulary is most of a rung's size: over --max-params, the rung is made again with
    the task's tokens only, and trained if that fits."""
    from kdedge import transformer_student
    from kdedge.distill import Budget

    made = []
    original = transformer_student.from_teacher
    monkeypatch.setattr(
        transformer_student, "from_teacher", lambda *a, **k: made.append(k["vocab"]) or original(*a, **k)
    )
    dataset = load_dataset(str(few_texts))
    whole = original(tiny_teacher, dataset.train.texts, dataset.label_names, 64).params
    config = StudentConfig(architecture="auto", epochs=1, vocab_size=300, buckets=0)
    budget = Budget(tolerance=-1.0, max_params=whole - 1)
    result = distill(dataset, tmp_path / "s", tiny_teacher, config, progress=False, log=lambda m: None, budget=budget)
    transformer = next(c for c in result["student_choice"]["candidates"] if c["architecture"] == "transformer")
    assert made == ["teacher", "task"]
    assert transformer["options"]["vocab"] == "task" and transformer["params"] < whole


def test_auto_skips_a_transformer_over_the_latency_budget_before_training_it(
    tiny_teacher, few_texts, tmp_path, monkeypatch
):
    """Its training is the long one, so its latency (which training does not change) is checked first."""
    from kdedge import frontier
    from kdedge.distill import Budget

    monkeypatch.setattr(
        frontier, "latency_us", lambda student, texts: 9e9 if student.architecture == "transformer" else 1.0
    )
    dataset = load_dataset(str(few_texts))
    config = StudentConfig(architecture="auto", epochs=1, vocab_size=300, buckets=0)
    budget = Budget(tolerance=-1.0, max_latency_us=2.0)
    result = distill(dataset, tmp_path / "s", tiny_teacher, config, progress=False, log=print, budget=budget)
    skipped = result["student_choice"]["skipped"]
    assert [(s["architecture"], s["why"]) for s in skipped] == [("transformer", "over --max-latency-us")]
    assert "val_accuracy" not in skipped[0]  # never trained


def test_the_ladder_spreads_layers_evenly_and_keeps_first_and_last(tmp_path):
    from kdedge.transformer_student import ladder, spread_layers

    assert spread_layers(6, 2) == [0, 5] and spread_layers(6, 3) == [0, 2, 5] and spread_layers(12, 3) == [0, 6, 11]
    assert spread_layers(1, 2) == [0] and spread_layers(2, 3) == [0, 1] and spread_layers(4, 9) == [0, 1, 2, 3]
    for count, rungs in ((6, [[0, 5], [0, 2, 5], [0, 2, 3, 5]]), (3, [[0, 2], [0, 1, 2]]), (1, [[0]])):
        (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": count}))
        assert ladder(tmp_path) == rungs

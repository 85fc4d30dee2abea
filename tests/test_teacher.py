import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from kdedge import teacher as teacher_module
from kdedge.cli import teacher_form
from kdedge.data import load_dataset
from kdedge.errors import BundleError, KdedgeError
from kdedge.pooling import declared_pooling
from kdedge.softlabels import SoftLabels, canonical, label_texts
from kdedge.students import length_buckets
from kdedge.teacher import Teacher, default_base_model, default_bf16, fine_tune, has_amx, load_classifier


def test_default_base_model_is_found_through_the_package():
    folder = default_base_model()
    assert folder.endswith("model")
    config = json.loads((__import__("pathlib").Path(folder) / "config.json").read_text())
    assert config["model_type"] == "bert"


@pytest.mark.parametrize(
    ("flags", "amx", "bf16"),
    [
        (set(), False, False),
        ({"avx2", "avx512f", "avx512_vnni"}, False, False),  # bf16 emulated: autocast is slower than fp32
        ({"avx512f", "avx512_bf16"}, False, True),  # measured 1.3-1.9x faster (benchmarks/bf16_speed.py)
        ({"amx_tile", "amx_bf16"}, True, True),
    ],
)
def test_bf16_is_the_cpu_default_where_the_cpu_has_bf16_instructions(tiny_teacher, monkeypatch, flags, amx, bf16):
    monkeypatch.setattr(teacher_module, "cpu_flags", lambda: flags)
    assert default_bf16("cpu") is bf16
    assert has_amx() is amx  # Ray labeling keeps torch bf16 for AMX nodes, ONNX Runtime int8 elsewhere
    form = teacher_form(str(tiny_teacher), "auto", "fp32", None, on_ray=False)
    assert form == ("torch-bf16" if bf16 else "torch-fp32")
    assert teacher_form(str(tiny_teacher), "auto", "fp32", False, on_ray=False) == "torch-fp32"


def test_length_buckets_cover_every_index_once():
    lengths = [5, 1, 9, 3, 3, 7, 2] * 20
    for rng in (None, __import__("random").Random(0)):
        batches = length_buckets(lengths, 8, rng)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    sorted_batches = length_buckets(lengths, 8, None)
    flat = [lengths[i] for b in sorted_batches for i in b]
    assert flat == sorted(flat)


def test_fine_tune_saves_a_teacher_and_a_result(tiny_bert, emotion_small, tmp_path, capsys):
    dataset = load_dataset(str(emotion_small))
    shown = []  # transformers' own handler writes to the stderr it found at import, out of capfd's reach
    listener = logging.Handler()
    listener.emit = lambda record: shown.append(record.getMessage())
    logging.getLogger("transformers").addHandler(listener)
    try:
        result = fine_tune(dataset, str(tiny_bert), tmp_path / "t", epochs=1, lr=1e-3, progress=False)
    finally:
        logging.getLogger("transformers").removeHandler(listener)
    # the new classification head is expected, so transformers' load report about it is not shown
    assert not [message for message in shown if "LOAD REPORT" in message]
    bars = capsys.readouterr().err
    assert "Loading weights" not in bars and "Writing model shards" not in bars
    for key in (
        "model",
        "accuracy",
        "macro_f1",
        "params",
        "seed",
        "versions",
        "command",
        "base_model",
        "epochs",
        "train_time_s",
    ):
        assert key in result
    assert result["selection"]["best_epoch"] == 1 and result["hyperparameters"]["device"] == "cpu"
    teacher = Teacher.from_pretrained(tmp_path / "t")
    logits = teacher.logits(dataset.test.texts)
    assert logits.shape == (len(dataset.test), 6)
    assert np.mean(logits.argmax(1) == dataset.test.labels) == pytest.approx(result["accuracy"])


def test_fingerprint_and_similar_words(tiny_teacher):
    teacher = Teacher.from_pretrained(tiny_teacher)
    assert teacher.fingerprint == Teacher.from_pretrained(tiny_teacher).fingerprint
    similar = teacher.similar_words(["happy", "sad", "angry", "feel", "zzzunknownzzz"], k=2)
    assert set(similar) == {"happy", "sad", "angry", "feel"}  # the unknown word is not one teacher token
    assert all(len(v) == 2 and w not in v for w, v in similar.items())


def test_mask_word_reaches_the_teacher_as_its_mask_token(tiny_teacher):
    teacher = Teacher.from_pretrained(tiny_teacher)
    assert teacher.prepare(["i feel <unk> today"]) == ["i feel [MASK] today"]


def test_not_a_teacher_folder(tmp_path):
    with pytest.raises(BundleError, match="not a kdedge teacher"):
        Teacher.from_pretrained(tmp_path)


def test_soft_labels_are_resumable_and_tied_to_their_teacher(tmp_path):
    texts = [f"text number {i}" for i in range(10_000)]
    calls = []

    def fake_teacher(chunk):
        calls.append(len(chunk))
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted in the middle of the second chunk
        return np.array([[len(t), 0.0] for t in chunk], dtype=np.float32)

    cache = SoftLabels(tmp_path / "soft.npz", "teacher-a", ["a", "b"], "torch-fp32")
    with pytest.raises(KeyboardInterrupt):
        label_texts(cache, texts, fake_teacher, progress=False)
    assert not (tmp_path / "soft.npz").exists()  # nothing merged, the finished chunk is a shard
    resumed = SoftLabels(tmp_path / "soft.npz", "teacher-a", ["a", "b"], "torch-fp32")
    assert len(resumed) == calls[0]
    calls.clear()
    stats = label_texts(resumed, texts, lambda chunk: np.array([[len(t), 0.0] for t in chunk]), progress=False)
    assert stats["newly_labelled"] == 10_000 - 4096
    assert not (tmp_path / "soft.npz.parts").exists()
    final = SoftLabels(tmp_path / "soft.npz", "teacher-a", ["a", "b"], "torch-fp32")
    written = (tmp_path / "soft.npz").stat().st_mtime_ns
    assert label_texts(final, texts[:5], fake_teacher, progress=False)["newly_labelled"] == 0
    assert (tmp_path / "soft.npz").stat().st_mtime_ns == written  # a complete cache is not rewritten
    assert final.lookup(["text number 12", "  text   number 12 "])[:, 0].tolist() == [14.0, 14.0]
    with pytest.raises(BundleError, match="not of 'teacher-b'"):
        SoftLabels(tmp_path / "soft.npz", "teacher-b", ["a", "b"], "torch-fp32")
    with pytest.raises(BundleError, match=r"not of 'teacher-a' \(torch-bf16\)"):  # same weights, another form
        SoftLabels(tmp_path / "soft.npz", "teacher-a", ["a", "b"], "torch-bf16")


def test_canonical_keeps_case_and_collapses_space():
    assert canonical(" Hello\tWORLD  ") == "Hello WORLD"


def test_a_mean_pooled_teacher_does_not_count_the_pooler_it_never_reads(tiny_teacher, tiny_mean_teacher):
    cls, mean = Teacher.from_pretrained(tiny_teacher), Teacher.from_pretrained(tiny_mean_teacher)
    pooler = sum(p.numel() for p in cls.model.base_model.pooler.parameters())
    assert pooler > 0 and mean.params == cls.params - pooler


@pytest.mark.parametrize("family", ["tiny_teacher", "tiny_mean_teacher"])
def test_exported_teacher_reproduces_the_torch_teacher(family, request, emotion_small, tmp_path, recwarn):
    """The ONNX teacher (fast labeling, benchmark rows) answers like torch, whatever its pooling: fp32 to float
    precision, int8 closely; both carry the torch teacher's fingerprint, and their own form."""
    from kdedge.export import export_teacher
    from kdedge.teacher import OnnxTeacher

    tiny_teacher = request.getfixturevalue(family)
    export_teacher(tiny_teacher, tmp_path / "onnx", log=lambda m: None)
    assert not [w for w in recwarn if "torch" in w.filename]  # the exporter's notes are not the user's business
    texts = load_dataset(str(emotion_small)).test.texts[:64]
    torch_teacher = Teacher.from_pretrained(tiny_teacher)
    expected = torch_teacher.logits(texts)
    fp32 = OnnxTeacher(tmp_path / "onnx", precision="fp32")
    assert np.abs(fp32.logits(texts, batch_size=16) - expected).max() < 1e-4
    assert fp32.fingerprint == torch_teacher.fingerprint and fp32.form == "onnxruntime-fp32"
    int8 = OnnxTeacher(tmp_path / "onnx", precision="int8")
    assert (int8.logits(texts).argmax(1) == expected.argmax(1)).mean() >= 0.9
    assert int8.fingerprint == torch_teacher.fingerprint and int8.form == "onnxruntime-int8"


def test_training_stops_when_validation_stops_improving(tiny_bert, emotion_small, tmp_path):
    """At learning rate 0 the weights never change, so validation never improves after epoch 1: with patience 1
    the run stops after epoch 2 of a cap of 5 and keeps epoch 1."""
    dataset = load_dataset(str(emotion_small))
    result = fine_tune(
        dataset, str(tiny_bert), tmp_path / "t", epochs=5, lr=0.0, patience=1, compare=False, progress=False
    )
    selection = result["selection"]
    assert [h["epoch"] for h in selection["history"]] == [1, 2]
    assert selection["best_epoch"] == 1 and result["epochs"] == 2
    assert "did not improve for 1 epochs" in selection["stopped"]
    assert result["hyperparameters"]["max_epochs"] == 5 and result["hyperparameters"]["patience"] == 1


def test_training_never_runs_past_its_cap(tiny_bert, emotion_small, tmp_path):
    dataset = load_dataset(str(emotion_small))
    result = fine_tune(
        dataset, str(tiny_bert), tmp_path / "t", epochs=2, lr=1e-3, patience=None, compare=False, progress=False
    )
    history = result["selection"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["steps"] == 2 * -(-len(dataset.train) // 32)  # two full epochs of batches of 32
    assert "cap of 2 epochs" in result["selection"]["stopped"]


def test_lr_auto_records_every_candidate_and_keeps_the_best_on_validation(tiny_teacher, emotion_small, tmp_path):
    """Each candidate scores the same whatever its turn (same start, same batches); the best on validation is
    chosen (the first of equals) and the final run uses it."""
    dataset = load_dataset(str(emotion_small))
    searches = []
    for candidates in ((1.0, 0.0), (0.0, 1.0)):
        result = fine_tune(
            dataset,
            str(tiny_teacher),
            tmp_path / f"t{candidates[0]}",  # a folder each: an existing one is not replaced
            epochs=1,
            lr="auto",
            lr_candidates=candidates,
            probe_steps=10,
            compare=False,
            progress=False,
        )
        search = result["lr_search"]
        assert [c["lr"] for c in search["candidates"]] == list(candidates)
        assert all(c["steps"] == 10 for c in search["candidates"])
        best = max(c["val_accuracy"] for c in search["candidates"])
        first_best = next(c["lr"] for c in search["candidates"] if c["val_accuracy"] == best)
        assert search["chosen"] == first_best == result["hyperparameters"]["lr"]
        assert result["hyperparameters"]["lr_choice"] == "auto"
        searches.append({c["lr"]: c["val_accuracy"] for c in search["candidates"]})
    assert searches[0] == searches[1]


def test_teacher_command_compares_with_tfidf_on_validation(tiny_bert, emotion_small, tmp_path):
    """A one-epoch tiny BERT is no match for TF-IDF + LR: the command says so, with what to try."""
    from test_cli import kdedge

    out = tmp_path / "teacher.json"
    args = ["--data", str(emotion_small), "--model", str(tiny_bert), "--max-epochs", "1", "--lr", "1e-3"]
    proc = kdedge("teacher", *args, "--threads", "1", "--out", str(tmp_path / "t"), "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    comparison = json.loads(out.read_text())["baseline_comparison"]
    assert comparison["split"] == "validation" and comparison["baseline"] == "tfidf-lr"
    assert not comparison["clearly_better"] and comparison["verdict"] == "below"
    assert comparison["message"] in proc.stdout and "fetch-mpnet" in proc.stdout
    assert kdedge("teacher", "--data", str(emotion_small), "--lr", "fast", "--out", str(tmp_path / "u")).returncode == 2


def _fake_logits(chunk):
    return np.array([[len(t), t.count("e")] for t in chunk], dtype=np.float32)


def _label_in_process(args):
    path, texts = args
    for start in range(0, len(texts), 50):  # many small shards, to give the labelers many chances to collide
        cache = SoftLabels(path, "teacher-a", ["a", "b"], "torch-fp32")
        cache.add(texts[start : start + 50], _fake_logits(texts[start : start + 50]))
    cache.save()


def test_concurrent_labelers_keep_each_others_labels(tmp_path):
    path = tmp_path / "soft.npz"
    first = SoftLabels(path, "teacher-a", ["a", "b"], "torch-fp32")
    second = SoftLabels(path, "teacher-a", ["a", "b"], "torch-fp32")
    first.add(["one", "two"], _fake_logits(["one", "two"]))
    second.add(["three"], _fake_logits(["three"]))
    second.save()  # merges the other labeler's shard too, and removes only what it merged
    first.add(["four"], _fake_logits(["four"]))
    first.save()  # re-reads the merged file: "three" survives
    assert len(SoftLabels(path, "teacher-a", ["a", "b"], "torch-fp32")) == 4
    # four processes labelling overlapping texts into one file at once
    from concurrent.futures import ProcessPoolExecutor

    texts = [f"text {i}" for i in range(1200)]
    jobs = [(path, texts[i * 300 : i * 300 + 450]) for i in range(4)]
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_label_in_process, jobs))
    merged = SoftLabels(path, "teacher-a", ["a", "b"], "torch-fp32")
    assert len(merged) == 1200 + 4
    assert np.array_equal(merged.lookup(texts), _fake_logits(texts))


def test_old_soft_label_files_are_read_as_the_form_that_made_them(tmp_path):
    """Files from before the form was recorded: the committed ones (torch bf16 and fp32 teachers), int8 keys,
    and a file that mixes bf16 and fp32 logits, which is refused."""
    from kdedge.softlabels import legacy_form

    committed = __import__("pathlib").Path(__file__).parents[1] / "benchmarks" / "softlabels"
    assert SoftLabels.stored_teacher(committed / "emotion-minilm-bf16.npz") == ("7bd7613c5b3e730f", "torch-bf16")
    assert SoftLabels.stored_teacher(committed / "emotion-minilm.npz") == ("0d6be82c77523daf", "torch-fp32")
    assert SoftLabels.stored_teacher(committed / "sst2-minilm.npz") == ("17728d1083e02d9b", "torch-bf16")
    fp32 = np.array([[0.1234567, -1.7654321]], dtype=np.float32)
    bf16 = np.array([[0.125, -1.75]], dtype=np.float32)
    assert legacy_form("abc:int8", fp32, "f") == ("abc", "onnxruntime-int8")
    assert legacy_form("abc", bf16, "f") == ("abc", "torch-bf16")
    assert legacy_form("abc", fp32, "f") == ("abc", "torch-fp32")
    with pytest.raises(BundleError, match="mixes bf16 and fp32"):
        legacy_form("abc", np.concatenate([fp32, bf16]), "f")
    old = tmp_path / "old.npz"  # the layout written before: no "form" array
    np.savez(
        old,
        keys=np.array([1, 2]),
        logits=np.concatenate([bf16, bf16]),
        teacher=np.array("abc"),
        label_names=np.array(["a", "b"]),
    )
    assert len(SoftLabels(old, "abc", ["a", "b"], "torch-bf16")) == 2
    with pytest.raises(BundleError, match=r"\(torch-bf16\)"):
        SoftLabels(old, "abc", ["a", "b"], "torch-fp32")


def _sentence_transformers_folder(base: Path, folder: Path, **modes: bool) -> Path:
    """A copy of a base model laid out as a sentence-transformers checkpoint with a Pooling module of `modes`."""
    shutil.copytree(base, folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (folder / "1_Pooling").mkdir()
    config = {"word_embedding_dimension": 32, **{f"pooling_mode_{mode}": on for mode, on in modes.items()}}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_auto_pooling_is_what_the_base_model_was_trained_with(tiny_bert, tmp_path):
    assert declared_pooling(default_base_model()) == "mean"  # all-MiniLM-L6-v2, from its pip package
    assert declared_pooling(tiny_bert) == "cls"  # no sentence-transformers modules: the model's own head
    mean = _sentence_transformers_folder(tiny_bert, tmp_path / "mean", mean_tokens=True, cls_token=False)
    assert declared_pooling(mean) == "mean"
    first = _sentence_transformers_folder(tiny_bert, tmp_path / "cls", mean_tokens=False, cls_token=True)
    assert declared_pooling(first) == "cls"


@pytest.mark.parametrize("family", ["tiny_bert", "tiny_mpnet"])
def test_a_mean_pooled_teacher_reads_the_mean_of_its_tokens(family, request, emotion_small, tmp_path):
    """`auto` on a sentence-transformers checkpoint pooled by mean trains a teacher whose head reads the masked
    mean of the last hidden states: recorded, kept on reloading, blind to padding, not the first-token head."""
    base = _sentence_transformers_folder(request.getfixturevalue(family), tmp_path / "base", mean_tokens=True)
    dataset = load_dataset(str(emotion_small))
    result = fine_tune(dataset, str(base), tmp_path / "t", epochs=1, lr=1e-3, progress=False, compare=False)
    assert result["hyperparameters"]["pooling"] == "mean" and result["hyperparameters"]["pooling_choice"] == "auto"
    teacher = Teacher.from_pretrained(tmp_path / "t")
    assert teacher.pooling == "mean"
    texts = dataset.test.texts[:32]
    logits = teacher.logits(texts)
    assert np.mean(teacher.logits(dataset.test.texts).argmax(1) == dataset.test.labels) == pytest.approx(
        result["accuracy"]
    )
    alone = np.concatenate([teacher.logits([text]) for text in texts[:4]])
    assert np.abs(alone - logits[:4]).max() < 1e-4  # padding is left out of the mean
    classifier = load_classifier(tmp_path / "t").eval()  # the same weights, read by the model's own head
    batch = teacher.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = classifier.base_model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        mean = (states * mask).sum(1) / mask.sum(1)
        head = classifier.classifier
        expected = head(mean) if isinstance(head, torch.nn.Linear) else head(mean.unsqueeze(1))
        first_token = classifier(**batch).logits
    assert np.abs(expected.numpy() - logits).max() < 1e-4
    assert np.abs(first_token.numpy() - logits).max() > 1e-3  # ten times the tolerance above


def test_pooling_must_be_known(tiny_bert, emotion_small, tmp_path):
    with pytest.raises(KdedgeError, match="pooling 'max'"):
        fine_tune(load_dataset(str(emotion_small)), str(tiny_bert), tmp_path / "t", pooling="max", progress=False)
    assert not (tmp_path / "t").exists()

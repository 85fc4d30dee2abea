import json

import numpy as np
import pytest

from kdedge.baselines import FASTTEXT_GRID, run
from kdedge.data import load_dataset
from kdedge.errors import BundleError
from kdedge.students import Student

SCHEMA = {"model", "dataset", "split", "accuracy", "macro_f1", "params", "seed", "versions", "command"}


@pytest.fixture(scope="module")
def small(emotion_small):
    return load_dataset(str(emotion_small))


def test_tfidf_lr_learns_and_records_its_choice(small, tmp_path):
    result = run("tfidf-lr", small, tmp_path / "r.json", progress=False)
    assert set(result) >= SCHEMA
    assert result["accuracy"] > 0.6  # majority class is ~0.33 of this subset
    assert result["hyperparameters"]["C"] in [s["C"] for s in result["selection"]["search"]]
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == result["accuracy"]


def test_mlp_has_reference_size_learns_and_round_trips(small, tmp_path):
    result = run("mlp", small, tmp_path / "r.json", save=tmp_path / "student", epochs=15, lr=0.03, progress=False)
    assert set(result) >= SCHEMA
    student = Student.from_pretrained(tmp_path / "student")
    assert result["params"] == len(student.vocab) * 16 + 16 * 6 + 6  # embedding, linear layer, bias
    assert result["accuracy"] > 0.5
    texts = small.test.texts[:50]
    probabilities = student.predict_proba(texts)
    assert probabilities.shape == (50, 6)
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    accuracy = np.mean(
        [small.label_names.index(p) == y for p, y in zip(student.predict(small.test.texts), small.test.labels)]
    )
    assert accuracy == pytest.approx(result["accuracy"])


def test_corrupted_student_fails_loudly(small, tmp_path):
    run("mlp", small, save=tmp_path / "student", epochs=1, progress=False)
    (tmp_path / "student" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(BundleError, match="not a loadable kdedge student"):
        Student.from_pretrained(tmp_path / "student")


@pytest.mark.parametrize("name,architecture", [("gold-mlp", "mlp"), ("cnn", "cnn"), ("bilstm", "bilstm")])
def test_gold_student_baselines_use_distills_architecture(small, name, architecture, tmp_path):
    from kdedge.distill import DEFAULT_OPTIONS

    result = run(name, small, save=tmp_path / "student", progress=False)
    assert set(result) >= SCHEMA
    assert result["model"] == f"gold-{architecture}"
    assert result["hyperparameters"]["loss"] == "ce"
    student = Student.from_pretrained(tmp_path / "student")
    assert student.architecture == architecture and student.options == DEFAULT_OPTIONS[architecture]
    assert result["accuracy"] > 0.45  # majority class is ~0.33 of this subset


def test_fasttext_chooses_on_validation_and_records_its_speed(small, tmp_path):
    result = run("fasttext", small, tmp_path / "r.json", progress=False, save=tmp_path / "ft")
    search = result["selection"]["search"]
    assert len(search) == len(FASTTEXT_GRID)
    assert result["selection"]["best_val_accuracy"] == max(row["val_accuracy"] for row in search)
    assert result["accuracy"] > 0.5 and result["latency_us_p50_one_text"] > 0
    assert (tmp_path / "ft" / "model.bin").is_file()

import numpy as np
import pytest

from kdedge.compare import compare_predictions
from kdedge.evaluate import mcnemar


def test_exact_mcnemar_counts_only_discordant_pairs():
    labels = np.zeros(62, dtype=int)
    a = np.array([0] * 10 + [1] * 2 + [0] * 50)  # a alone right 10 times, b alone twice, both right 50 times
    b = np.array([1] * 10 + [0] * 2 + [0] * 50)
    test = mcnemar(labels, a, b)
    assert (test["a_only_right"], test["b_only_right"]) == (10, 2)
    assert test["p_a_better"] == pytest.approx(sum(__import__("math").comb(12, k) for k in range(10, 13)) / 2**12)
    assert test["p_value"] == pytest.approx(2 * test["p_a_better"]) and test["verdict"] == "better"
    same = mcnemar([0, 1], [0, 0], [0, 0])
    assert same["p_a_better"] == 1.0 and same["verdict"] == "on par"  # no disagreement, no evidence


def test_verdicts_and_advice():
    labels = np.arange(400) % 4
    better = compare_predictions(labels, np.where(np.arange(400) < 100, (labels + 1) % 4, labels), labels)
    assert better["clearly_better"] and better["verdict"] == "clearly better" and better["advice"] == []
    assert "Try" not in better["message"]
    # 3 texts right only for the teacher, 1 only for the baseline: higher, but not significant
    teacher = labels.copy()
    teacher[:1] = (labels[:1] + 1) % 4
    baseline = labels.copy()
    baseline[1:4] = (labels[1:4] + 1) % 4
    close = compare_predictions(teacher, baseline, labels)
    assert close["teacher_accuracy"] > close["baseline_accuracy"] and close["verdict"] == "not clearly better"
    assert "not clearly better than tfidf-lr" in close["message"] and "--lr auto" in close["message"]
    below = compare_predictions(baseline, teacher, labels)
    assert below["verdict"] == "below" and "fetch-mpnet" in below["message"]
    assert "the teacher is below tfidf-lr," in below["message"]

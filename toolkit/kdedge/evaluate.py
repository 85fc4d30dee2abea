"""Classification metrics shared by every command, so all result files report the same numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def evaluate(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy with its 95% interval, macro-F1, per-class F1 and the confusion matrix (rows: true label,
    columns: predicted)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError("y_true and y_pred must be non-empty 1-D sequences of the same length")
    labels = list(range(len(label_names)))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    accuracy = float(accuracy_score(y_true, y_pred))
    return {
        "accuracy": accuracy,
        "accuracy_ci95": wilson_interval(accuracy, len(y_true)),
        "macro_f1": float(np.mean(per_class)),
        "per_class_f1": {name: float(f1) for name, f1 in zip(label_names, per_class)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": len(y_true),
    }


def wilson_interval(accuracy: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on `n` texts (good near 0 and 1, unlike the normal
    approximation): a test split is a sample, and this is how far its accuracy could move on another one."""
    if n <= 0:
        raise ValueError("an interval needs at least one text")
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def mcnemar(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], alpha: float = 0.05) -> dict:
    """Exact McNemar test of two models on the same texts. Only the texts exactly one of them gets right count;
    under the null each is that one with probability 1/2, so p-values are binomial tails (scipy's binomtest):
    `p_value` two-sided (is either better?), `p_a_better` one-sided. `verdict` is "on par" unless p < alpha."""
    from scipy.stats import binomtest

    y_true = np.asarray(y_true)
    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    discordant = only_a + only_b
    p = float(binomtest(only_a, discordant, 0.5).pvalue) if discordant else 1.0
    p_a_better = float(binomtest(only_a, discordant, 0.5, alternative="greater").pvalue) if discordant else 1.0
    verdict = "on par" if p >= alpha else ("better" if only_a > only_b else "worse")
    return {
        "a_only_right": only_a,
        "b_only_right": only_b,
        "p_value": p,
        "p_a_better": p_a_better,
        "verdict": verdict,
        "alpha": alpha,
    }

"""Does a teacher earn its place? A paired test of its validation predictions against TF-IDF + LR's.

A transformer teacher costs minutes to hours and a student distilled from it inherits its mistakes; when it is
not clearly more accurate than a linear model on the same validation texts, the user should hear so, with what
to try, before distilling anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .data import TextDataset
from .evaluate import mcnemar

ALPHA = 0.05  # one-sided significance level of "the teacher is better"

# What to try when the teacher does not clearly beat the linear baseline (generic: no dataset is named).
ADVICE = (
    "train longer (kdedge teacher --max-epochs N; check whether validation was still rising at the last epoch)",
    "choose the learning rate on validation (kdedge teacher --lr auto)",
    "let the head read the mean of the tokens, which learns faster from few texts per class (kdedge teacher "
    "--pooling mean; the default for sentence-transformers checkpoints pooled that way)",
    "use a base-size teacher (kdedge fetch-mpnet --out runs/mpnet-base; kdedge teacher --model runs/mpnet-base)",
)


def compare_predictions(
    teacher_pred: Sequence[int],
    baseline_pred: Sequence[int],
    labels: Sequence[int],
    baseline: str = "tfidf-lr",
    alpha: float = ALPHA,
) -> dict:
    """Teacher vs baseline on the same (validation) texts: accuracies, exact McNemar, a verdict and a message."""
    labels = np.asarray(labels)
    test = mcnemar(labels, teacher_pred, baseline_pred)
    teacher_acc = float((np.asarray(teacher_pred) == labels).mean())
    baseline_acc = float((np.asarray(baseline_pred) == labels).mean())
    clearly_better = test["p_a_better"] < alpha
    if clearly_better:
        verdict = "clearly better"
    elif teacher_acc < baseline_acc:
        verdict = "below"
    else:
        verdict = "not clearly better"
    message = (
        f"teacher {teacher_acc:.2%} vs {baseline} {baseline_acc:.2%} on validation "
        f"(exact McNemar, one-sided p = {test['p_a_better']:.3g}; {test['a_only_right']} texts only the teacher "
        f"gets right, {test['b_only_right']} only {baseline}): the teacher is {verdict}"
    )
    if not clearly_better:
        than = "" if verdict == "below" else " than"
        message += (
            f"{than} {baseline}, so a student distilled from it may end up below a linear model. Try: "
            + "; ".join(ADVICE)
        )
    return {
        "split": "validation",
        "baseline": baseline,
        "teacher_accuracy": teacher_acc,
        "baseline_accuracy": baseline_acc,
        "test": "exact McNemar (binomial on discordant pairs), one-sided: teacher better",
        **test,
        "alpha": alpha,
        "clearly_better": bool(clearly_better),
        "verdict": verdict,
        "message": message,
        "advice": [] if clearly_better else list(ADVICE),
    }


def compare_with_tfidf(dataset: TextDataset, teacher_val_pred: Sequence[int], seed: int = 0) -> dict:
    """Fit TF-IDF + LR on train (C chosen on validation, as `kdedge baseline tfidf-lr` does) and compare."""
    from .baselines import fit_tfidf_lr, one_text_latency_us, tfidf_params

    pipeline, search = fit_tfidf_lr(dataset, seed=seed, progress=False)
    baseline_pred = pipeline.predict(dataset.validation.texts)
    result = compare_predictions(teacher_val_pred, baseline_pred, dataset.validation.labels)
    result["baseline_params"] = tfidf_params(pipeline)
    result["baseline_latency_us"] = one_text_latency_us(pipeline.predict, dataset.validation.texts, calls=300)
    result["baseline_selection"] = search
    return result

"""Two fine-tuned teachers on the same texts: accuracies with 95% intervals and an exact McNemar test per split.

A bigger teacher costs hours of fine-tuning and labeling; call it better only when the paired test says so.

python benchmarks/compare_teachers.py runs/teacher-minilm-clinc150 runs/teacher-mpnet-clinc150 \
    --data ../shared/datasets/clinc150 --output benchmarks/results/teachers-clinc150-minilm-vs-mpnet.json

A teacher may also be given by its soft-label file (`.npz`, with the held-out texts labelled): a teacher
fine-tuned on another machine whose weights stayed there. Either model may also be a saved student folder
(`kdedge distill --out`), to compare two students or a student with a teacher.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kdedge.data import load_dataset
from kdedge.evaluate import mcnemar, wilson_interval
from kdedge.results import record_environment, write_json
from kdedge.softlabels import SoftLabels
from kdedge.students import Student
from kdedge.teacher import TEACHER_FILE, Teacher, default_bf16


class CachedTeacher:
    """A teacher's predictions read from its soft-label file."""

    def __init__(self, path: str, label_names: list[str]) -> None:
        self.cache = SoftLabels.open_existing(path, label_names)
        self.form = self.cache.form
        self.params = None  # not recorded in the file

    def logits(self, texts: list[str], bf16: bool = False):
        return self.cache.lookup(texts)


class SavedStudent:
    """A student folder, read as a teacher is (it runs in fp32 whatever the bf16 setting)."""

    form = None

    def __init__(self, path: str) -> None:
        self.student = Student.from_pretrained(path)
        self.params = self.student.params

    def logits(self, texts: list[str], bf16: bool = False):
        return self.student.logits(texts)


def load_teacher(source: str, label_names: list[str]) -> Teacher | CachedTeacher | SavedStudent:
    if source.endswith(".npz"):
        return CachedTeacher(source, label_names)
    return Teacher.from_pretrained(source) if (Path(source) / TEACHER_FILE).is_file() else SavedStudent(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher_a")
    parser.add_argument("teacher_b")
    parser.add_argument("--data", default=None)
    parser.add_argument("--splits", default="validation,test")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    bf16 = default_bf16("cpu")
    teachers = {name: load_teacher(name, dataset.label_names) for name in (args.teacher_a, args.teacher_b)}
    splits = {}
    for split in args.splits.split(","):
        data = dataset.splits[split]
        predictions = {name: t.logits(data.texts, bf16=bf16).argmax(1) for name, t in teachers.items()}
        accuracy = {name: float((p == data.labels).mean()) for name, p in predictions.items()}
        test = mcnemar(data.labels, predictions[args.teacher_a], predictions[args.teacher_b])
        splits[split] = {
            "n": len(data),
            "accuracy": accuracy,
            "accuracy_ci95": {name: wilson_interval(a, len(data)) for name, a in accuracy.items()},
            "mcnemar_a_vs_b": test,
        }
        print(
            f"{split}: {accuracy[args.teacher_a]:.4f} vs {accuracy[args.teacher_b]:.4f}; "
            f"{test['b_only_right']} texts only B gets right, {test['a_only_right']} only A "
            f"(exact McNemar p = {test['p_value']:.3g}: {test['verdict']})"
        )
    write_json(
        args.output,
        {
            "benchmark": "two models, paired on the same texts (exact McNemar)",
            "teacher_a": args.teacher_a,
            "teacher_b": args.teacher_b,
            "params": {name: t.params for name, t in teachers.items()},
            "bf16_autocast": bf16,  # for teachers given as folders; a soft-label file keeps its own form
            "soft_label_forms": {name: t.form for name, t in teachers.items() if isinstance(t, CachedTeacher)},
            "dataset": dataset.describe(),
            "splits": splits,
            **record_environment(),
        },
    )


if __name__ == "__main__":
    main()

"""Is bf16 autocast the fast path for the teacher on this CPU? Training steps and labeling, fp32 vs bf16.

kdedge turns bf16 on by default only where this says it pays; the answer depends on the CPU's bf16 instructions
(AMX, AVX512-BF16, or none), so every result records the machine.

python benchmarks/bf16_speed.py --data ../shared/datasets/clinc150 --model runs/clinc-mpnet/teacher \
    --output benchmarks/results/bf16-speed-mpnet-clinc150.json   (a teacher folder, or a base model and a fresh head)
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from kdedge.data import load_dataset
from kdedge.results import record_environment, write_json
from kdedge.students import length_buckets
from kdedge.teacher import TEACHER_FILE, Teacher, autocast, default_base_model, has_native_bf16, load_classifier


def load_teacher(model: str, label_names: list[str]) -> Teacher:
    """A fine-tuned teacher folder as it is, or a base model with a fresh head for the dataset's labels."""
    if (Path(model) / TEACHER_FILE).is_file():
        return Teacher.from_pretrained(model)
    from transformers import AutoTokenizer

    classifier = load_classifier(model, num_labels=len(label_names), ignore_mismatched_sizes=True)
    return Teacher(classifier, AutoTokenizer.from_pretrained(model), label_names)


def train_step_seconds(teacher: Teacher, texts: list[str], labels: np.ndarray, bf16: bool, steps: int) -> list[float]:
    """Seconds per optimizer step (forward, backward, AdamW; training also clips gradients, left out here) on
    length-bucketed batches of 32, as in training."""
    model = teacher.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    lengths = [len(ids) for ids in teacher.tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    batches = length_buckets(lengths, 32, random.Random(0))[: steps + 1]
    times = []
    for index in batches:
        batch = teacher.tokenizer(
            [texts[i] for i in index], truncation=True, max_length=128, padding=True, return_tensors="pt"
        )
        started = time.perf_counter()
        with autocast(bf16):
            logits = teacher.model(**batch).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.from_numpy(labels[index]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    model.eval()
    return times[1:]  # the first step pays one-off allocation and kernel selection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--model", default=None, help="base model or kdedge teacher folder (default: MiniLM)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per precision")
    parser.add_argument("--texts", type=int, default=2000, help="validation texts labelled per precision")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dataset = load_dataset(args.data)
    model = args.model or default_base_model()
    teacher = load_teacher(model, dataset.label_names)
    start = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    texts = dataset.validation.texts[: args.texts]
    rows, probabilities = {}, {}
    for bf16 in (False, True):
        name = "bf16" if bf16 else "fp32"
        teacher.model.load_state_dict(start)
        steps = train_step_seconds(teacher, dataset.train.texts, dataset.train.labels, bf16, args.steps)
        teacher.model.load_state_dict(start)
        started = time.perf_counter()
        logits = teacher.logits(texts, bf16=bf16)
        seconds = time.perf_counter() - started
        probabilities[name] = torch.from_numpy(logits).softmax(1).numpy()
        rows[name] = {
            "train_step_s_median": round(statistics.median(steps), 4),
            "train_steps_timed": len(steps),
            "label_texts_per_s": round(len(texts) / seconds, 1),
        }
        print(
            f"{name}: {rows[name]['train_step_s_median']:.3f} s a training step, "
            f"{rows[name]['label_texts_per_s']:.0f} texts/s labeling"
        )
    agree = float((probabilities["fp32"].argmax(1) == probabilities["bf16"].argmax(1)).mean())
    write_json(
        args.output,
        {
            "benchmark": "teacher training step and labeling throughput, fp32 vs bf16 autocast (torch, CPU)",
            "model": model,
            "params": teacher.params,
            "dataset": dataset.describe(),
            "threads": torch.get_num_threads(),
            "native_bf16": has_native_bf16(),
            "precisions": rows,
            "bf16_speedup": {
                "train": round(rows["fp32"]["train_step_s_median"] / rows["bf16"]["train_step_s_median"], 2),
                "label": round(rows["bf16"]["label_texts_per_s"] / rows["fp32"]["label_texts_per_s"], 2),
            },
            "labels_fp32_vs_bf16": {
                "texts": len(texts),
                "top1_agreement": agree,
                "max_abs_probability_difference": float(np.abs(probabilities["fp32"] - probabilities["bf16"]).max()),
            },
            **record_environment(),
        },
    )


if __name__ == "__main__":
    main()

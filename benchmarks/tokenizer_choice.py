"""Which tokenizer kind the students use (kdedge issue 13): the shipped Emotion recipe (`make run`: the committed
MiniLM soft labels, 8 augmented copies, the unlabeled texts, one thread) with each kind of kdedge.text.KINDS,
the mlp student (the one `--student auto` keeps on Emotion), chosen on validation.

python benchmarks/tokenizer_choice.py --seed 0 [--kinds wordpiece unigram]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from kdedge.data import load_dataset
from kdedge.distill import StudentConfig, distill
from kdedge.results import write_json
from kdedge.text import KINDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/emotion")
    parser.add_argument("--unlabeled", default="../shared/datasets/emotion_unsplit_partial/unlabeled.jsonl.gz")
    parser.add_argument("--soft-labels", default="benchmarks/softlabels/emotion-minilm-bf16.npz")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset(args.data)
    for kind in args.kinds:
        config = replace(StudentConfig(), tokenizer=kind, seed=args.seed)
        result = distill(
            dataset,
            f"runs/tokenizer-choice/{kind}-s{args.seed}",
            config=config,
            unlabeled=args.unlabeled,
            augment=8,
            soft_labels=args.soft_labels,
            progress=False,
            log=lambda message: None,
        )
        write_json(f"benchmarks/results/distill/tokenizer-{kind}-s{args.seed}.json", result)
        print(
            f"{kind} seed {args.seed}: validation {result['val_accuracy']:.4f}, test {result['accuracy']:.4f}, "
            f"{result['params']:,} parameters",
            flush=True,
        )


if __name__ == "__main__":
    main()

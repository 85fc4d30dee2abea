"""A dataset folder with only K training texts per class, or a fraction of each class (validation and test copied
whole): a small task made from a larger one, to see how a recipe behaves when data is scarce.

python benchmarks/subsample.py ../shared/datasets/clinc150 runs/proxy/clinc150-k20 --per-class 20
python benchmarks/subsample.py ../shared/datasets/emotion runs/proxy/emotion-30pct --fraction 0.3
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

from kdedge.results import atomic_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a folder with train.jsonl, validation.jsonl and test.jsonl")
    parser.add_argument("out", type=Path)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--per-class", type=int, help="keep this many texts of every class")
    size.add_argument("--fraction", type=float, help="keep this share of every class (its balance stays)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"{args.out} exists")
    if args.per_class is not None and args.per_class < 1:
        parser.error(f"--per-class {args.per_class}: expected at least 1")
    if args.fraction is not None and not 0 < args.fraction <= 1:
        parser.error(f"--fraction {args.fraction:g}: expected a share above 0 and at most 1")
    rows = [json.loads(line) for line in (args.source / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    rng = random.Random(args.seed)

    def count(label: str) -> int:
        return args.per_class or max(1, round(args.fraction * len(by_label[label])))

    short = sorted(label for label in by_label if count(label) > len(by_label[label]))
    if short:
        parser.error(f"--per-class {args.per_class}: {len(short)} classes have fewer texts (e.g. {short[0]!r})")
    kept = [row for label in sorted(by_label) for row in rng.sample(by_label[label], count(label))]
    rng.shuffle(kept)
    with atomic_folder(args.out) as tmp:  # an interrupted run leaves no half-made dataset
        with (tmp / "train.jsonl").open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(row) + "\n" for row in kept)
        for split in ("validation", "test"):
            shutil.copy(args.source / f"{split}.jsonl", tmp)
    share = f"{args.per_class} per class" if args.per_class else f"{args.fraction:g} of each class"
    print(f"{len(kept):,} training texts ({share}, seed {args.seed}) in {args.out}")


if __name__ == "__main__":
    main()

"""Cut a word-vector file to the words a dataset's train texts can ask for, so it fits the GPU machine's
64 MiB upload: each word of the train file's texts (as kdedge tokenises it) and each substring of up to 8
letters of one (a word piece of the student's vocabulary is looked up as a word of its own). Words that only
augmentation brings in are left out, so they start random.

With DIMS, the kept vectors are also reduced to DIMS dimensions by `kdedge distill`'s own PCA
(`distill.embedding_init`), fitted here on all the kept words. `--init` alone would reduce the 100-d file to a
narrower student the same way, fitted on the words of the student's vocabulary instead; DIMS only moves that fit.

usage: python benchmarks/gpu/cut_vectors.py VECTORS.txt.gz TRAIN.jsonl OUT.txt.gz [DIMS]
"""

from __future__ import annotations

import gzip
import json
import os
import sys

import numpy as np

from kdedge.distill import embedding_init
from kdedge.text import tokenize

LONGEST_PIECE = 8


def wanted_words(train: str) -> set[str]:
    with open(train, encoding="utf-8") as file:
        words = {word for line in file for word in tokenize(json.loads(line)["text"])}
    wanted = set(words)
    for word in words:
        wanted.update(word[i:j] for i in range(len(word)) for j in range(i + 1, min(len(word), i + LONGEST_PIECE) + 1))
    return wanted


def main(vectors: str, train: str, out: str, dims: str | None = None) -> None:
    wanted = wanted_words(train)
    with gzip.open(vectors, "rt", encoding="utf-8") as source:
        lines = [line for line in source if line.split(" ", 1)[0] in wanted]
    if dims is not None:
        rows = [line.split() for line in lines]
        table = embedding_init(np.array([row[1:] for row in rows], dtype=np.float32), int(dims))
        lines = [row[0] + " " + " ".join(f"{value:.5f}" for value in vector) + "\n" for row, vector in zip(rows, table)]
    partial = out + ".partial"  # an interrupted run leaves no file that looks finished
    with gzip.open(partial, "wt", encoding="utf-8") as target:
        target.writelines(lines)
    os.replace(partial, out)
    print(f"{len(lines):,} words x {len(lines[0].split()) - 1} dimensions kept -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Cut a word-vector file to the words a dataset's train texts can ask for, so it fits the GPU machine's
64 MiB upload: each word of the train file's texts (as kdedge tokenises it) and each substring of up to 8
letters of one (a word piece of the student's vocabulary is looked up as a word of its own). Words that only
augmentation brings in are left out, so they start random.

usage: python benchmarks/gpu/cut_vectors.py VECTORS.txt.gz TRAIN.jsonl OUT.txt.gz
"""

from __future__ import annotations

import gzip
import json
import os
import sys

from kdedge.text import tokenize

LONGEST_PIECE = 8


def main(vectors: str, train: str, out: str) -> None:
    with open(train, encoding="utf-8") as file:
        words = {word for line in file for word in tokenize(json.loads(line)["text"])}
    wanted = set(words)
    for word in words:
        wanted.update(word[i:j] for i in range(len(word)) for j in range(i + 1, min(len(word), i + LONGEST_PIECE) + 1))
    kept = 0
    partial = out + ".partial"  # an interrupted run leaves no file that looks finished
    with gzip.open(vectors, "rt", encoding="utf-8") as source, gzip.open(partial, "wt", encoding="utf-8") as target:
        for line in source:
            if line.split(" ", 1)[0] in wanted:
                target.write(line)
                kept += 1
    os.replace(partial, out)
    print(f"{kept:,} words kept -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])

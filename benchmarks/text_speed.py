"""How fast the student's text pipeline turns raw texts into id arrays (it runs on every prediction).

python benchmarks/text_speed.py --data ../shared/datasets/emotion --output benchmarks/results/text-pipeline-emotion.json
"""

from __future__ import annotations

import argparse
import statistics
import time

from kdedge.data import load_dataset
from kdedge.results import record_environment, write_json
from kdedge.text import Vocabulary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    started = time.perf_counter()
    vocab = Vocabulary.build(dataset.train.texts, size=5000)
    build_s = time.perf_counter() - started
    texts = dataset.test.texts
    batch_rates, single_us = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        vocab.encode(texts)
        batch_rates.append(len(texts) / (time.perf_counter() - started))
        started = time.perf_counter()
        for text in texts:
            vocab.encode([text])
        single_us.append((time.perf_counter() - started) / len(texts) * 1e6)
    words = sum(len(vocab.tokenize(t)) for t in texts) / len(texts)
    write_json(
        args.output,
        {
            "benchmark": "text pipeline (normalise, tokenise, map to ids, pad)",
            "dataset": dataset.describe(),
            "texts": len(texts),
            "mean_words_per_text": round(words, 1),
            "vocabulary_build_s_train_split": round(build_s, 3),
            "batch_encode_texts_per_s_median": round(statistics.median(batch_rates)),
            "single_text_encode_us_median": round(statistics.median(single_us), 2),
            "repeats": args.repeats,
            "deterministic": vocab.tokens == Vocabulary.build(dataset.train.texts, size=5000).tokens,
            **record_environment(),
        },
    )
    print(f"batch: {statistics.median(batch_rates):,.0f} texts/s; one text: {statistics.median(single_us):.1f} us")


if __name__ == "__main__":
    main()

"""Summarise the GPU sweep of SST-2 BiLSTM students (`sst2_students.sh`) from its logs into one result file.

The sweep ran under a per-run time limit that stopped every run before its last epoch, so no run wrote its own
result file or reached its test: what remains is each run's validation accuracy and training loss per epoch
(the progress bar's postfix). The parameter counts are rebuilt here: the vocabulary from the same transfer set
(the soft-label file's replacement table, the same augmentation seed), then the student with the run's options.

usage: python benchmarks/gpu/sweep_summary.py LOG_FOLDER SOFT_LABELS DATA GLOVE_CUT OUTPUT.json
"""

from __future__ import annotations

import gzip
import re
import shlex
import sys
from pathlib import Path

from kdedge.data import load_dataset
from kdedge.distill import AUGMENT_SEED, StudentConfig, transfer_set
from kdedge.results import record_environment, write_json
from kdedge.runtime import sha256_file
from kdedge.softlabels import SoftLabels
from kdedge.students import build, count_params
from kdedge.text import Vocabulary

SCRIPT = Path(__file__).with_name("sst2_students.sh")
EPOCH = re.compile(r"loss=([0-9.]+), val_acc=([0-9.]+)")


def runs_in_script() -> dict[str, list[str]]:
    """Each `run NAME ARGS` line of the sweep script: its extra distill arguments."""
    runs = {}
    for line in SCRIPT.read_text().splitlines():
        if line.startswith("run "):
            words = shlex.split(line.split("#")[0])
            runs[words[1]] = words[2:]
    return runs


def settings(args: list[str]) -> dict:
    """The student options, vocabulary size, loss, lr and init that a run's arguments set."""
    config = StudentConfig.for_architecture("bilstm")
    found = {
        "options": dict(config.options),
        "vocab_size": config.vocab_size,
        "loss": config.loss,
        "lr": config.lr,
        "init": "random",
    }
    pairs = iter(args)
    for flag in pairs:
        value = next(pairs)
        if flag == "-o":
            key, _, number = value.partition("=")
            found["options"][key] = int(number)
        else:
            key = flag.removeprefix("--").replace("-", "_")
            found[key] = "GloVe 6B 100-d" if key == "init" else type(found[key])(value)
    return found


def main(logs: str, soft: str, data: str, glove: str, output: str) -> None:
    dataset = load_dataset(data)
    cache = SoftLabels.open_existing(soft, dataset.label_names)
    texts, _ = transfer_set(dataset, augment=8, replacements=cache.extra["replacements"], seed=AUGMENT_SEED)
    vocab_rows: dict[int, int] = {}
    runs = []
    for name, args in runs_in_script().items():
        found = settings(args)
        size = found["vocab_size"]
        if size not in vocab_rows:
            vocab_rows[size] = len(Vocabulary.build(texts, size=size, buckets=StudentConfig.buckets))
        model = build("bilstm", vocab_rows[size], len(dataset.label_names), **found["options"])
        params = count_params(model)
        epochs = []
        for loss, accuracy in EPOCH.findall((Path(logs) / f"{name}.log").read_text()):
            if not epochs or epochs[-1] != [float(loss), float(accuracy)]:
                epochs.append([float(loss), float(accuracy)])
        best = max(range(len(epochs)), key=lambda i: epochs[i][1])
        runs.append(
            {
                "name": name,
                "arguments": args,
                **found,
                "vocabulary_rows": vocab_rows[size],
                "params": params,
                "params_without_embeddings": params - count_params(model.embedding),
                "epochs_done": len(epochs),
                "train_loss_by_epoch": [e[0] for e in epochs],
                "val_accuracy_by_epoch": [e[1] for e in epochs],
                "best_val_accuracy": epochs[best][1],
                "best_epoch": best + 1,
            }
        )
    write_json(
        output,
        {
            "what": "SST-2 BiLSTM students from the MPNet soft labels (x8 transfer set), trained "
            "eight at once on one GPU, each stopped by a 500 s limit before its last epoch: validation only, "
            "no test accuracy",
            "ran_on": "one NVIDIA H200 (torch 2.11.0+cu130, Python 3.12.3), Intel Xeon host, 16 cores; each run "
            "2 CPU threads; the kdedge code of this repository's commit that adds this file",
            "sweep_script": SCRIPT.name,
            "common_arguments": "--augment 8 --student bilstm --device cuda --epochs 12 --threads 2, seed 0",
            "soft_labels_sha256": sha256_file(Path(soft)),
            "dataset": {"name": dataset.name, "sha256": dataset.checksums},
            "glove": {
                "made_by": "word_vectors.sh, then cut_vectors.py (to fit the GPU machine's 64 MiB upload)",
                "words": gzip.decompress(Path(glove).read_bytes()).count(b"\n"),
                "sha256": sha256_file(Path(glove)),
            },
            "transfer_set_size": len(texts),
            "runs": runs,
            "summary_environment": record_environment(),
        },
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

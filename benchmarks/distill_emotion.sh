#!/usr/bin/env bash
# The Emotion distillation table of benchmarks/README.md: the chosen recipe (kdedge distill's defaults, picked
# on validation from the experiments in results/distill/explore-*.json) with no transfer data, with
# augmentation, with the unlabeled texts, and with both. Every text of these transfer sets is in the committed
# soft-label file, so no teacher weights are needed. One thread: the last bits of a run depend on the thread
# count (these rows ran with OMP_NUM_THREADS=1, which is the same). Usage: bash benchmarks/distill_emotion.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
SOFT=benchmarks/softlabels/emotion-minilm.npz
UNL=../shared/datasets/emotion_unsplit_partial/unlabeled.jsonl.gz
run() {  # NAME ARGS...
  local name=$1; shift
  $KDEDGE distill --soft-labels $SOFT "$@" --threads 1 --out runs/students/$name \
    --output benchmarks/results/distill/$name.json --quiet
}
run final-none --augment 0
run final-aug8 --augment 8
run final-unlabeled --augment 0 --unlabeled $UNL
run final-aug8-unlabeled --augment 8 --unlabeled $UNL
# The same student on the gold labels alone: what the architecture does without the teacher.
$KDEDGE baseline gold-mlp --output benchmarks/results/baseline-gold-mlp-emotion.json --quiet

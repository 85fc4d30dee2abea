#!/usr/bin/env bash
# The Emotion distillation experiments behind benchmarks/README.md, one `kdedge distill` per row.
# Every text of these transfer sets is in the committed soft-label file, so no teacher weights are needed.
# Usage: bash benchmarks/distill_emotion.sh [NAME ...]   (no names: all experiments)
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
SOFT=benchmarks/softlabels/emotion-minilm.npz
UNL=../shared/datasets/emotion_unsplit_partial/unlabeled.jsonl.gz
declare -A EXP=(
  [mlp-mean-none]="-o pooling=mean"
  [mlp-attn-none]=""
  [mlp-attn-aug8]="--augment 8"
  [mlp-attn-unl]="--unlabeled $UNL"
  [mlp-mean-aug8-unl]="--augment 8 --unlabeled $UNL -o pooling=mean"
  [mlp-attn-aug8-unl]="--augment 8 --unlabeled $UNL"
  [mlp-attn-aug8-unl-t2]="--augment 8 --unlabeled $UNL --temperature 2"
  [mlp-attn-aug8-unl-mse]="--augment 8 --unlabeled $UNL --loss mse"
  [mlp-attn-aug8-unl-v6k]="--augment 8 --unlabeled $UNL --vocab-size 6000"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${!EXP[@]}")
for name in "${names[@]}"; do
  # shellcheck disable=SC2086
  $KDEDGE distill --soft-labels $SOFT ${EXP[$name]} --out runs/students/$name \
    --output benchmarks/results/distill/$name.json --quiet
done

#!/bin/bash
# On a GPU machine: fine-tune a teacher, then label the transfer set and the held-out texts into a soft-label
# file that students can be distilled from anywhere, with no teacher (`kdedge distill --soft-labels FILE`).
# usage: teacher_and_labels.sh MODEL DATA TAG MAX_EPOCHS AUGMENT LR_CANDIDATES OUTDIR
# The label pass trains a throwaway one-epoch mlp (distill always trains a student); only its soft labels count.
set -euo pipefail
M=$1 D=$2 T=$3 E=$4 A=$5 LR=$6 O=$7
K="python3 -m kdedge"
date
$K teacher --data "$D" --model "$M" --out "/tmp/$T-teacher" --device cuda --bf16 --lr auto --lr-candidates "$LR" \
  --max-epochs "$E" --quiet --output "$O/teacher-$T.json" 2>&1 | tail -n 15
date
$K distill --data "$D" --teacher "/tmp/$T-teacher" --device cuda --bf16 --student mlp --epochs 1 --augment "$A" \
  --soft-labels "/tmp/$T-soft.npz" --out "/tmp/$T-student" --output "$O/label-$T.json" --quiet 2>&1 | tail -n 8
date
split -b 15M "/tmp/$T-soft.npz" "$O/soft-$T.npz."

#!/usr/bin/env bash
# Small data (issue 12): CLINC150 cut to 20 training texts per class, the pattern of the held-out 77-class set
# (few texts per class, many classes). The default teacher, then `--student auto` as a user runs it, then the
# transformer rungs with the teacher's whole vocabulary (-o vocab=teacher) against auto's pruned ones
# (`benchmarks/README.md`, "The vocabulary of a transformer rung"). One torch thread per run, pinned to one core
# of the 2-core machine, the other core running another of these. Usage: bash benchmarks/small_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
DATA=runs/proxy/clinc150-k20
TEACHER=runs/proxy/t-k20-product
R=benchmarks/results
ONE="env OMP_NUM_THREADS=1 taskset -c 1"
[ -d $DATA ] || .venv/bin/python benchmarks/subsample.py ../shared/datasets/clinc150 $DATA --per-class 20
[ -f $TEACHER/kdedge_teacher.json ] || $ONE $KDEDGE teacher --data $DATA --out $TEACHER --threads 1 --no-bf16 \
  --quiet --output $R/pooling/teacher-minilm-clinc150-k20-mean.json
# the rungs in this run still had the pruned vocabulary (-o vocab=task, the default then)
$ONE $KDEDGE distill --data $DATA --teacher $TEACHER --student auto --threads 1 --out runs/k20auto/student \
  --output $R/distill/clinc150-k20-auto.json
for layers in "[0,5]" "[0,2,5]" "[0,2,3,5]"; do
  n=$(($(echo "$layers" | tr -cd , | wc -c) + 1))
  $ONE $KDEDGE distill --data $DATA --teacher $TEACHER --student transformer -o "layers=$layers" -o vocab=teacher \
    --threads 1 --out runs/k20auto/t$n-full --output $R/distill/clinc150-k20-transformer-${n}l-vocab-teacher.json
done

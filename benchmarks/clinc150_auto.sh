#!/usr/bin/env bash
# Full CLINC150, `kdedge distill --student auto` end to end with every setting at its default (the rungs' 8-epoch
# schedule included), from the seed-3 default teacher of student_lr.sh (built here if missing): does auto's pick
# keep >= 99% of the teacher (issue 12)? Beside it, on the other core, the rung auto stops at when within the
# tolerance (2 layers, the teacher's whole vocabulary) at seed 1, for the seed spread of the pick.
# One torch thread per run, each pinned to one core of the 2-core machine.
# Usage: bash benchmarks/clinc150_auto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
R=benchmarks/results/distill
export OMP_NUM_THREADS=1
data=../shared/datasets/clinc150 teacher=runs/teacher-minilm-clinc150-mean-s3
[ -f $teacher/kdedge_teacher.json ] || taskset -c 0 $KDEDGE teacher --data $data --out $teacher --seed 3 \
  --threads 1 --no-bf16 --quiet --output runs/teacher-minilm-clinc150-mean-s3.json
taskset -c 0 $KDEDGE distill --data $data --teacher $teacher --student auto --threads 1 \
  --out runs/auto/clinc150-auto --output $R/clinc150-auto.json &
taskset -c 1 $KDEDGE distill --data $data --teacher $teacher --student transformer --seed 1 --threads 1 \
  --out runs/auto/clinc150-transformer-2l-s1 --output $R/clinc150-transformer-2l-s1.json
wait

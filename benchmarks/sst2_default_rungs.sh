#!/usr/bin/env bash
# SST-2 from the teacher a user gets now: `kdedge teacher` with every default (MiniLM, mean of the tokens,
# up to 10 epochs, patience 2, bf16 on this CPU). The SST-2 rungs in the benchmarks README were cut from a
# [CLS]-head teacher trained for a fixed 3 epochs; this re-runs the two largest (3 and 4 of 6 layers) from
# the default teacher, with the schedule those rows used (4 epochs, patience 1) so that the teacher is the one
# change: do they still keep >= 99% of it (issue 12)?
# The teacher trains on both cores; then the 4-layer rung labels the default transfer set (cached in the
# teacher folder) and trains on core 0, and the 3-layer rung, reading the same cache, on core 1.
# Usage: bash benchmarks/sst2_default_rungs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
R=benchmarks/results
data=../shared/datasets/sst2 teacher=runs/sst2-default/teacher
[ -f $teacher/kdedge_teacher.json ] || $KDEDGE teacher --data $data --out $teacher --quiet \
  --output $R/teacher-minilm-sst2-default.json
export OMP_NUM_THREADS=1
rung() {  # core, layers, name
  taskset -c "$1" $KDEDGE distill --data $data --teacher $teacher --student transformer -o "layers=$2" \
    --epochs 4 --patience 1 --threads 1 --out "runs/sst2-default/$3" --output "$R/distill/sst2-default-$3.json"
}
rung 0 "[0,2,3,5]" transformer-4l &
# the 3-layer rung starts once the 4-layer run has labelled and merged the transfer set into the cache
until [ -f $teacher/soft_labels.torch-bf16.npz ] && ! ls -d $teacher/*.parts >/dev/null 2>&1; do sleep 20; done
rung 1 "[0,2,5]" transformer-3l
wait

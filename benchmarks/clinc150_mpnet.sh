#!/usr/bin/env bash
# CLINC150 with the base-size teacher (issue 12): all-mpnet-base-v2 fine-tuned by `kdedge teacher`, compared
# with the MiniLM teacher on the same texts, bf16 against fp32 on this CPU, then the <= 1M students distilled
# from it on the default transfer set (one pinned core) and two more seeds of the chosen BiLSTM.
# MINILM is the --lr auto MiniLM teacher of teacher-minilm-clinc150.json. Usage: bash benchmarks/clinc150_mpnet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
DATA=../shared/datasets/clinc150
MINILM=${MINILM:-runs/teacher-minilm-clinc150}
T=runs/clinc-mpnet/teacher
SOFT=runs/clinc-mpnet/softlabels-mpnet.npz  # 45 MB, not committed
R=benchmarks/results
$KDEDGE fetch-mpnet --out runs/mpnet-base
[ -f $T/kdedge_teacher.json ] || $KDEDGE teacher --data $DATA --model runs/mpnet-base --out $T --lr auto \
  --max-epochs 5 --patience 2 --bf16 --threads 2 --quiet --output $R/teacher-mpnet-clinc150.json
.venv/bin/python benchmarks/compare_teachers.py $MINILM $T --data $DATA --output $R/teachers-clinc150-minilm-vs-mpnet.json
for pair in "minilm $MINILM" "mpnet $T"; do
  set -- $pair
  .venv/bin/python benchmarks/bf16_speed.py --data $DATA --model $2 --output $R/bf16-speed-$1-clinc150.json
done
D="--data $DATA --teacher $T --soft-labels $SOFT --bf16 --threads 1 --quiet"
OMP_NUM_THREADS=1 taskset -c 0 $KDEDGE distill $D --student auto --max-params 1000000 --seed 0 \
  --out runs/clinc-mpnet/auto-1m --output $R/distill/clinc150-mpnet-auto-1m.json
for seed in 1 2; do
  OMP_NUM_THREADS=1 taskset -c 0 $KDEDGE distill $D --student bilstm --seed $seed \
    --out runs/clinc-mpnet/bilstm-s$seed --output $R/distill/clinc150-mpnet-bilstm-seed$seed.json
done

#!/bin/bash
# On a GPU machine: more seeds of the <= 1M SST-2 BiLSTM that sst2_students_1m.sh chose on validation (GloVe
# projected to 50 dimensions, hidden 256, MSE at lr 0.003, x8 transfer set from the MPNet soft labels), all at
# once, for its seed spread. usage: sst2_seeds.sh DATA SOFT_LABELS GLOVE_CUT EPOCHS OUTDIR SEED...
set -uo pipefail
D=$1 SOFT=$2 GLOVE=$3 E=$4 O=$5
shift 5
mkdir -p "$O"
python3 "$(dirname "$0")/cut_vectors.py" "$GLOVE" "$D/train.jsonl" /tmp/glove-p50.txt.gz 50
date
for seed in "$@"; do
  OMP_NUM_THREADS=3 timeout "${RUN_LIMIT:-470}" python3 -m kdedge distill --data "$D" --soft-labels "$SOFT" \
    --augment 8 --student bilstm --device cuda --epochs "$E" --patience "$E" --threads 3 --seed "$seed" \
    --init /tmp/glove-p50.txt.gz -o dim=50 -o hidden=256 --loss mse --lr 0.003 --out "/tmp/students/p50-h256-s$seed" \
    --output "$O/p50-h256-s$seed.json" >"$O/p50-h256-s$seed.log" 2>&1 &
done
wait
date

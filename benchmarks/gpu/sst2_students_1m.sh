#!/bin/bash
# On a GPU machine: SST-2 BiLSTM students from the MPNet soft labels (x8 transfer set) with Tang et al.'s loss
# (MSE on logits, lr 0.003), shaped their way (a wide LSTM on narrow embeddings) but <= 1M parameters all told:
# GloVe projected onto its 50 or 32 leading principal components (cut_vectors.py DIMS). Beside them, Tang et
# al.'s size (2.35M with the embedding table) under MSE and under KL at the same lr, paired per text, to see
# whether the loss or the size made that student the best one so far. Six at once, two CPU threads each.
# usage: sst2_students_1m.sh DATA SOFT_LABELS GLOVE_CUT EPOCHS OUTDIR   (GLOVE_CUT: cut_vectors.py's 100-d file)
set -uo pipefail
D=$1 SOFT=$2 GLOVE=$3 E=$4 O=$5
mkdir -p "$O"
HERE=$(dirname "$0")
for dims in 50 32; do
  python3 "$HERE/cut_vectors.py" "$GLOVE" "$D/train.jsonl" "/tmp/glove-p$dims.txt.gz" "$dims"
done
run() {
  local name=$1
  shift
  OMP_NUM_THREADS=2 timeout "${RUN_LIMIT:-470}" python3 -m kdedge distill --data "$D" --soft-labels "$SOFT" --augment 8 \
    --student bilstm --device "${DEVICE:-cuda}" --epochs "$E" --patience "$E" --threads 2 --out "/tmp/students/$name" \
    --output "$O/$name.json" "$@" >"$O/$name.log" 2>&1 &
}
date
run tang-mse --init "$GLOVE" -o dim=100 -o hidden=300 --vocab-size 13000 --loss mse --lr 0.003   # 2.35M
run tang-kl --init "$GLOVE" -o dim=100 -o hidden=300 --vocab-size 13000 --loss kl --lr 0.003     # its twin
run p50-h150-v13k --init /tmp/glove-p50.txt.gz -o dim=50 -o hidden=150 --vocab-size 13000 --loss mse --lr 0.003  # 934K
run p50-h256 --init /tmp/glove-p50.txt.gz -o dim=50 -o hidden=256 --loss mse --lr 0.003                          # 882K
run p32-h200-v13k --init /tmp/glove-p32.txt.gz -o dim=32 -o hidden=200 --vocab-size 13000 --loss mse --lr 0.003  # 818K
run p32-h256-v8k --init /tmp/glove-p32.txt.gz -o dim=32 -o hidden=256 --vocab-size 8000 --loss mse --lr 0.003    # 883K
wait
date
timeout 90 python3 "$HERE/../compare_teachers.py" /tmp/students/tang-kl /tmp/students/tang-mse --data "$D" \
  --output "$O/pair-tang-kl-vs-mse.json" >"$O/pair.log" 2>&1
date

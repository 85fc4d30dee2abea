#!/bin/bash
# On a GPU machine: eight BiLSTM students distilled at once from the MPNet SST-2 soft labels (x8 transfer set),
# to see whether a larger or GloVe-initialised BiLSTM, at <= 1M parameters or at Tang et al.'s size counted
# without the embedding table, gets nearer the teacher than the default one. Each student trains on the GPU
# (two CPU threads for its data) and is tested on the CPU; logs keep the per-epoch validation accuracy.
# usage: sst2_students.sh DATA SOFT_LABELS GLOVE EPOCHS OUTDIR
# GLOVE: word_vectors.sh's file cut by cut_vectors.py; the runs' logs are summarised by sweep_summary.py.
set -uo pipefail
D=$1 SOFT=$2 GLOVE=$3 E=$4 O=$5
mkdir -p "$O/runs"
run() {
  local name=$1
  shift
  OMP_NUM_THREADS=2 timeout 500 python3 -m kdedge distill --data "$D" --soft-labels "$SOFT" --augment 8 \
    --student bilstm --device cuda --epochs "$E" --threads 2 --out "/tmp/students/$name" \
    --output "$O/runs/$name.json" "$@" >"$O/runs/$name.log" 2>&1 &
}
date
run d64-h64                                           # the default BiLSTM (387K)
run g100-h128 --init "$GLOVE" -o dim=100 -o hidden=128   # <= 1M
run g100-h150 --init "$GLOVE" -o dim=100 -o hidden=150   # <= 1M, Tang's hidden size
run r100-h150 -o dim=100 -o hidden=150                   # the same, random embeddings
run g100-h150-lr3e-3 --init "$GLOVE" -o dim=100 -o hidden=150 --lr 0.003
run g100-h150-v13k --init "$GLOVE" -o dim=100 -o hidden=150 --vocab-size 13000   # every training word
run g100-h300-v13k --init "$GLOVE" -o dim=100 -o hidden=300 --vocab-size 13000   # ~0.96M without embeddings
run g100-h300-v13k-mse --init "$GLOVE" -o dim=100 -o hidden=300 --vocab-size 13000 --loss mse --lr 0.003
wait
date

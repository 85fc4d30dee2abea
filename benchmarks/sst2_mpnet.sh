#!/usr/bin/env bash
# SST-2 with the base-size teacher (issue 12): all-mpnet-base-v2 fine-tuned on a lent GPU (an H100), whose
# weights never came back; its soft labels did (benchmarks/softlabels/sst2-mpnet.npz), and every student below
# is distilled from that file alone, on the CPU. This lists the commands of the session that ran it.
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
DATA=../shared/datasets/sst2
SOFT=benchmarks/softlabels/sst2-mpnet.npz
R=benchmarks/results

if [ "${1:-}" = gpu ]; then
  # Here: the GPU machine takes 64 MiB a call and cannot reach the internet, so the base model travels packed
  # (bf16, 150 MB after xz) in three parts, one per call, with the dataset and these scripts in the last.
  $KDEDGE fetch-mpnet --out runs/mpnet-base
  mkdir -p .gpu/base .gpu/sst2 && cp runs/mpnet-base/{config.json,tokenizer*.json,special_tokens_map.json,vocab.txt} .gpu/base/
  cp $DATA/*.jsonl .gpu/sst2/
  .venv/bin/python benchmarks/gpu/pack_weights.py runs/mpnet-base/model.safetensors .gpu/mpnet
  xz -T2 -6 .gpu/mpnet.raw && split -b 50M .gpu/mpnet.raw.xz .gpu/mpnet.part.
  # There, after the parts were gathered in /tmp/w (3 calls; the 10-minute call limit set --max-epochs 3):
  #   cat /tmp/w/mpnet.part.* | xz -d > /tmp/w/mpnet.raw && mkdir -p /tmp/mpnet && cp .gpu/base/* /tmp/mpnet/
  #   python3 benchmarks/gpu/unpack_weights.py /tmp/w/mpnet.raw .gpu/mpnet.json /tmp/mpnet/model.safetensors
  #   PYTHONPATH=toolkit bash benchmarks/gpu/teacher_and_labels.sh /tmp/mpnet .gpu/sst2 mpnet-sst2 3 8 \
  #     2e-5,5e-5,1e-4 $OUT
  # -> $R/teacher-mpnet-sst2.json, $R/labeling-sst2-mpnet-h100.json (the label pass) and $SOFT.
  exit 0
fi

.venv/bin/python benchmarks/compare_teachers.py benchmarks/softlabels/sst2-minilm.npz $SOFT --data $DATA \
  --output $R/teachers-sst2-minilm-vs-mpnet.json
# what a user runs: auto's <= 1M students on the default transfer set (2 augmented copies per text)
OMP_NUM_THREADS=1 $KDEDGE distill --data $DATA --soft-labels $SOFT --student auto --max-params 1000000 --threads 1 \
  --quiet --out runs/sst2-mpnet/auto-1m --output $R/distill/sst2-mpnet-auto-1m.json
# the session-3 BiLSTM recipe (all 13,000 training words, lr 0.003, MSE on logits) on all 8 labelled copies;
# random embeddings: the file holds no teacher word vectors for --init teacher
OMP_NUM_THREADS=1 $KDEDGE distill --data $DATA --soft-labels $SOFT --augment 8 --student bilstm --vocab-size 13000 \
  --loss mse --lr 0.003 --threads 1 --quiet --out runs/sst2-mpnet/bilstm-v13k --output $R/distill/sst2-mpnet-bilstm-v13k.json
# one factor at a time: auto's BiLSTM (default options) on x8 instead of x2 augmentation, and seed 1 of it from
# each teacher (the MiniLM soft labels of the re-made teacher, default transfer set)
OMP_NUM_THREADS=1 $KDEDGE distill --data $DATA --soft-labels $SOFT --augment 8 --student bilstm --threads 1 --quiet \
  --out runs/sst2-mpnet/bilstm-aug8 --output $R/distill/sst2-bilstm-aug8.json
OMP_NUM_THREADS=1 $KDEDGE distill --data $DATA --soft-labels $SOFT --student bilstm --seed 1 --threads 1 --quiet \
  --out runs/sst2-mpnet/bilstm-mpnet-s1 --output $R/distill/sst2-bilstm-mpnet-s1.json
OMP_NUM_THREADS=1 $KDEDGE distill --data $DATA --soft-labels benchmarks/softlabels/sst2-minilm-rerun.npz --student bilstm \
  --seed 1 --threads 1 --quiet --out runs/sst2-mpnet/bilstm-minilm-s1 --output $R/distill/sst2-bilstm-minilm-s1.json

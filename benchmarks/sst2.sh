#!/usr/bin/env bash
# SST-2 (issue 7): the MiniLM teacher, the gold-label baselines and the distilled students (`--student auto`
# trains mlp, cnn and bilstm). SST-2 has no labelled test split: kdedge reports on GLUE's validation set as
# "test" and carves validation out of train by sentence (10% of the sentence groups; see dataset.notes in every
# result). The vocabulary holds every training word (13,161; 13,000 + 1,000 hash buckets), which lifts the
# coverage of test tokens from 93.3% (10,000 words) to 94.9%; the students start from the teacher's word
# vectors (`--init teacher`). Usage: bash benchmarks/sst2.sh   (the teacher is fine-tuned unless
# runs/teacher-minilm-sst2 exists)
set -euo pipefail
cd "$(dirname "$0")/.."
KDEDGE=${KDEDGE:-.venv/bin/kdedge}
DATA=../shared/datasets/sst2
SOFT=benchmarks/softlabels/sst2-minilm.npz
TEACHER=runs/teacher-minilm-sst2
R=benchmarks/results
VOCAB=13000
[ -f $TEACHER/kdedge_teacher.json ] || $KDEDGE teacher --data $DATA --out $TEACHER --epochs 3 --output $R/teacher-minilm-sst2.json --quiet
$KDEDGE baseline tfidf-lr --data $DATA --output $R/baseline-tfidf-lr-sst2.json --quiet
for name in mlp gold-mlp cnn bilstm; do  # the same vocabulary as the distilled students
  $KDEDGE baseline $name --data $DATA --vocab-size $VOCAB --output $R/baseline-$name-sst2.json --quiet
done
$KDEDGE distill --data $DATA --teacher $TEACHER --soft-labels $SOFT --augment 4 --vocab-size $VOCAB --init teacher \
  --student auto --out runs/students/sst2-auto --output $R/distill/final-sst2-auto.json --quiet
# The BiLSTM recipe chosen on validation in session 3, before the vocabulary fix: among lr 0.01 (the auto run
# above: 85.90 then), lr 0.003 (86.77, distill/explore-sst2-bilstm-lr3.json), lr 0.003 + dropout 0.3 (85.90
# after 8 epochs, stopped for time) and lr 0.003 + the MSE loss on logits that Tang et al. used (87.65), the
# last. Re-run after the fix it reached 85.90, below the auto run's BiLSTM (86.34): see benchmarks/README.md.
$KDEDGE distill --data $DATA --teacher $TEACHER --soft-labels $SOFT --augment 4 --vocab-size $VOCAB --init teacher \
  --student bilstm --lr 0.003 --loss mse --out runs/students/sst2-bilstm --output $R/distill/final-sst2-bilstm.json --quiet

# The transformer rungs (issue 12) are cut from the teacher's weights, which the first teacher's run did not keep:
# the same teacher recipe re-made (seed 0, bf16 autocast), the default transfer set (--augment auto) labelled
# once on both cores, then one rung per core (one thread each). The small students' figures come from the
# same transfer set through --student auto limited to 1M parameters.
TEACHER2=runs/sst2/teacher-minilm-sst2
SOFT2=benchmarks/softlabels/sst2-minilm-rerun.npz
[ -f $TEACHER2/kdedge_teacher.json ] || $KDEDGE teacher --data $DATA --out $TEACHER2 --max-epochs 3 --lr 1e-4 --bf16 \
  --seed 0 --output $R/teacher-minilm-sst2-rerun.json --quiet
D2="--data $DATA --teacher $TEACHER2 --soft-labels $SOFT2 --bf16 --seed 0 --quiet"
OMP_NUM_THREADS=1 taskset -c 0 $KDEDGE distill $D2 --student transformer -o "layers=[0,2,3,5]" --threads 1 \
  --out runs/sst2/t4 --output $R/distill/sst2-transformer-4l.json &
OMP_NUM_THREADS=1 taskset -c 1 $KDEDGE distill $D2 --student transformer -o "layers=[0,2,5]" --threads 1 \
  --out runs/sst2/t3 --output $R/distill/sst2-transformer-3l.json
OMP_NUM_THREADS=1 taskset -c 1 $KDEDGE distill $D2 --student auto --max-params 1000000 --threads 1 \
  --out runs/sst2/auto-1m --output $R/distill/sst2-auto-1m.json
wait
for n in t3 t4; do
  $KDEDGE export runs/sst2/$n --out runs/sst2/bundle-$n --data $DATA --quiet
  OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/python benchmarks/student_cost.py runs/sst2/$n runs/sst2/bundle-$n --data $DATA \
    --output $R/student-cost-sst2-transformer-${n#t}l.json
done

"""A transformer rung (the teacher's whole vocabulary) distilled with another schedule than the default 4 epochs
and patience 1: `kdedge distill` has no --patience, so this calls the Python API with the CLI's other defaults.

python benchmarks/rung_schedule.py --data runs/proxy/clinc150-k20 --teacher runs/proxy/t-k20-product \
    --layers 0,2,5 --epochs 8 --patience 2 --out runs/ll/epochs8 \
    --output benchmarks/results/distill/clinc150-k20-transformer-3l-epochs8.json
"""

from __future__ import annotations

import argparse

import torch

from kdedge import distill as lib
from kdedge.data import load_dataset
from kdedge.results import write_json
from kdedge.teacher import default_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--layers", required=True, help="the teacher's layers to keep, e.g. 0,2,5")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--patience", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = {"vocab": "teacher", "layers": [int(i) for i in args.layers.split(",")]}
    config = lib.StudentConfig.for_architecture(
        "transformer", options=options, epochs=args.epochs, patience=args.patience, seed=args.seed
    )
    dataset = load_dataset(args.data)
    result = lib.distill(dataset, args.out, args.teacher, config, bf16=default_bf16("cpu"), log=print)
    write_json(args.output, result)


if __name__ == "__main__":
    main()

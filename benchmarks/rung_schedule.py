"""A transformer rung (the teacher's whole vocabulary) distilled with another schedule than the default 4 epochs
and patience 1: `kdedge distill` has no --patience, so this calls the Python API with the CLI's other defaults.

python benchmarks/rung_schedule.py --data runs/proxy/clinc150-k20 --teacher runs/proxy/t-k20-product \
    --layers 0,2,5 --epochs 8 --patience 2 --out runs/ll/epochs8 \
    --output benchmarks/results/distill/clinc150-k20-transformer-3l-epochs8.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from kdedge import distill as lib
from kdedge.data import load_dataset
from kdedge.errors import KdedgeError
from kdedge.results import write_json
from kdedge.teacher import default_bf16


def layer_list(text: str) -> list[int]:
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected the teacher's layer numbers, e.g. 0,2,5") from None


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number above 0")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--layers", type=layer_list, required=True, help="the teacher's layers to keep, e.g. 0,2,5")
    parser.add_argument("--epochs", type=positive, required=True)
    parser.add_argument("--patience", type=positive, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    for path in (args.out, args.output):
        if Path(path).exists():
            parser.error(f"{path} exists")  # distill refuses an existing --out; nothing is overwritten
    torch.set_num_threads(1)
    options = {"vocab": "teacher", "layers": args.layers}
    config = lib.StudentConfig.for_architecture(
        "transformer", options=options, epochs=args.epochs, patience=args.patience, seed=args.seed
    )
    try:
        dataset = load_dataset(args.data)
        result = lib.distill(dataset, args.out, args.teacher, config, bf16=default_bf16("cpu"), log=print)
    except KdedgeError as err:  # bad data, teacher or layers: one line, as the CLI says it
        parser.exit(1, f"Error: {err}\n")
    write_json(args.output, result)


if __name__ == "__main__":
    main()

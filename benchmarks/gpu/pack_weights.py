"""Pack a model.safetensors for a machine reached only through a small upload (the lent GPU machine takes
64 MiB a call and has no internet): bf16 values, high bytes stored apart from low bytes (xz then compresses
all-mpnet-base-v2 from 438 MB to 150 MB), split into parts that each fit one call.

    python benchmarks/gpu/pack_weights.py runs/mpnet-base/model.safetensors .gpu/mpnet
    xz -T2 -6 .gpu/mpnet.raw; split -b 50M .gpu/mpnet.raw.xz .gpu/mpnet.part.

bf16 rounds each weight by at most 0.4% of its value; the teacher is then fine-tuned from these weights in bf16
autocast anyway. unpack_weights.py turns the parts back into a model.safetensors (float32)."""

import json
import sys

import numpy as np
import torch
from safetensors.torch import load_file


def main(source: str, prefix: str) -> None:
    tensors = load_file(source)
    meta, highs, lows, offset = {}, [], [], 0
    for name, tensor in tensors.items():
        pairs = tensor.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint8).reshape(-1, 2)
        meta[name] = [list(tensor.shape), offset, pairs.shape[0], str(tensor.dtype)]
        offset += pairs.shape[0]
        lows.append(pairs[:, 0].copy())
        highs.append(pairs[:, 1].copy())
    with open(prefix + ".json", "w") as f:
        json.dump(meta, f)
    np.concatenate(highs + lows).tofile(prefix + ".raw")


if __name__ == "__main__":
    main(*sys.argv[1:3])

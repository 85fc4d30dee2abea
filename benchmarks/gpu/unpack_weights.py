"""Rebuild a float32 model.safetensors from pack_weights.py's output (the .raw file, decompressed).

cat .gpu/mpnet.part.* | xz -d > /tmp/mpnet.raw
python benchmarks/gpu/unpack_weights.py /tmp/mpnet.raw .gpu/mpnet.json /tmp/mpnet/model.safetensors"""

import json
import sys

import numpy as np
import torch
from safetensors.torch import save_file


def main(raw: str, meta_file: str, out: str) -> None:
    with open(meta_file) as f:
        meta = json.load(f)
    data = np.fromfile(raw, dtype=np.uint8)
    highs, lows = data[: data.size // 2], data[data.size // 2 :]
    tensors = {}
    for name, (shape, offset, count, dtype) in meta.items():
        if dtype == "torch.int64":  # position_ids, 0..n-1: bf16 cannot hold it exactly, and it is not learnt
            tensors[name] = torch.arange(count).reshape(shape)
            continue
        pairs = np.empty((count, 2), dtype=np.uint8)
        pairs[:, 0], pairs[:, 1] = lows[offset : offset + count], highs[offset : offset + count]
        values = torch.from_numpy(pairs.reshape(-1).view(np.int16).copy()).view(torch.bfloat16)
        tensors[name] = values.float().reshape(shape)
    save_file(tensors, out, metadata={"format": "pt"})


if __name__ == "__main__":
    main(*sys.argv[1:4])

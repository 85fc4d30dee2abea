"""Throwaway probe: the default teacher with a masked-mean pooler instead of BERT's CLS pooler (same recipe)."""

import json
import sys

import torch

import kdedge.teacher as kt
from kdedge.data import load_dataset

original = kt.load_classifier


class MeanPooler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, hidden_states):
        mask = self.mask.unsqueeze(-1).to(hidden_states.dtype)
        return (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1)


def patched(path, **options):
    model = original(path, **options)
    pooler = MeanPooler()
    model.bert.pooler = pooler

    def keep_mask(module, args, kwargs):
        pooler.mask = kwargs["attention_mask"]

    model.bert.register_forward_pre_hook(keep_mask, with_kwargs=True)
    return model


kt.load_classifier = patched
torch.set_num_threads(1)
dataset = load_dataset(sys.argv[1])
result = kt.fine_tune(dataset, out=sys.argv[2], lr=1e-4, epochs=10, patience=2, bf16=False, progress=False, seed=0)
with open(sys.argv[3], "w") as out:
    json.dump({k: result[k] for k in ("accuracy", "selection")}, out, indent=1, default=str)
print(result["accuracy"], result["selection"]["history"])

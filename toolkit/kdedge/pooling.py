"""How a teacher (and a transformer student cut from it) turns its last hidden states into the one vector its
classification head reads.

- "cls": the model's own head as Hugging Face builds it: BERT's pooler over the [CLS] token, MPNet's and
  RoBERTa's head over the first token.
- "mean": the masked mean of the last hidden states, then the same head. Sentence-transformers checkpoints
  (all-MiniLM-L6-v2, all-mpnet-base-v2) were trained to be read this way, so the fine-tuning starts from their
  sentence representation instead of a first token nothing trained them to fill: on few texts per class it
  learns in a few epochs what the [CLS] head had not learnt in ten (benchmarks/README.md, "Teacher pooling").
- "auto": "mean" where the base model says it was pooled by mean (a sentence-transformers `modules.json` with
  such a Pooling module), else "cls".
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .errors import KdedgeError

POOLINGS = ("auto", "cls", "mean")


def declared_pooling(base_model: str | Path) -> str:
    """Mean pooling ("mean") when `base_model` (a folder or hub id) is a sentence-transformers checkpoint whose Pooling
    module takes the mean of the tokens, else "cls"."""
    from transformers.utils import cached_file

    def read(name: str) -> dict | list | None:
        try:
            found = cached_file(str(base_model), name, _raise_exceptions_for_missing_entries=False)
        except (OSError, ValueError):  # an unreachable hub: the model's own head
            return None
        return json.loads(Path(found).read_text(encoding="utf-8")) if found else None

    modules = read("modules.json")
    if not isinstance(modules, list):
        return "cls"
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Pooling"):
            config = read(f"{module.get('path') or ''}/config.json".lstrip("/"))
            if isinstance(config, dict) and config.get("pooling_mode_mean_tokens"):
                return "mean"
    return "cls"


def can_mean_pool(model: nn.Module) -> bool:
    """The head is one this module knows how to feed a pooled vector: BERT's (dropout and a linear layer after
    the pooler) or RoBERTa's / MPNet's (a head that reads the first position of a sequence)."""
    head = getattr(model, "classifier", None)
    bert_like = isinstance(head, nn.Linear) and hasattr(model, "dropout") and hasattr(model.base_model, "pooler")
    return bert_like or hasattr(head, "out_proj")


def check_pooling(choice: str) -> None:
    """Fail in one line unless `choice` is one of POOLINGS (before any model is loaded)."""
    if choice not in POOLINGS:
        raise KdedgeError(f"pooling {choice!r}: expected one of {', '.join(POOLINGS)}")


def resolve_pooling(choice: str, base_model: str | Path, model: nn.Module) -> str:
    """The pooling, "cls" or "mean", for a `--pooling` choice (checked by `check_pooling`) and the loaded
    classifier."""
    if choice == "auto":
        return "mean" if declared_pooling(base_model) == "mean" and can_mean_pool(model) else "cls"
    return choice  # an explicit "mean" the head cannot take fails in MeanPooled


def mean_pooled_logits(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs: torch.Tensor | None
) -> torch.Tensor:
    """The classifier's logits with its head reading the masked mean of the last hidden states."""
    states = model.base_model(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
    head = model.classifier
    if isinstance(head, nn.Linear):  # BERT: dropout and a linear layer where the [CLS] pooler's output went
        return head(model.dropout(pooled))
    return head(pooled.unsqueeze(1))  # RoBERTa / MPNet: the head reads position 0 of what it is given


class MeanPooled(nn.Module):
    """A Hugging Face sequence classifier read through `mean_pooled_logits`; it saves as the plain classifier
    (the pooling is recorded beside it, in the teacher's kdedge_teacher.json)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not can_mean_pool(model):
            raise KdedgeError(f"mean pooling needs a BERT- or RoBERTa-style head, not {type(model).__name__}")
        self.model = model

    @property
    def config(self):
        return self.model.config

    @property
    def base_model(self) -> nn.Module:
        return self.model.base_model

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def save_pretrained(self, folder: str | Path) -> None:
        self.model.save_pretrained(folder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **inputs: torch.Tensor):
        from transformers.modeling_outputs import SequenceClassifierOutput

        return SequenceClassifierOutput(logits=mean_pooled_logits(self.model, input_ids, attention_mask, **inputs))


def pooled(model: nn.Module, pooling: str) -> nn.Module:
    """The classifier read with `pooling` ("cls": as it is)."""
    return MeanPooled(model) if pooling == "mean" else model

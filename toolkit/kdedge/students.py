"""Tiny student models, the `Student` wrapper (save/load/predict) and the one training loop they share.

Every architecture takes a batch of word ids (0 = padding) and returns logits. They avoid `EmbeddingBag` and
data-dependent Python control flow so that they export to ONNX and OpenVINO unchanged.
"""

from __future__ import annotations

import inspect
import json
import math
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .errors import BundleError
from .results import atomic_folder
from .runtime import softmax
from .text import PAD_ID, TOKENIZER_FILE, Vocabulary
from .transformer_student import TransformerStudent

FORMAT_VERSION = 2  # 2: the tokenizer is tokenizer.json (Hugging Face tokenizers), no longer vocab.json
NEG = -1e4  # a large negative score: masks padding without the NaNs that -inf gives for empty texts


def _mask(ids: torch.Tensor) -> torch.Tensor:
    return (ids != PAD_ID).unsqueeze(-1).to(torch.float32)


class MLPStudent(nn.Module):
    """Word embeddings, a pooling over the words of a text, then a linear layer (the reference's 80K student).

    `pooling`:
    - "mean": masked mean, as in the reference;
    - "attention": a learned score per word, softmaxed over the text's words, so a few emotion-bearing words
      can dominate;
    - "context": attention whose score also sees the neighbouring words (a width-3 convolution over the
      embeddings, 49 parameters at dim 16; `window` sets the width), so "feel *X*" can make X count: in
      Emotion the word after "feel" carries the label, which no bag of words can tell.
    - "recurrent": attention whose score comes from a small forward GRU over the words (`rnn_hidden` units,
      657 parameters at dim 16 and 8 units), so a word's weight can depend on everything before it ("the first
      emotion word after *feel*"); the pooled vector is still a weighted bag of word embeddings.
    `heads` > 1 pools several times with separate scores (each head can watch other words) and concatenates.
    `hidden` > 0 adds one ReLU layer.
    """

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        dim: int = 16,
        pooling: str = "mean",
        hidden: int = 0,
        dropout: float = 0.0,
        heads: int = 1,
        window: int = 3,
        rnn_hidden: int = 8,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "attention", "context", "recurrent"):
            raise ValueError(f"unknown pooling {pooling!r}")
        self.pooling = pooling
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        if pooling == "mean" and heads != 1:
            raise ValueError("mean pooling has one head")
        if pooling == "attention":
            self.score = nn.Conv1d(dim, heads, 1)
        elif pooling == "context":
            if window % 2 == 0:
                raise ValueError("the context window is odd (the word and as many neighbours on each side)")
            self.score = nn.Conv1d(dim, heads, window, padding=window // 2)
        elif pooling == "recurrent":
            self.score = _RecurrentScore(dim, rnn_hidden, heads)
        else:
            self.score = None
        self.dropout = nn.Dropout(dropout)
        width = dim * heads
        layers: list[nn.Module] = [nn.Linear(width, hidden), nn.ReLU()] if hidden else []
        self.head = nn.Sequential(*layers, nn.Linear(hidden or width, num_labels))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = _mask(ids)
        emb = self.dropout(self.embedding(ids))
        if self.score is None:
            pooled = (emb * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        else:
            scores = self.score(emb.transpose(1, 2)).transpose(1, 2) * mask + NEG * (1.0 - mask)  # (B, L, heads)
            weights = torch.softmax(scores, dim=1) * mask
            pooled = torch.einsum("blh,bld->bhd", weights, emb).flatten(1)  # (B, heads * dim)
        return self.head(pooled)


class _RecurrentScore(nn.Module):
    """Per-word attention scores from a forward GRU, with `nn.Conv1d`'s layout: (B, dim, L) -> (B, heads, L).

    Texts are right-padded, so a word's state never sees padding."""

    def __init__(self, dim: int, hidden: int, heads: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, heads)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(emb.transpose(1, 2))
        return self.out(states).transpose(1, 2)


def _masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over the words of each text; an empty text pools to zeros.

    Shifted by each text's minimum so that padding can be zeroed instead of pushed to a large negative
    constant: every intermediate then stays within the features' own range, which int8 activations with one
    scale per tensor can hold (a -1e4 fill made OpenVINO's full int8 answer the same for every text)."""
    low = values.min(dim=1, keepdim=True).values
    pooled = ((values - low) * mask).max(dim=1).values + low.squeeze(1)
    return pooled * (mask.sum(1) > 0).to(values.dtype)


class CNNStudent(nn.Module):
    """Word embeddings, one 1-D convolution (n-gram detectors), ReLU, max over the words, linear layer.

    Sees short-range word order (negation, "not happy") at a small cost."""

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        dim: int = 64,
        filters: int = 128,
        kernel: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(dim, filters, kernel, padding=kernel // 2)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(filters, num_labels)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = _mask(ids)
        emb = self.dropout(self.embedding(ids))
        features = torch.relu(self.conv(emb.transpose(1, 2))).transpose(1, 2)
        return self.head(self.dropout(_masked_max(features, mask)))


class BiLSTMStudent(nn.Module):
    """Word embeddings, a bidirectional LSTM, max over the words, linear layer (Tang et al.'s student).

    The backward direction runs a forward LSTM over each text reversed within its own length, so padding
    never enters a text's state: the answer for a text is the same alone or in any batch, and the graph
    exports without packed sequences."""

    def __init__(self, vocab_size: int, num_labels: int, dim: int = 64, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.forward_lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, num_labels)

    @staticmethod
    def _reverse(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Reverse each row's first `length` ids, keep padding at the right (an involution)."""
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        source = lengths.unsqueeze(1) - 1 - positions
        valid = source >= 0
        return torch.gather(ids, 1, source.clamp(min=0)) * valid.to(ids.dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = _mask(ids)
        lengths = (ids != PAD_ID).sum(1)
        reversed_ids = self._reverse(ids, lengths)
        forward_out, _ = self.forward_lstm(self.dropout(self.embedding(ids)))
        backward_out, _ = self.backward_lstm(self.dropout(self.embedding(reversed_ids)))
        # no need to restore the word order of the backward states: max pooling is per channel over the words
        features = torch.cat([forward_out, backward_out], dim=-1)
        return self.head(self.dropout(_masked_max(features, mask)))


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "mlp": MLPStudent,
    "cnn": CNNStudent,
    "bilstm": BiLSTMStudent,
    "transformer": TransformerStudent,  # made from a teacher folder: transformer_student.from_teacher
}


def build(architecture: str, vocab_size: int, num_labels: int, **options) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown student {architecture!r} (choose from {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[architecture](vocab_size, num_labels, **options)


def check_options(architecture: str, options: dict) -> None:
    """Raise ValueError (one line) unless `options` are valid for the student, before any work starts.

    Names and types come from the student's constructor; sizes must be positive (`hidden` may be 0: no
    hidden layer), `dropout` a probability; then a tiny model is built, which catches the rest."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown student {architecture!r} (choose from {', '.join(ARCHITECTURES)})")
    if architecture == "transformer":  # its config comes from the teacher; the layers are checked against it
        for key in options:
            if key not in ("layers", "vocab"):
                raise ValueError(
                    f"transformer has no option {key!r} (it has layers, e.g. layers=[0,5], and vocab=task|teacher)"
                )
        return
    parameters = dict(list(inspect.signature(ARCHITECTURES[architecture]).parameters.items())[2:])
    for key, value in options.items():
        if key not in parameters:
            raise ValueError(f"{architecture} has no option {key!r} (it has {', '.join(parameters)})")
        default = parameters[key].default
        kind = float if isinstance(default, float) else type(default)
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
            raise ValueError(f"option {key}={value!r}: expected {kind.__name__}")
        if key == "dropout" and not 0 <= value < 1:
            raise ValueError(f"option dropout={value!r}: expected a probability in [0, 1)")
        if kind is int and value < (0 if key == "hidden" else 1):
            raise ValueError(
                f"option {key}={value!r}: expected a {'non-negative' if key == 'hidden' else 'positive'} int"
            )
    build(architecture, 8, 2, **options)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Student:
    """A trained student with its vocabulary and label names: what `kdedge export` takes.

    Saved as a folder: `config.json` (architecture, options, labels), `tokenizer.json`, `model.safetensors`.
    """

    def __init__(
        self, model: nn.Module, vocab: Vocabulary, label_names: Sequence[str], architecture: str, options: dict
    ) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.label_names = list(label_names)
        self.architecture = architecture
        self.options = dict(options)

    @classmethod
    def create(
        cls, architecture: str, vocab: Vocabulary, label_names: Sequence[str], /, seed: int = 0, **options
    ) -> Student:
        """A new, randomly initialised student; `seed` fixes the initial weights (reproducible runs). Positional
        arguments first: a transformer student has an option named `vocab`."""
        with torch.random.fork_rng():  # leave the caller's random state alone
            torch.manual_seed(seed)
            model = build(architecture, len(vocab), len(label_names), **options)
        return cls(model, vocab, label_names, architecture, options)

    @property
    def params(self) -> int:
        return count_params(self.model)

    @torch.inference_mode()
    def logits(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        self.model.eval()
        out = [
            self.model(torch.from_numpy(self.vocab.encode(texts[i : i + batch_size]))).numpy()
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.label_names)), dtype=np.float32)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        return softmax(self.logits(texts, batch_size))

    def predict(self, texts: Sequence[str], batch_size: int = 1024) -> list[str]:
        return [self.label_names[i] for i in self.logits(texts, batch_size).argmax(axis=1)]

    def save_pretrained(self, path: str | Path, force: bool = False) -> None:
        from safetensors.torch import save_file

        config = {
            "format_version": FORMAT_VERSION,
            "architecture": self.architecture,
            "options": self.options,
            "label_names": self.label_names,
            "params": self.params,
        }
        with atomic_folder(path, force=force) as tmp:
            (tmp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
            self.vocab.save(tmp / TOKENIZER_FILE)
            save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(tmp / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> Student:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            version = config.get("format_version")
            if version != FORMAT_VERSION:
                hint = " (its own vocab.json tokenizer): re-make it with `kdedge distill`" if version == 1 else ""
                raise BundleError(f"{path}: student format {version!r}, this kdedge reads {FORMAT_VERSION}{hint}")
            vocab = Vocabulary.load(path / TOKENIZER_FILE)
            student = cls.create(config["architecture"], vocab, config["label_names"], **config["options"])
            student.model.load_state_dict(load_file(str(path / "model.safetensors")))
        except BundleError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
            raise BundleError(f"{path}: not a loadable kdedge student ({type(err).__name__}: {err})") from None
        student.model.eval()
        return student


def distillation_loss(
    student_logits: torch.Tensor, targets: torch.Tensor, loss: str, temperature: float = 1.0
) -> torch.Tensor:
    """The training loss: "ce" on gold labels, "kl" (teacher soft labels, Hinton's T^2 scaling) or "mse" on logits."""
    if loss == "ce":
        return nn.functional.cross_entropy(student_logits, targets)
    if loss == "mse":
        return nn.functional.mse_loss(student_logits, targets)
    if loss == "kl":
        t = temperature
        log_p = nn.functional.log_softmax(student_logits / t, dim=-1)
        log_q = nn.functional.log_softmax(targets / t, dim=-1)
        return nn.functional.kl_div(log_p, log_q, log_target=True, reduction="batchmean") * t * t
    raise ValueError(f"unknown loss {loss!r} (ce, kl or mse)")


def length_buckets(lengths: Sequence[int], batch_size: int, rng: random.Random | None) -> list[list[int]]:
    """Batches of similar length, so dynamic padding wastes little compute.

    With `rng`, texts are shuffled, sorted by length within chunks of 50 batches and the batches shuffled
    (training); without it, all texts are sorted by length (inference).
    """
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


class ArrayData:
    """Training examples held in memory: ids (n, length) and targets; an epoch is a seeded permutation."""

    def __init__(self, ids: np.ndarray, targets: np.ndarray, by_length: bool = False) -> None:
        self.x = torch.from_numpy(ids)
        self.y = torch.from_numpy(targets)
        self.by_length = by_length

    def __len__(self) -> int:
        return len(self.x)

    def epoch(self, generator: torch.Generator, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for index in epoch_batches(self.x, generator, batch_size, self.by_length):
            yield self.x[index], self.y[index]


def epoch_batches(
    ids: torch.Tensor, generator: torch.Generator, batch_size: int, by_length: bool
) -> Iterator[torch.Tensor]:
    """One epoch's batches of row numbers: a seeded permutation, or with `by_length` seeded batches of texts of
    similar length (`length_buckets`), which `fit` trims to their longest text: a transformer then spends its
    time on words, not padding (2.4x fewer columns on short-text data)."""
    if not by_length:
        order = torch.randperm(len(ids), generator=generator)
        yield from (order[start : start + batch_size] for start in range(0, len(ids), batch_size))
        return
    rng = random.Random(int(torch.randint(2**31, (1,), generator=generator)))
    yield from map(torch.tensor, length_buckets((ids != PAD_ID).sum(1).tolist(), batch_size, rng))


def fit(
    model: nn.Module,
    train_ids: np.ndarray | ArrayData | StreamData,
    targets: np.ndarray | None,
    val_ids: np.ndarray,
    val_labels: np.ndarray,
    *,
    loss: str = "ce",
    temperature: float = 1.0,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    patience: int = 4,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
    by_length: bool = False,
    device: str = "cpu",
) -> dict:
    """Train with Adam and a cosine schedule, keep the epoch with the best validation accuracy.

    `targets` are gold label ids for loss "ce", teacher logits (n, labels) for "kl" and "mse". The examples are
    arrays (`train_ids`, `targets`) or a data source with `__len__` and `epoch(generator, batch_size)` (targets
    None), such as `StreamData`, which reads a corpus's soft labels from disk in bounded memory. `by_length`
    batches array examples by text length (`epoch_batches`). `device` is where the training runs ("cuda": a GPU);
    the model ends on the CPU either way, where a student runs.
    Returns the training history and the best epoch; the model ends with the best epoch's weights.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = ArrayData(train_ids, targets, by_length) if isinstance(train_ids, np.ndarray) else train_ids
    x_val = torch.from_numpy(val_ids)
    model.to(device)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / (epochs * steps_per_epoch), 1.0)))
    )
    best = {"val_accuracy": -1.0, "epoch": 0}
    best_state = _cpu_copy(model)
    history = []
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        total = 0.0
        for x, y in data.epoch(generator, batch_size):
            x, y = x.to(device), y.to(device)
            value = distillation_loss(model(_trim(x)), y, loss, temperature)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            scheduler.step()
            total += value.item() * len(x)
        accuracy = float((predict_ids(model, x_val) == val_labels).mean())
        history.append({"epoch": epoch, "loss": total / len(data), "val_accuracy": accuracy})
        if accuracy > best["val_accuracy"]:
            best = {"val_accuracy": accuracy, "epoch": epoch}
            best_state = _cpu_copy(model)
        bar.set_postfix(loss=f"{total / len(data):.4f}", val_acc=f"{accuracy:.4f}", best=f"{best['val_accuracy']:.4f}")
        if epoch - best["epoch"] >= patience:
            break
    model.to("cpu").load_state_dict(best_state)
    model.eval()
    return {"best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"], "history": history}


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights, copied to the CPU (a GPU's memory then holds one copy, the live one)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _trim(ids: torch.Tensor) -> torch.Tensor:
    """Drop all-padding columns at the right: a batch costs what its longest text needs."""
    width = int((ids != PAD_ID).sum(1).max().clamp(min=1))
    return ids[:, :width]


@torch.inference_mode()
def predict_ids(model: nn.Module, ids: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """Predicted label ids, computed where the model is."""
    model.eval()
    device = next(model.parameters()).device
    return np.concatenate(
        [
            model(_trim(ids[i : i + batch_size].to(device))).argmax(1).cpu().numpy()
            for i in range(0, len(ids), batch_size)
        ]
    )


class StreamData:
    """Training examples that need not fit in memory: pieces of (texts, teacher logits), each loaded when an
    epoch reaches it (a soft-label shard read from disk, or a slice of an in-memory list). An epoch visits the
    pieces in a seeded random order and each piece in seeded batches (`epoch_batches`), so memory holds one piece
    at a time whatever the corpus size."""

    def __init__(
        self,
        vocab: Vocabulary,
        pieces: Sequence[Callable[[], tuple[list[str], np.ndarray]]],
        size: int,
        by_length: bool = False,
    ):
        self.vocab = vocab
        self.pieces = list(pieces)
        self.size = size
        self.by_length = by_length

    def __len__(self) -> int:
        return self.size

    def epoch(self, generator: torch.Generator, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for piece in torch.randperm(len(self.pieces), generator=generator).tolist():
            texts, logits = self.pieces[piece]()
            if not texts:
                continue
            ids = torch.from_numpy(self.vocab.encode(texts, pad_to="max"))
            targets = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
            for index in epoch_batches(ids, generator, batch_size, self.by_length):
                yield ids[index], targets[index]

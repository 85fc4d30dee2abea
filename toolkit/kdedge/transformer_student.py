"""The transformer student: the fine-tuned teacher itself, cut down, as the largest rung of the student ladder.

Made as DistilBERT initialises its student: keep some of the teacher's layers (by default the first and the
last), with the teacher's own embeddings, pooler (unless it reads the mean of the tokens), classification head
and pooling, then distil it on the transfer set like every other student. By default it keeps the teacher's whole
vocabulary, so every text is split into the pieces the teacher reads. With `vocab="task"` the vocabulary is
pruned to the task, a smaller model: the teacher's tokenizer is run over the transfer texts and only the tokens
that occur are kept, with the special tokens and every single-character piece ("x" and "##x"), so an unseen word
still splits into pieces instead of becoming unknown. WordPiece matches the longest known piece first, and every
piece the teacher's tokenizer gives on a transfer text is kept, so the pruned tokenizer splits those texts
exactly as the teacher's does; a word no transfer text had is split into other pieces than the teacher's, which
costs accuracy where the transfer set is small (benchmarks/README.md, "The vocabulary of a transformer rung").

The tokenizer is a `tokenizers` tokenizer.json like every student's (the teacher's normalizer and
pre-tokenizer), with padding at id 0 and the unknown token at id 1 as kdedge's runtime expects. The model
takes only the padded id batch: it adds the teacher's [CLS] and [SEP] itself and computes its attention mask
from ids != 0, so the exported graph runs in the same runtimes as the other students, unchanged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from .augment import MASK
from .errors import KdedgeError
from .pooling import mean_pooled_logits
from .text import PAD, PAD_ID, UNK, Vocabulary, sanitize

# The teacher families a student can be cut from: WordPiece vocabularies, layers under `.layer.N.`. MPNet (as
# RoBERTa) numbers positions from its padding id, which pruning moves to 0: the student gives its position ids
# explicitly, from the teacher's padding id (TransformerStudent.position_ids).
SUPPORTED = ("bert", "mpnet")
POSITIONS_FROM_PADDING = ("mpnet",)


class TransformerStudent(nn.Module):
    """A Hugging Face sequence classifier built from `config` (the teacher's, with fewer layers and the pruned
    vocabulary) that takes the padded id batch alone: the attention mask is ids != padding.

    The teacher's template tokens ([CLS] before a text, [SEP] after it: `prefix`, `suffix`) are added inside
    the model, not by the tokenizer, so every runtime feeds it the plain word-piece ids it feeds any student
    (the JavaScript runtime encodes without special tokens and truncates by slicing)."""

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        config: dict | None = None,
        layers: list | None = None,
        prefix: list | None = None,
        suffix: list | None = None,
        position_offset: int | None = None,
        pooling: str = "cls",
        vocab: str = "task",  # students saved before the choice existed were pruned
    ):
        from transformers import AutoConfig, AutoModelForSequenceClassification

        super().__init__()
        if not isinstance(config, dict) or config.get("model_type") not in SUPPORTED:
            raise ValueError(
                f"the transformer student is made from a teacher folder of type {' or '.join(SUPPORTED)}; "
                "its config comes from the teacher"
            )
        self.layers = list(layers or [])
        self.prefix = list(prefix or [])
        self.suffix = list(suffix or [])
        self.position_offset = position_offset
        if pooling not in ("cls", "mean"):
            raise ValueError(f"transformer option pooling={pooling!r}: expected cls or mean (the teacher's)")
        self.pooling = pooling  # the teacher's (kdedge.pooling)
        self.vocab = vocab  # which tokens the tokenizer kept (VOCABULARIES); recorded, the model reads any
        settings = {k: v for k, v in config.items() if k not in ("model_type", "id2label", "label2id")}
        settings.update(vocab_size=vocab_size, num_labels=num_labels, pad_token_id=PAD_ID)
        if self.layers:
            settings["num_hidden_layers"] = len(self.layers)
        # eager attention: the additive mask is an ordinary tensor op in the exported graph
        hf_config = AutoConfig.for_model(config["model_type"], **settings)
        self.model = AutoModelForSequenceClassification.from_config(hf_config, attn_implementation="eager")
        if pooling == "mean" and getattr(self.model.base_model, "pooler", None) is not None:
            # the mean-pooled head never reads BERT's [CLS] pooler: no weights stored, no work done for it (torch
            # skips a saved pooler's weights when loading, so a rung saved with them still loads)
            self.model.base_model.pooler = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = self.wrap(ids)
        mask = (ids != PAD_ID).to(torch.int64)
        if self.pooling == "mean":
            return mean_pooled_logits(self.model, ids, mask, position_ids=self.position_ids(mask))
        return self.model(input_ids=ids, attention_mask=mask, position_ids=self.position_ids(mask)).logits

    def position_ids(self, mask: torch.Tensor) -> torch.Tensor | None:
        """None (the model's own 0, 1, 2, ...), or for teachers that count positions from their padding id the
        teacher's numbering: offset + 1, offset + 2, ... for tokens and the offset itself for padding."""
        if self.position_offset is None:
            return None
        return torch.cumsum(mask, dim=1) * mask + self.position_offset

    def wrap(self, ids: torch.Tensor) -> torch.Tensor:
        """Right-padded ids -> prefix + ids + suffix + padding, row by row (plain tensor ops: exportable)."""
        if not (self.prefix or self.suffix):
            return ids
        lengths = (ids != PAD_ID).sum(1, keepdim=True)
        column = torch.zeros_like(ids[:, :1])
        ids = torch.cat([*(column + i for i in self.prefix), ids, *(column for _ in self.suffix)], dim=1)
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        for k, token in enumerate(self.suffix):
            ids = torch.where(positions == lengths + len(self.prefix) + k, torch.full_like(ids, token), ids)
        return ids


# The depths `--student auto` tries, shallowest first (each at most the teacher's own depth). Chosen on CLINC150
# validation (MiniLM teacher, 95.93): 2 layers 94.37, 3 layers 94.83, 4 layers 94.97, the first within the
# default 1-point tolerance (benchmarks/README.md, "Transformer student").
LADDER_DEPTHS = (2, 3, 4)

# Which of the teacher's tokens a student keeps: "teacher", all of them, so the student splits every text as the
# teacher does, for the teacher's embedding rows (11.7M parameters for MiniLM's 30,522 x 384); "task", those
# the transfer texts use (plus every single character, so any word still spells out).
VOCABULARIES = ("teacher", "task")


def spread_layers(count: int, keep: int) -> list[int]:
    """`keep` of a teacher's `count` layers, spread evenly, the first and the last always among them."""
    if keep >= count:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(1, keep - 1)) for i in range(keep)})


def default_layers(count: int) -> list[int]:
    """The first and the last layer (the teacher's only layer if it has one)."""
    return spread_layers(count, 2)


def ladder(teacher_dir: str | Path) -> list[list[int]]:
    """The layer lists of `--student auto`'s transformer rungs for this teacher folder (LADDER_DEPTHS)."""
    count = json.loads((Path(teacher_dir) / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"]
    rungs = [spread_layers(count, depth) for depth in LADDER_DEPTHS]
    return [layers for i, layers in enumerate(rungs) if layers not in rungs[:i]]


def check_vocab(vocab: object) -> str:
    if vocab not in VOCABULARIES:
        raise KdedgeError(f"transformer option vocab={vocab!r}: expected one of {', '.join(VOCABULARIES)}")
    return vocab


def check_layers(layers: object, count: int) -> list[int]:
    if not (
        isinstance(layers, list)
        and layers
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count for i in layers)
        and layers == sorted(set(layers))
    ):
        raise KdedgeError(
            f"transformer option layers={layers!r}: expected increasing layer numbers of the teacher, "
            f"0 to {count - 1} (e.g. layers=[0,{count - 1}])"
        )
    return layers


def check_teacher(teacher_dir: str | Path | None, options: dict) -> None:
    """Fail in one line, before any work, unless a transformer student can be made from `teacher_dir` with
    `options` (reads the teacher's config only)."""
    from .teacher import TEACHER_FILE

    if teacher_dir is None:
        raise KdedgeError("the transformer student is made from the teacher: pass --teacher (its folder)")
    teacher_dir = Path(teacher_dir)
    if not (teacher_dir / TEACHER_FILE).is_file():
        raise KdedgeError(
            f"{teacher_dir}: not a kdedge teacher folder (no {TEACHER_FILE}; make one with `kdedge teacher`)"
        )
    config = json.loads((teacher_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") not in SUPPORTED:
        raise KdedgeError(
            f"{teacher_dir}: the transformer student is made from a {' or '.join(SUPPORTED)} teacher, "
            f"not {config.get('model_type')}"
        )
    if "layers" in options:
        check_layers(options["layers"], config["num_hidden_layers"])
    if "vocab" in options:
        check_vocab(options["vocab"])


def prune_vocabulary(
    teacher_tokenizer: Path, texts: Iterable[str], pad_id: int, max_length: int, keep_all: bool = False
) -> tuple:
    """The teacher's tokenizer.json cut down to the tokens `texts` use, the special tokens and every
    single-character piece (`keep_all`: every token, renumbered the same way). Returns the Vocabulary (no
    special tokens added to a text), the teacher ids of its rows in order, and the ids the teacher's template
    puts before and after a text.

    Padding becomes "<pad>" at id 0 and the unknown token "<unk>" at id 1, as kdedge's runtime expects; an
    "<unk>" in a text (augmentation's mask) is the unknown id, as in every student's tokenizer."""
    from tokenizers import Tokenizer

    spec = json.loads(teacher_tokenizer.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") != "WordPiece":
        raise KdedgeError(
            f"{teacher_tokenizer}: vocabulary pruning needs a WordPiece tokenizer, not {model.get('type')}"
        )
    full = Tokenizer.from_str(json.dumps(spec))
    full.no_truncation()
    full.no_padding()
    vocab: dict[str, int] = model["vocab"]
    unk_id = vocab[model["unk_token"]]
    prefix = model.get("continuing_subword_prefix", "##")
    special = [t["id"] for t in spec.get("added_tokens", []) if t.get("special")]
    used: set[int] = set()
    batch: list[str] = []

    def count() -> None:
        for encoding in full.encode_batch_fast(batch, add_special_tokens=False):
            used.update(encoding.ids)
        batch.clear()

    if keep_all:
        used.update(vocab.values())
    else:
        for text in texts:
            batch.append(sanitize(text).replace(MASK, " "))
            if len(batch) == 4096:
                count()
        count()
    single = {i for token, i in vocab.items() if len(token.removeprefix(prefix)) == 1}
    # A teacher may hold a second token of either name: all-mpnet-base-v2 has a special "<unk>" beside the
    # "[UNK]" its WordPiece gives. It would clash with the renamed one and is left out: "<unk>" in a text is the
    # unknown id, as in every student's tokenizer.
    clash = {i for token, i in vocab.items() if token in (PAD, UNK)} - {pad_id, unk_id}
    rest = sorted((used | single | set(special)) - {pad_id, unk_id} - clash)
    rows = [pad_id, unk_id, *rest]
    names = {i: token for token, i in vocab.items()}
    names.update({pad_id: PAD, unk_id: UNK})
    new_ids = {old: new for new, old in enumerate(rows)}
    model["vocab"] = {names[old]: new for new, old in enumerate(rows)}
    model["unk_token"] = UNK
    added = []
    for token in spec.get("added_tokens", []):
        # "<pad>" in a text is ordinary text, as in every student's tokenizer; a clashing name is left out
        if token["id"] == pad_id or token["id"] in clash:
            continue
        content = UNK if token["id"] == unk_id else token["content"]
        # matched before normalisation, like the "<unk>" of kdedge's own tokenizers
        added.append({**token, "id": new_ids[token["id"]], "content": content, "normalized": False})
    spec["added_tokens"] = added
    spec["normalizer"] = portable_normalizer(spec.get("normalizer"))
    prefix, suffix = _template(spec.get("post_processor"), new_ids)
    spec["post_processor"] = None  # the model adds them (TransformerStudent.wrap)
    spec["padding"] = None
    spec["truncation"] = {"direction": "Right", "max_length": max_length, "strategy": "LongestFirst", "stride": 0}
    return Vocabulary(Tokenizer.from_str(json.dumps(spec))), rows, prefix, suffix


def portable_normalizer(normalizer: dict | None) -> dict | None:
    """The teacher's normalizer, made to give the same text in every `tokenizers` port. BERT's lower-cases
    character by character in Rust (capital sigma is always "σ") but with JavaScript's toLowerCase, which
    writes a word-final sigma as "ς" (found by the conformance vectors): capital sigma becomes "σ" first, which
    is what the Rust tokenizer, and so the teacher, reads anyway."""
    if not (normalizer and normalizer.get("type") == "BertNormalizer" and normalizer.get("lowercase")):
        return normalizer
    return {
        "type": "Sequence",
        "normalizers": [{"type": "Replace", "pattern": {"String": "Σ"}, "content": "σ"}, normalizer],
    }


def _template(processor: dict | None, new_ids: dict[int, int]) -> tuple[list[int], list[int]]:
    """The ids the teacher's tokenizer puts before and after a single text ([CLS] and [SEP] for BERT), in the
    pruned vocabulary."""
    if not processor:
        return [], []
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        tokens = processor["special_tokens"]
        parts: tuple[list[int], list[int]] = ([], [])
        side = 0
        for piece in processor["single"]:
            if "Sequence" in piece:
                side = 1
            else:
                parts[side].extend(new_ids[i] for i in tokens[piece["SpecialToken"]["id"]]["ids"])
        return parts
    if kind in ("BertProcessing", "RobertaProcessing"):
        return [new_ids[processor["cls"][1]]], [new_ids[processor["sep"][1]]]
    raise KdedgeError(f"the teacher's tokenizer adds special tokens in a way kdedge does not read ({kind})")


def from_teacher(
    teacher_dir: str | Path,
    texts: Iterable[str],
    label_names: Sequence[str],
    max_length: int,
    layers: list | None = None,
    vocab: str = "teacher",
    seed: int = 0,
):
    """A transformer student made from a fine-tuned teacher folder (`kdedge teacher --out`): the teacher's
    `layers` (default: first and last), its embeddings (all of them, or with `vocab` "task" those of the tokens
    `texts` use), its pooler and classification head. Returns a `Student`."""
    from .students import Student
    from .teacher import TEACHER_FILE, load_classifier

    check_teacher(teacher_dir, {"vocab": vocab, **({} if layers is None else {"layers": layers})})
    teacher_dir = Path(teacher_dir)
    meta = json.loads((teacher_dir / TEACHER_FILE).read_text(encoding="utf-8"))
    if list(meta["label_names"]) != list(label_names):
        raise KdedgeError(f"{teacher_dir}: the teacher's labels are not the dataset's")
    teacher = load_classifier(teacher_dir)
    config = teacher.config.to_dict()
    count = config["num_hidden_layers"]
    layers = check_layers(default_layers(count) if layers is None else layers, count)
    tokens, rows, prefix, suffix = prune_vocabulary(
        teacher_dir / "tokenizer.json", texts, config.get("pad_token_id") or 0, max_length, vocab == "teacher"
    )
    if max_length + len(prefix) + len(suffix) > config.get("max_position_embeddings", math.inf):
        raise KdedgeError(f"max_length {max_length} plus the teacher's special tokens exceeds its positions")
    keep = ("architectures", "transformers_version", "dtype", "torch_dtype", "_name_or_path")
    options = {
        "config": {k: v for k, v in config.items() if k not in keep},
        "layers": layers,
        "prefix": prefix,
        "suffix": suffix,
        "pooling": meta.get("pooling", "cls"),
        "vocab": vocab,
    }
    if config["model_type"] in POSITIONS_FROM_PADDING:
        options["position_offset"] = config["pad_token_id"]
    student = Student.create("transformer", tokens, label_names, seed=seed, **options)
    state = teacher.state_dict()
    embedding = teacher.get_input_embeddings().weight
    word_key = next(k for k, v in state.items() if v is embedding or v.data_ptr() == embedding.data_ptr())
    target = {}
    for key in student.model.model.state_dict():
        match = re.search(r"\.layer\.(\d+)\.", key)
        source = key.replace(match.group(0), f".layer.{layers[int(match.group(1))]}.") if match else key
        target[key] = state[source][rows] if source == word_key else state[source]
    student.model.model.load_state_dict(target)
    student.model.eval()
    return student

"""Shared fixtures: small real subsets of ../shared/datasets, so tests run on real text in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
EMOTION = SHARED / "emotion"
SST2 = SHARED / "sst2"


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture(scope="session")
def emotion_small(tmp_path_factory) -> Path:
    """The first 2,000 train and 400 validation/test rows of Emotion, as a dataset folder."""
    if not EMOTION.is_dir():
        pytest.fail(f"{EMOTION} is missing: tests need ../shared/datasets beside the project")
    folder = tmp_path_factory.mktemp("emotion_small")
    for split, limit in (("train", 2000), ("validation", 400), ("test", 400)):
        write_jsonl(folder / f"{split}.jsonl", read_jsonl(EMOTION / f"{split}.jsonl", limit))
    return folder


def _tiny_base_model(folder: Path, emotion_small: Path, family: str) -> Path:
    """A randomly initialised 2-layer model of `family` (bert or mpnet) with a word-level WordPiece vocabulary
    of the subset: a base model folder that loads through the Auto classes without touching the hub."""
    from collections import Counter

    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        MPNetConfig,
        MPNetForSequenceClassification,
        MPNetTokenizerFast,
    )

    counts = Counter(w for r in read_jsonl(emotion_small / "train.jsonl") for w in r["text"].split())
    words = [w for w, _ in counts.most_common(2000)]
    if family == "bert":
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        config_class, model_class, tokenizer_class, names = (
            BertConfig,
            BertForSequenceClassification,
            BertTokenizerFast,
            {},
        )
    else:  # all-mpnet-base-v2's layout: MPNet's specials first (padding at 1, positions counted from it), then
        # BERT's vocabulary with its own [PAD] and [UNK]; the unknown token is [UNK], "<unk>" a special of its own
        special = ["<s>", "<pad>", "</s>", "<unk>", "[PAD]", "[UNK]", "<mask>"]
        config_class, model_class, tokenizer_class = MPNetConfig, MPNetForSequenceClassification, MPNetTokenizerFast
        names = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>"}
        names.update(unk_token="[UNK]", pad_token="<pad>", mask_token="<mask>", extra_special_tokens=["<unk>"])
    tokens = [*special, *words]
    tokenizer = tokenizer_class(vocab={token: i for i, token in enumerate(tokens)}, **names)  # transformers 5
    assert tokenizer("i feel", add_special_tokens=False)["input_ids"] != [tokenizer.unk_token_id] * 2
    config = config_class(
        vocab_size=len(tokens),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    model_class(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, emotion_small) -> Path:
    return _tiny_base_model(tmp_path_factory.mktemp("tiny_bert"), emotion_small, "bert")


@pytest.fixture(scope="session")
def tiny_mpnet(tmp_path_factory, emotion_small) -> Path:
    return _tiny_base_model(tmp_path_factory.mktemp("tiny_mpnet"), emotion_small, "mpnet")


def _fine_tuned(folder: Path, base: Path, emotion_small: Path, pooling: str = "auto") -> Path:
    from kdedge.data import load_dataset
    from kdedge.teacher import fine_tune

    fine_tune(load_dataset(str(emotion_small)), str(base), folder, epochs=2, lr=1e-3, progress=False, pooling=pooling)
    return folder


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory, tiny_bert, emotion_small) -> Path:
    """The tiny BERT fine-tuned for two epochs on the Emotion subset by kdedge itself."""
    return _fine_tuned(tmp_path_factory.mktemp("teacher") / "teacher", tiny_bert, emotion_small)


@pytest.fixture(scope="session")
def tiny_mpnet_teacher(tmp_path_factory, tiny_mpnet, emotion_small) -> Path:
    """The tiny MPNet fine-tuned the same way."""
    return _fine_tuned(tmp_path_factory.mktemp("mpnet_teacher") / "teacher", tiny_mpnet, emotion_small)


@pytest.fixture(scope="session")
def tiny_mean_teacher(tmp_path_factory, tiny_bert, emotion_small) -> Path:
    """The tiny BERT fine-tuned the same way, its head reading the mean of the tokens (kdedge.pooling)."""
    return _fine_tuned(tmp_path_factory.mktemp("mean_teacher") / "teacher", tiny_bert, emotion_small, "mean")


@pytest.fixture(scope="session")
def few_texts(tmp_path_factory, emotion_small) -> Path:
    """A few hundred Emotion texts, for runs that label and train at test scale (export calibrates on every
    train text)."""
    folder = tmp_path_factory.mktemp("few_texts")
    for split, limit in (("train", 300), ("validation", 100), ("test", 100)):
        write_jsonl(folder / f"{split}.jsonl", read_jsonl(emotion_small / f"{split}.jsonl", limit))
    return folder


@pytest.fixture(scope="session")
def small_student(tmp_path_factory, emotion_small) -> Path:
    """A gold-label MLP trained on the Emotion subset (seconds), saved as a student folder."""
    from kdedge.baselines import mlp
    from kdedge.data import load_dataset

    folder = tmp_path_factory.mktemp("student") / "mlp"
    mlp(load_dataset(str(emotion_small)), save=folder, epochs=10, lr=0.03, progress=False)
    return folder


@pytest.fixture(scope="session")
def bundle(tmp_path_factory, small_student, emotion_small) -> Path:
    from kdedge.data import load_dataset
    from kdedge.export import export_student

    folder = tmp_path_factory.mktemp("bundle") / "bundle"
    export_student(small_student, folder, load_dataset(str(emotion_small)), log=lambda m: None)
    return folder

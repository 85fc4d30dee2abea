import numpy as np
import pytest

from conftest import EMOTION, read_jsonl
from kdedge.text import PAD_ID, UNK_ID, Vocabulary, tokenize


def test_tokenize_words_apostrophes_emoji_and_unicode():
    assert tokenize("I DON'T feel   great!! 😊") == ["i", "don't", "feel", "great", "!", "!", "😊"]
    assert tokenize("ｆｕｌｌ－width") == ["full", "-", "width"]  # NFKC folds full-width forms
    assert tokenize("it’s") == ["it's"]
    assert tokenize("") == []
    assert tokenize("Привет мир") == ["привет", "мир"]


def test_vocabulary_is_deterministic_and_frequency_ranked():
    texts = [r["text"] for r in read_jsonl(EMOTION / "train.jsonl", 3000)]
    vocab = Vocabulary.build(texts, size=500)
    assert len(vocab) == 500
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert vocab.tokens[2] in ("i", "feel")  # the most frequent words of Emotion
    assert Vocabulary.build(list(reversed(texts)), size=500).tokens == vocab.tokens


def test_masked_words_do_not_take_a_vocabulary_row():
    """Augmentation writes "<unk>" for masked words: it must stay the unknown id, not be ranked as a word."""
    vocab = Vocabulary.build(["i feel <unk>", "i <unk> <unk> happy", "<pad> feel"], size=10)
    assert vocab.tokens.count("<unk>") == 1 and vocab.tokens.count("<pad>") == 1
    assert vocab.encode(["i <unk>"]).tolist() == [[vocab.tokens.index("i"), UNK_ID]]


def test_encode_pads_truncates_and_maps_unknown_words():
    vocab = Vocabulary(["<pad>", "<unk>", "i", "feel", "happy"], max_length=3)
    ids = vocab.encode(["i feel happy today", "", "happy"])
    assert ids.dtype == np.int64
    assert ids.tolist() == [[2, 3, 4], [PAD_ID] * 3, [4, PAD_ID, PAD_ID]]
    assert vocab.encode(["zebra"]).tolist() == [[UNK_ID]]
    assert vocab.encode([""]).shape == (1, 1)
    assert vocab.encode(["i"], pad_to="max").shape == (1, 3)


def test_encode_rejects_non_strings():
    vocab = Vocabulary(["<pad>", "<unk>"])
    with pytest.raises(TypeError):
        vocab.encode([None])
    with pytest.raises(TypeError):
        vocab.encode("a single string")


def test_round_trip(tmp_path):
    vocab = Vocabulary.build(["ça va 😊", "ok ok"], size=10, max_length=7)
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab
    assert (loaded.encode(["ça va"]) == vocab.encode(["ça va"])).all()


def test_unknown_format_version_is_refused():
    with pytest.raises(ValueError, match="format"):
        Vocabulary.from_dict({"format_version": 99, "tokens": ["<pad>", "<unk>"], "max_length": 4, "lowercase": True})


def test_hash_buckets_give_unknown_words_a_stem_id():
    vocab = Vocabulary(["<pad>", "<unk>", "i", "feel"], buckets=10)
    assert len(vocab) == 14  # the embedding table has rows for the buckets too
    ids = vocab.encode(["i feel dazzled", "i feel dazzling", "i feel <unk>"]).tolist()
    assert ids[0][:2] == [2, 3] and 4 <= ids[0][2] < 14
    assert ids[0][2] == ids[1][2]  # same first four letters, same bucket
    assert ids[2][2] == UNK_ID  # augmentation's mask word stays the unknown word
    assert Vocabulary.from_dict(vocab.to_dict()).encode(["dazzled"]).tolist() == [[ids[0][2]]]

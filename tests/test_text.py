import json

import numpy as np
import pytest
from tokenizers import Tokenizer

from conftest import EMOTION, read_jsonl
from kdedge.text import KINDS, PAD_ID, UNK_ID, Vocabulary, frequent_words, sanitize, tokenize


@pytest.fixture(scope="module")
def emotion_texts():
    return [r["text"] for r in read_jsonl(EMOTION / "train.jsonl", 3000)]


def test_tokenize_words_apostrophes_emoji_and_unicode():
    """The plain word splitter of augmentation and TF-IDF (students use Vocabulary)."""
    assert tokenize("I DON'T feel   great!! 😊") == ["i", "don't", "feel", "great", "!", "!", "😊"]
    assert tokenize("ｆｕｌｌ－width") == ["full", "-", "width"]  # NFKC folds full-width forms
    assert tokenize("it’s") == ["it's"]
    assert tokenize("") == []
    assert tokenize("Привет мир") == ["привет", "мир"]
    assert frequent_words(["b a a", "c b a"], 2) == ["a", "b"]


@pytest.mark.parametrize("kind", KINDS)
def test_vocabulary_is_sized(emotion_texts, kind):
    vocab = Vocabulary.build(emotion_texts, size=400, buckets=100, kind=kind)
    assert len(vocab) == 500
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]


def test_the_default_vocabulary_is_deterministic(emotion_texts):
    """Unlike tokenizers' trainers (ties broken in hash-map order), so a run reproduces bit for bit."""
    vocab = Vocabulary.build(emotion_texts, size=400, buckets=100)
    assert Vocabulary.build(list(reversed(emotion_texts)), size=400, buckets=100) == vocab


def test_frequent_words_are_whole_and_rare_words_are_spelt_with_pieces(emotion_texts):
    vocab = Vocabulary.build(emotion_texts, size=500, buckets=200)
    assert vocab.tokens[2] in ("i", "feel")  # the most frequent words of Emotion come first
    assert vocab.tokenize("i feel happy") == ["i", "feel", "happy"]
    pieces = vocab.tokenize("flabbergasted")
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
    assert UNK_ID not in vocab.ids("flabbergasted")
    without_pieces = Vocabulary.build(emotion_texts, size=500)
    assert without_pieces.ids("flabbergasted") == [UNK_ID]


def test_combining_marks_stay_inside_words():
    vocab = Vocabulary.build(["नमस्ते दोस्त", "İstanbul güzel", "مرحبا بكم"], size=20)
    assert vocab.tokenize("नमस्ते") == ["नमस्ते"]  # the regex split it into four
    assert vocab.tokenize("İstanbul") == ["i̇stanbul"]  # lower-cased with its combining dot, one word
    assert vocab.tokenize("مرحبا") == ["مرحبا"]


def test_masked_words_are_the_unknown_id_and_pad_is_not_matched():
    """Augmentation writes "<unk>" for masked words: it must be the unknown id, not a word of its own."""
    vocab = Vocabulary.build(["i feel <unk>", "i <unk> <unk> happy", "<pad> feel"], size=10)
    assert vocab.tokens.count("<unk>") == 1 and vocab.tokens.count("<pad>") == 1
    assert vocab.encode(["i <unk>"]).tolist() == [[vocab.tokens.index("i"), UNK_ID]]
    assert PAD_ID not in vocab.ids("<pad>")


def test_encode_pads_truncates_and_maps_unknown_words(emotion_texts):
    vocab = Vocabulary.build(emotion_texts, size=100, max_length=3)
    ids = vocab.encode(["i feel happy today", "", "i"])
    assert ids.dtype == np.int64 and ids.shape == (3, 3)
    assert ids[1].tolist() == [PAD_ID] * 3 and ids[2].tolist()[1:] == [PAD_ID] * 2
    assert vocab.encode(["zebra"]).tolist() == [[UNK_ID]]
    assert vocab.encode([""]).shape == (1, 1)
    assert vocab.encode(["i"], pad_to="max").shape == (1, 3)
    assert vocab.encode([]).shape == (0, 1)


def test_lone_surrogates_become_replacement_characters():
    assert sanitize("a\ud800b") == "a\ufffdb"
    assert sanitize("\ud83d\ude0a") == "😊"  # a pair is its character
    assert sanitize("plain") == "plain"
    vocab = Vocabulary.build(["a b c \ufffd"], size=10)
    assert vocab.encode(["a \ud800", "c \udfff b"]).tolist() == vocab.encode(["a \ufffd", "c \ufffd b"]).tolist()


def test_encode_rejects_non_strings(emotion_texts):
    vocab = Vocabulary.build(emotion_texts[:10], size=10)
    with pytest.raises(TypeError):
        vocab.encode([None])
    with pytest.raises(TypeError):
        vocab.encode("a single string")


def test_round_trip_through_a_standard_tokenizer_json(tmp_path):
    vocab = Vocabulary.build(["ça va 😊", "ok ok"], size=10, max_length=7)
    vocab.save(tmp_path / "tokenizer.json")
    loaded = Vocabulary.load(tmp_path / "tokenizer.json")
    assert loaded == vocab and loaded.max_length == 7
    assert (loaded.encode(["ça va"]) == vocab.encode(["ça va"])).all()
    plain = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))  # any tokenizers user can read it
    assert plain.encode("ça va").ids == vocab.ids("ça va")


def test_bad_tokenizer_files_are_refused(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"format_version": 1, "tokens": ["<pad>", "<unk>"]}))
    with pytest.raises(ValueError, match=r"not a tokenizer\.json"):
        Vocabulary.load(tmp_path / "tokenizer.json")

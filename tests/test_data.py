import csv
import hashlib
import json
import subprocess
import sys

import pytest

from conftest import EMOTION, SST2, read_jsonl, write_jsonl
from kdedge.data import default_source, load_dataset, phrase_groups, read_texts
from kdedge.errors import DataError


def test_full_emotion_matches_its_readme():
    dataset = load_dataset(str(EMOTION))
    assert {name: len(split) for name, split in dataset.splits.items()} == {
        "train": 16000,
        "validation": 2000,
        "test": 2000,
    }
    assert dataset.label_names == ["anger", "fear", "joy", "love", "sadness", "surprise"]
    assert dataset.checksums["train.jsonl"] == "0fdac1ae8965ea88b5bc01795fe492cbe2b00cbfc09084cfe6ea008544caf55d"
    # test label counts from the dataset README: sadness 581, joy 695, love 159, anger 275, fear 224, surprise 66
    counts = {name: int((dataset.test.labels == i).sum()) for i, name in enumerate(dataset.label_names)}
    assert counts == {"sadness": 581, "joy": 695, "love": 159, "anger": 275, "fear": 224, "surprise": 66}
    assert dataset.notes == []


def test_offline_default_is_the_local_emotion_copy():
    assert default_source() == str(EMOTION.resolve()) or default_source().endswith("shared/datasets/emotion")


def _rows(folder):
    return {split: read_jsonl(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}


@pytest.mark.parametrize("fmt", ["csv", "tsv", "txt", "parquet"])
def test_every_format_loads_the_same_data(emotion_small, tmp_path, fmt):
    rows = _rows(emotion_small)
    for split, records in rows.items():
        path = tmp_path / f"{'val' if split == 'validation' else split}.{fmt}"
        if fmt in ("csv", "tsv"):
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, ["text", "label"], delimiter="\t" if fmt == "tsv" else ",")
                writer.writeheader()
                writer.writerows(records)
        elif fmt == "txt":
            path.write_text("".join(f"{r['text']};{r['label']}\n" for r in records), encoding="utf-8")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(records), path)
    reference = load_dataset(str(emotion_small))
    loaded = load_dataset(str(tmp_path))
    assert loaded.label_names == reference.label_names
    for split in ("train", "validation", "test"):
        assert loaded.splits[split].texts == reference.splits[split].texts
        assert (loaded.splits[split].labels == reference.splits[split].labels).all()


def test_custom_columns_and_integer_labels(tmp_path):
    names = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    for split in ("train", "validation", "test"):
        rows = read_jsonl(EMOTION / f"{split}.jsonl", 300)
        write_jsonl(tmp_path / f"{split}.jsonl", [{"tweet": r["text"], "y": names.index(r["label"])} for r in rows])
    dataset = load_dataset(str(tmp_path), text_column="tweet", label_column="y")
    assert dataset.label_names == [str(i) for i in range(6)]  # integer ids keep their numeric order
    first = read_jsonl(EMOTION / "train.jsonl", 1)[0]
    assert dataset.train.texts[0] == first["text"]
    assert dataset.label_names[dataset.train.labels[0]] == str(names.index(first["label"]))


def test_missing_test_split_is_carved_reproducibly(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", read_jsonl(SST2 / "train.jsonl", 4000))
    write_jsonl(tmp_path / "validation.jsonl", read_jsonl(SST2 / "validation.jsonl"))
    first = load_dataset(str(tmp_path))
    second = load_dataset(str(tmp_path))
    assert len(first.test) == 872  # the official validation split is reported on as test
    assert first.validation.texts == second.validation.texts
    assert first.train.texts == second.train.texts
    raw = read_texts(tmp_path / "train.jsonl")
    group, roots = phrase_groups(raw)
    assert len(first.validation) == round(0.1 * len(roots))
    # validation holds whole sentences (group roots); their groups (the sentence and its phrases) left train,
    # the groups of the remaining train rows stayed whole
    root_texts = {raw[r] for r in roots}
    assert set(first.validation.texts) <= root_texts
    held = {g for g, r in enumerate(roots) if raw[r] in set(first.validation.texts)}
    kept = set(first.train.texts)
    assert all((raw[i] in kept) == (group[i] not in held) for i in range(len(raw)))
    assert not set(first.validation.texts) & kept
    assert any("official validation" in note for note in first.notes)


def test_phrase_groups_put_phrases_with_their_sentence():
    texts = ["not good", "a film that is not good at all", "good", "fine", "is not", "fine"]
    group, roots = phrase_groups(texts)
    assert [texts[i] for i in roots] == ["a film that is not good at all", "fine"]
    assert group == [0, 0, 0, 1, 0, 1]
    assert phrase_groups(texts, max_words=3)[0][:3] == [1, 0, 1]  # long texts do not register their phrases


def _write(folder, split, lines):
    (folder / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")


def _valid_folder(tmp_path):
    for split in ("train", "validation", "test"):
        _write(
            tmp_path,
            split,
            ['{"text": "i feel happy", "label": "joy"}\n', '{"text": "i feel sad", "label": "sadness"}\n'],
        )
    return tmp_path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: (f / "train.jsonl").unlink(), "missing train split"),
        (lambda f: [(f / f"{s}.jsonl").unlink() for s in ("validation", "test")], "missing validation and test"),
        (
            lambda f: _write(f, "test", ['{"text": "x", "label": "joy"}\n', '{"text": "y"}\n']),
            "test.jsonl line 2: missing column 'label'",
        ),
        (lambda f: _write(f, "validation", []), "validation split is empty"),
        (
            lambda f: _write(f, "test", ['{"text": "x", "label": "joy"}\n', '{"text": "y", "label": "rage"}\n']),
            "test.jsonl line 2: label 'rage' never occurs in train",
        ),
        (
            lambda f: (f / "train.jsonl").write_bytes(
                b'{"text": "ok", "label": "joy"}\n{"text": "\xff", "label": "joy"}\n'
            ),
            "train.jsonl line 2: invalid UTF-8",
        ),
        (lambda f: _write(f, "train", ['{"text": "ok", "label": "joy"\n']), "train.jsonl line 1: invalid JSON"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, mutate, message):
    folder = _valid_folder(tmp_path)
    mutate(folder)
    with pytest.raises(DataError) as info:
        load_dataset(str(folder))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(str(tmp_path / "nope"))


def test_read_texts_jsonl_gzip_and_lines(tmp_path):
    texts = read_texts(SST2.parent / "emotion_unsplit_partial" / "unlabeled.jsonl.gz")
    assert len(texts) == 49526
    plain = tmp_path / "texts.txt"
    plain.write_text("one text\n\nanother text\n", encoding="utf-8")
    assert read_texts(plain) == ["one text", "another text"]


def test_checksums_are_of_the_files(emotion_small):
    dataset = load_dataset(str(emotion_small))
    assert dataset.checksums["test.jsonl"] == hashlib.sha256((emotion_small / "test.jsonl").read_bytes()).hexdigest()
    json.dumps(dataset.describe())  # a result file can hold it


def test_data_and_text_import_without_torch():
    heavy = "('torch', 'transformers', 'sklearn')"
    code = f"import sys, kdedge.data, kdedge.text; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

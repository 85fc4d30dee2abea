"""Hostile input: damaged and forged bundles, fuzzed texts, bad command lines, folders that are not ours."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import ROOT
from kdedge.cli import cli


def _robustness():
    spec = importlib.util.spec_from_file_location("robustness", ROOT / "benchmarks" / "robustness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_tampered_bundle_is_refused_or_harmless(bundle):
    robustness = _robustness()
    rows = robustness.tamper(bundle, robustness.fuzz_texts(100, seed=1))
    assert len(rows) > 40
    for name, outcomes in rows.items():
        for variant, outcome in outcomes.items():
            assert not outcome.startswith("crash"), (name, variant, outcome)
            if name not in robustness.UNDETECTABLE:
                assert outcome != "silent wrong answer", (name, variant)
    # these used to load silently or crash: each must now be refused by every variant
    for name in (
        "tokenizer outside the bundle",
        "tokenizer not listed in files",
        "label_names too few",
        "parent file entry",
        "tokenizer more words than the table",
        "manifest a list",
        "max_length a string",
    ):
        assert set(rows[name].values()) == {"refused"}, (name, rows[name])


def test_fuzzed_texts_never_crash_or_disagree(bundle):
    robustness = _robustness()
    result = robustness.fuzz(bundle, robustness.fuzz_texts(1500, seed=2), singles=150)
    for variant, row in result.items():
        assert row["crashes"] == 0 and row["invalid_distributions"] == 0, (variant, row)
        assert row["single_vs_batch_disagreements"] == 0, (variant, row)


def _invoke(*args, input=None):
    result = CliRunner().invoke(cli, list(args), input=input)
    return result, result.output  # stdout and stderr together


def _assert_one_line_error(result, text, code=(1, 2)):
    assert result.exit_code in code, text
    assert "Traceback" not in text and "unexpected" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text


def _one_class(tmp_path):
    folder = tmp_path / "one-class"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text('{"text": "a b", "label": "x"}\n{"text": "c", "label": "x"}\n')
    return folder


DISTILL_CASES = [
    ["-o", "foo=1"],
    ["-o", "dim=-3"],
    ["-o", "pooling=bogus"],
    ["-o", "dropout=2"],
    ["-o", "dim=x"],
    ["-o", "novalue"],
    ["--student", "auto", "-o", "dim=8"],
    ["--student", "cnn", "-o", "kernel=0"],
    ["--student", "transformer"],  # made from the teacher: needs --teacher
    ["--student", "transformer", "-o", "dim=8"],
    ["--epochs", "0"],
    ["--epochs", "-1"],
    ["--batch-size", "0"],
    ["--batch-size", "-4"],
    ["--vocab-size", "1"],
    ["--buckets", "-1"],
    ["--threads", "-1"],
    ["--lr", "nan"],
    ["--lr", "inf"],
    ["--lr", "0"],
    ["--temperature", "0"],
    ["--temperature", "-1"],
    ["--augment", "-1"],
    ["--seed", "-5"],
]


@pytest.mark.parametrize("extra", DISTILL_CASES, ids=" ".join)
def test_distill_rejects_bad_options_before_any_work(extra, emotion_small, tmp_path):
    result, text = _invoke("distill", "--data", str(emotion_small), "--out", str(tmp_path / "s"), *extra)
    _assert_one_line_error(result, text, code=(2,))
    assert not (tmp_path / "s").exists()


def test_cli_error_paths_are_one_line(emotion_small, tmp_path, bundle):
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    data = ["--data", str(emotion_small)]
    cases = [
        ["label", "--teacher", str(tmp_path), *data, "--splits", "trian", "--out", str(tmp_path / "l.npz")],
        ["label", "--teacher", str(tmp_path), *data, "--batch-size", "0", "--out", str(tmp_path / "l.npz")],
        ["distill", "--data", str(_one_class(tmp_path)), "--out", str(tmp_path / "s")],
        ["distill", *data, "--out", str(tmp_path / "s"), "--output", str(regular / "r.json")],
        ["baseline", "tfidf-lr", *data, "--output", str(regular / "r.json")],
        ["baseline", "tfidf-lr", *data, "--output", str(regular)],
        ["baseline", "mlp", *data, "--epochs", "0"],
        ["baseline", "mlp", *data, "--vocab-size", "1"],
        ["bench", str(tmp_path), "--threads", "-1"],
        ["predict", str(tmp_path)],
        ["predict", str(bundle), "--backend", "tensorflow"],
        ["export", str(tmp_path), "--out", str(tmp_path / "b")],
        ["teacher", *data, "--out", str(tmp_path / "t"), "--lr", "nan"],
        ["teacher", *data, "--out", str(tmp_path / "t"), "--lr", "auto", "--lr-candidates", "1e-4,-1"],
        ["teacher", *data, "--out", str(tmp_path / "t"), "--max-epochs", "0"],
        ["teacher", *data, "--out", str(tmp_path / "t"), "--batch-size", "0"],
        ["teacher", *data, "--out", str(tmp_path)],  # an existing folder, refused before any training
    ]
    for args in cases:
        result, text = _invoke(*args)
        _assert_one_line_error(result, text)


def test_existing_folders_are_never_replaced_without_force(emotion_small, tmp_path):
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    for args in (
        ["baseline", "tfidf-lr", "--data", str(emotion_small), "--save", str(mine), "--quiet"],
        ["distill", "--data", str(emotion_small), "--out", str(mine), "--quiet"],
    ):
        result, text = _invoke(*args)
        _assert_one_line_error(result, text)
        assert "--force" in text
        assert (mine / "notes.txt").read_text() == "keep me" and (mine / "sub").is_dir()
    result, text = _invoke("baseline", "tfidf-lr", "--data", str(emotion_small), "--save", ".", "--quiet")
    _assert_one_line_error(result, text)


def test_force_replaces_only_once_the_new_model_is_complete(emotion_small, tmp_path):
    target = tmp_path / "tfidf"
    target.mkdir()
    (target / "old.txt").write_text("old")
    result, text = _invoke(
        "baseline", "tfidf-lr", "--data", str(emotion_small), "--save", str(target), "--force", "--quiet"
    )
    assert result.exit_code == 0, text
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.skops"]
    assert not list(tmp_path.glob(".tfidf*"))


def test_a_killed_save_is_cleaned_up_by_the_next(tmp_path):
    from kdedge.results import atomic_folder, write_json

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f".out.{pid}-abc.tmp").mkdir()  # what a SIGKILLed save leaves
    (tmp_path / f".r.json.{pid}-abc.tmp").write_text("{")
    live = tmp_path / f".out.{os.getpid()}-live.tmp"  # another save still running: not ours to remove
    live.mkdir()
    with atomic_folder(tmp_path / "out") as folder:
        (folder / "x").write_text("x")
    write_json(tmp_path / "r.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "r.json", live.name])


def test_bench_never_unpickles(tmp_path):
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR."  # a protocol-0 pickle that runs a shell command
    (planted / "model.pkl").write_bytes(payload.encode())
    result, text = _invoke("bench", str(planted), "--quick", "--out", str(tmp_path / "results"))
    _assert_one_line_error(result, text)
    assert "pickle" in text and not marker.exists()


def test_tfidf_model_round_trips_without_pickle(emotion_small, tmp_path):
    from kdedge.baselines import load_tfidf, tfidf_lr
    from kdedge.data import load_dataset
    from kdedge.errors import BundleError

    dataset = load_dataset(str(emotion_small))
    tfidf_lr(dataset, save=tmp_path / "m", progress=False)
    pipeline, names = load_tfidf(tmp_path / "m")
    assert names == dataset.label_names
    assert (pipeline.predict(dataset.test.texts[:50]) >= 0).all()
    (tmp_path / "m" / "model.skops").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="not a loadable TF-IDF model"):
        load_tfidf(tmp_path / "m")


def test_lone_surrogates_are_text_everywhere(bundle, emotion_small, tmp_path):
    from kdedge.data import load_dataset
    from kdedge.runtime import TextClassifier

    clf = TextClassifier.load(bundle)
    assert clf.predict(["i feel \ud800 happy"]) == clf.predict(["i feel \ufffd happy"])
    lines = ['"fine \\ud800 text"', "not json", '{"text": "i am \\udfff sad"}', '"ok"']
    result, text = _invoke("predict", str(bundle), input="\n".join(lines) + "\n")
    assert result.exit_code == 0, text
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["text"] for o in outputs] == ["fine \ufffd text", "i am \ufffd sad", "ok"]
    assert "line 2: skipped" in result.stderr
    folder = tmp_path / "data"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        rows = (emotion_small / f"{split}.jsonl").read_text().splitlines()[:50]
        if split == "test":
            rows.append('{"text": "broken \\ud800 escape", "label": "joy"}')
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    assert load_dataset(str(folder)).test.texts[-1] == "broken \ufffd escape"

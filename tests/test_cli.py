import json
import re
import subprocess
import sys

import pytest
import torch

from kdedge.teacher import describe_device, resolve_device


def kdedge(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kdedge", *args], capture_output=True, text=True, cwd=cwd)


def test_baseline_command_writes_a_result(emotion_small, tmp_path):
    out = tmp_path / "result.json"
    proc = kdedge("baseline", "tfidf-lr", "--data", str(emotion_small), "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["model"] == "tfidf-lr" and result["split"] == "test"
    assert "baseline tfidf-lr" in result["command"]
    assert "accuracy" in proc.stdout


def test_bad_data_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": "x"}\n', encoding="utf-8")
    (tmp_path / "test.jsonl").write_text('{"text": "b"}\n', encoding="utf-8")
    proc = kdedge("baseline", "mlp", "--data", str(tmp_path), "--quiet")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error: test.jsonl line 1: missing column 'label'"
    assert "Traceback" not in proc.stderr


def test_missing_folder_and_unknown_baseline(tmp_path):
    proc = kdedge("baseline", "mlp", "--data", str(tmp_path / "absent"))
    assert proc.returncode == 1 and proc.stderr.strip().startswith("Error: ") and "no such folder" in proc.stderr
    proc = kdedge("baseline", "svm")
    assert proc.returncode == 2 and "Invalid value" in proc.stderr
    proc = kdedge("distill", "--init", str(tmp_path / "glove.txt"), "--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and "expected random, teacher or a word-vector file" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "s").exists()


def test_help_lists_the_commands():
    proc = kdedge("--help")
    assert proc.returncode == 0 and "baseline" in proc.stdout and "teacher" in proc.stdout


def test_distill_help_states_the_auto_augmentation_rule():
    from kdedge.augment import AUGMENT_MAX, AUGMENT_TARGET

    text = " ".join(kdedge("distill", "--help").stdout.split())
    assert f"about {AUGMENT_TARGET:,} augmented texts in all (at most {AUGMENT_MAX} copies per text)" in text


def test_distill_help_states_the_training_defaults():
    """The help spells the defaults out (start-up imports no torch), so it must follow the code's."""
    from kdedge.distill import TRANSFORMER_TRAINING, StudentConfig

    text = " ".join(kdedge("distill", "--help").stdout.split())
    stated = [tuple(map(float, pair)) for pair in re.findall(r"\[default: ([\d.e-]+); transformer ([\d.e-]+)\]", text)]
    small, rung = StudentConfig(), TRANSFORMER_TRAINING
    keys = ("epochs", "patience", "lr", "batch_size")  # the options' order in the help
    assert stated == [(getattr(small, key), rung[key]) for key in keys]


def test_distill_auto_gives_epochs_and_patience_to_every_candidate(emotion_small, tmp_path, monkeypatch):
    """Under auto, --epochs / --patience reach the transformer rungs too; --lr only the small students."""
    from click.testing import CliRunner

    from kdedge import distill as lib
    from kdedge.cli import cli
    from kdedge.errors import KdedgeError

    seen = {}

    def distill(*args, **kwargs):
        seen.update(config=args[3], rung_training=kwargs["rung_training"])
        raise KdedgeError("stopped before any training")

    monkeypatch.setattr(lib, "distill", distill)
    args = ["--student", "auto", "--epochs", "2", "--patience", "1", "--lr", "0.003", "--out", str(tmp_path / "s")]
    result = CliRunner().invoke(cli, ["distill", "--data", str(emotion_small), "--quiet", *args])
    assert result.exit_code == 1 and "stopped before any training" in result.output
    assert seen["rung_training"] == {"epochs": 2, "patience": 1}
    assert (seen["config"].epochs, seen["config"].patience, seen["config"].lr) == (2, 1, 0.003)


def test_distill_command_records_its_threads(tiny_teacher, emotion_small, tmp_path):
    out = tmp_path / "result.json"
    args = [
        "--data",
        str(emotion_small),
        "--teacher",
        str(tiny_teacher),
        "--epochs",
        "1",
        "--patience",
        "3",
        "--vocab-size",
        "500",
        "--augment",
        "0",
    ]
    proc = kdedge("distill", *args, "--threads", "1", "--out", str(tmp_path / "s"), "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["student"]["patience"] == 3 and result["student"]["epochs"] == 1
    assert result["torch_threads"] == 1 and result["command"].startswith("python -m kdedge distill --data ")
    assert "--threads 1" in result["command"]
    assert result["labeling"]["device"] == describe_device(resolve_device("auto"))  # --device auto: cpu here
    assert result["student"]["device"] == resolve_device("auto")  # the student trains there too
    assert "agreement with teacher" in proc.stdout
    comparison = result["teacher_vs_tfidf"]  # the tiny teacher is far below TF-IDF + LR: said, with what to try
    assert comparison["verdict"] == "below" and comparison["message"] in proc.stdout and "--lr auto" in proc.stdout


def test_label_on_one_machine_records_the_form_and_never_imports_ray(tiny_teacher, emotion_small, tmp_path):
    out, stats = tmp_path / "soft.npz", tmp_path / "stats.json"
    args = ["label", "--teacher", str(tiny_teacher), "--data", str(emotion_small), "--splits", "validation"]
    args += ["--out", str(out), "--no-bf16", "--device", "cpu", "--output", str(stats), "--quiet"]
    code = (
        "import sys; from kdedge.cli import cli; cli(sys.argv[1:], standalone_mode=False); "
        "print('ray imported' if 'ray' in sys.modules else 'no ray')"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("no ray")
    assert json.loads(stats.read_text())["form"] == "torch-fp32"
    assert json.loads(stats.read_text())["device"] == "cpu"
    from kdedge.softlabels import SoftLabels

    assert SoftLabels.stored_teacher(out)[1] == "torch-fp32"
    proc = kdedge("label", "--teacher", str(tiny_teacher), "--out", str(tmp_path / "x"), "--ray")
    assert proc.returncode == 2 and "--ray needs --corpus" in proc.stderr
    for where in (["--ray"], ["--backend", "onnxruntime"]):  # CPU-only paths refuse a GPU instead of ignoring it
        proc = kdedge("label", "--teacher", str(tiny_teacher), "--out", str(tmp_path / "x"), *where, "--device", "cuda")
        assert proc.returncode != 0 and "Traceback" not in proc.stderr and "--device cuda" in proc.stderr
        assert not (tmp_path / "x").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: --device cuda would run")
def test_device_cuda_without_a_gpu_is_one_line(emotion_small, tiny_bert, tmp_path):
    commands = (
        ["teacher", "--model", str(tiny_bert)],
        ["distill", "--augment", "0"],
        ["label", "--teacher", str(tiny_bert)],
    )
    for command in commands:
        out = tmp_path / command[0]
        proc = kdedge(*command, "--data", str(emotion_small), "--device", "cuda", "--out", str(out), "--quiet")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().startswith("Error: --device cuda: torch") and len(proc.stderr.splitlines()) == 1
        assert not out.exists()


def test_many_labels_are_summed_up_not_all_printed(tmp_path):
    rows = [{"text": f"text number {i} about topic {i % 20}", "label": f"intent_{i % 20}"} for i in range(200)]
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    proc = kdedge("baseline", "tfidf-lr", "--data", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if line.startswith("dataset "))
    assert line.endswith("... (20 in all)") and "intent_9" not in line  # sorted: intent_0, intent_1, intent_10, ...

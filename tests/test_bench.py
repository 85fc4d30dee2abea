import json
import subprocess
import sys


def test_quick_bench_measures_every_runtime(bundle, emotion_small, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kdedge",
            "bench",
            str(bundle),
            "--data",
            str(emotion_small),
            "--quick",
            "--out",
            str(tmp_path),
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (result_file,) = tmp_path.glob("*.json")
    result = json.loads(result_file.read_text())
    names = [row["variant"]["name"] for row in result["rows"]]
    assert len(names) == 5 and any("torch" in n for n in names)  # the source student, then 4 bundle variants
    for row in result["rows"]:
        assert "error" not in row, row
        assert 0.0 < row["accuracy"] <= 1.0
        assert row["latency_us"]["p50"] <= row["latency_us"]["p90"] <= row["latency_us"]["p99"]
        assert row["peak_rss_mb"] > 0 and row["throughput"]["batch_64"] > 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    onnx_fp32 = next(r for r in result["rows"] if r["variant"]["name"].endswith("onnxruntime fp32"))
    assert onnx_fp32["params"] == manifest["source"]["params"]
    assert len(list(tmp_path.glob("*.png"))) == 2 and len(list(tmp_path.glob("*.md"))) == 1
    assert "| model / runtime |" in proc.stdout
    assert "Targets (kdedge issue 6)" in (next(tmp_path.glob("*.md"))).read_text()


def test_targets_say_what_was_met_and_what_was_missed():
    from kdedge.bench import targets

    def row(name, kind, precision, p50, accuracy, rss=50.0):
        variant = {"name": name, "kind": kind, "precision": precision}
        return {"variant": variant, "latency_us": {"p50": p50}, "accuracy": accuracy, "peak_rss_mb": rss}

    rows = [
        row("student onnxruntime int8", "bundle", "int8", 40.0, 0.915),
        row("student openvino int8", "bundle", "int8", 90.0, 0.916, rss=120.0),
        row("distilbert-base-uncased-onnx onnxruntime int8", "teacher-onnx", "int8", 3000.0, None),
        row("teacher torch fp32", "teacher", "fp32", 9000.0, 0.933),
    ]
    text = "\n".join(targets(rows))
    assert "student onnxruntime int8" in text  # the fastest int8 runtime is the one judged
    assert "- met: p50 latency 40.0 us" in text and "- met: peak RSS 50.0 MB" in text
    assert "- **MISSED**: 75x lower p50" in text
    assert "- **MISSED**: 1.80 points below the teacher" in text
    assert targets(rows[2:]) == []  # no student bundle, nothing to judge


def test_the_machine_record_names_the_gpus_only_when_torch_sees_them(monkeypatch):
    from types import SimpleNamespace

    from kdedge.results import machine

    def fake_torch(names: list[str]) -> SimpleNamespace:
        cuda = SimpleNamespace(
            is_available=lambda: bool(names), device_count=lambda: len(names), get_device_name=names.__getitem__
        )
        return SimpleNamespace(cuda=cuda)

    monkeypatch.setitem(sys.modules, "torch", fake_torch(["NVIDIA H100 80GB HBM3"]))
    assert machine()["gpus"] == ["NVIDIA H100 80GB HBM3"]
    monkeypatch.setitem(sys.modules, "torch", fake_torch([]))
    assert "gpus" not in machine()
    monkeypatch.delitem(sys.modules, "torch")  # the runtime never loads torch: nothing is imported to ask
    assert "gpus" not in machine() and "torch" not in sys.modules

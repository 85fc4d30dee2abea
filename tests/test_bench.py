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

"""OpenVINO's two int8 modes for one student, side by side: full post-training quantization (weights and
activations, NNCF, MINMAX ranges, as `kdedge export` tries first) and weight-only int8 (what export falls back
to). For each, and fp32: agreement with the torch student on validation (one padded batch), the weights file's
size and the batch-1 latency (the model alone, ids in, one thread, median of 500 validation texts).

python benchmarks/openvino_int8_modes.py STUDENT --data ../shared/datasets/emotion \
    --output benchmarks/results/openvino-int8-modes-emotion-bilstm.json
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import nncf
import openvino as ov
import torch

from kdedge.data import load_dataset
from kdedge.export import CALIBRATION_SIZE, export_onnx, openvino_full_int8, openvino_weight_only_int8
from kdedge.results import record_environment, write_json
from kdedge.students import Student

CALLS = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student")
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    student = Student.from_pretrained(args.student)
    dataset = load_dataset(args.data)
    train = dataset.train.texts
    calibration = [student.vocab.encode([t]) for t in train[:: max(1, len(train) // CALIBRATION_SIZE)]]
    ids = student.vocab.encode(dataset.validation.texts)
    reference = student.logits(dataset.validation.texts).argmax(1)
    singles = [student.vocab.encode([t]) for t in dataset.validation.texts[:CALLS]]
    nncf.set_log_level(logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        onnx_path = Path(work) / "model.onnx"
        export_onnx(student.model, torch.from_numpy(student.vocab.encode(dataset.test.texts[:4])), onnx_path)
        fp32 = ov.convert_model(str(onnx_path))
        variants = {
            "fp32": fp32,
            "full int8": openvino_full_int8(fp32, calibration),
            "weight-only int8": openvino_weight_only_int8(fp32),
        }
        rows = {}
        for name, model in variants.items():
            path = Path(work) / f"{name.replace(' ', '-')}.xml"
            ov.save_model(model, str(path), compress_to_fp16=False)
            compiled = ov.Core().compile_model(
                str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
            )
            agreement = float((compiled(ids)[0].argmax(1) == reference).mean())
            for one in singles[:50]:
                compiled(one)
            samples = []
            for one in singles:
                started = time.perf_counter()
                compiled(one)
                samples.append(time.perf_counter() - started)
            rows[name] = {
                "validation_agreement_with_torch": agreement,
                "weights_bytes": path.with_suffix(".bin").stat().st_size,
                "latency_us_p50": round(1e6 * statistics.median(samples), 1),
            }
            print(name, rows[name])
    write_json(
        args.output,
        {
            "student": args.student,
            "architecture": student.architecture,
            "params": student.params,
            "dataset": dataset.describe(),
            "calibration_texts": len(calibration),
            "variants": rows,
            **record_environment(),
        },
    )


if __name__ == "__main__":
    main()

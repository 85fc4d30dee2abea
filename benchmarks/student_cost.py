"""What a distilled student costs once exported (kdedge issue 12's student ladder): parameters, the bundle's
int8 model sizes, batch-1 latency and every variant's test accuracy as export measured it.

Latency is the median of one text at a time, raw text in, logits out, on one thread: `kdedge.frontier.latency_us`
(the ONNX fp32 graph, what `--student auto` compares candidates by) and the shipped runtime
(`kdedge.runtime.TextClassifier`, each backend in int8). Pin the process to one core for stable figures.

python benchmarks/student_cost.py runs/students/clinc150-transformer runs/bundles/clinc150-transformer \
    --data ../shared/datasets/clinc150 --output benchmarks/results/student-cost-clinc150-transformer.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from kdedge.data import load_dataset
from kdedge.frontier import latency_us
from kdedge.results import record, write_json
from kdedge.runtime import TextClassifier, read_manifest
from kdedge.students import Student

CALLS = 300


def runtime_latency_us(bundle: Path, backend: str, texts: list[str]) -> float:
    """Median batch-1 latency of the bundle's int8 model in the torch-free runtime, one thread."""
    classifier = TextClassifier.load(bundle, backend=backend, precision="int8", threads=1)
    for text in texts[:20]:
        classifier.logits([text])
    samples = []
    for text in texts:
        started = time.perf_counter()
        classifier.logits([text])
        samples.append(time.perf_counter() - started)
    return round(1e6 * statistics.median(samples), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("student", type=Path)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    texts = dataset.validation.texts[:CALLS]
    student = Student.from_pretrained(args.student)
    manifest = read_manifest(args.bundle)
    sizes = {name: (args.bundle / name).stat().st_size for name in manifest["files"]}
    int8 = manifest["variants"]["onnxruntime/int8"]
    result = record(
        f"cost-{student.architecture}",
        dataset.describe(),
        "test",
        {"accuracy": int8["test_accuracy"], "macro_f1": int8["test_macro_f1"]},
        student.params,
        None,
        student=str(args.student),
        bundle=str(args.bundle),
        variants=manifest["variants"],
        openvino_int8=manifest["openvino_int8"],
        file_bytes=sizes,
        int8_model_bytes={
            "onnxruntime": sizes["model.int8.onnx"],
            "openvino": sizes["openvino/model.int8.xml"] + sizes["openvino/model.int8.bin"],
        },
        latency_us={
            "onnx_fp32_graph (frontier.latency_us)": latency_us(student, texts),
            **{f"runtime {b} int8": runtime_latency_us(args.bundle, b, texts) for b in ("onnxruntime", "openvino")},
        },
        latency_texts=len(texts),
        cpu_affinity=sorted(os.sched_getaffinity(0)),  # the cores the process was pinned to (taskset)
    )
    write_json(args.output, result)
    print(result["int8_model_bytes"], result["latency_us"])


if __name__ == "__main__":
    main()

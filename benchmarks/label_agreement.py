"""Do the faster labeling backends give the teacher's answers? Compares soft-label files of the same texts.

python benchmarks/label_agreement.py runs/label-torch-fp32.npz runs/label-torch-bf16.npz runs/label-ort-fp32.npz \
    runs/label-ort-int8.npz --output benchmarks/results/label-agreement-emotion.json
(the files come from the `kdedge label` commands recorded in results/label-throughput-*.json)
"""

from __future__ import annotations

import argparse

import numpy as np

from kdedge.results import record_environment, write_json


def _load(path: str) -> tuple[np.ndarray, np.ndarray, str]:
    data = np.load(path)
    order = np.argsort(data["keys"])
    return data["keys"][order], data["logits"][order].astype(np.float32), str(data["teacher"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="soft labels of the reference backend (torch fp32)")
    parser.add_argument("others", nargs="+")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    keys, reference, teacher = _load(args.reference)
    rows = []
    for path in args.others:
        other_keys, logits, other_teacher = _load(path)
        if not np.array_equal(keys, other_keys):
            raise SystemExit(f"{path}: not the same texts as {args.reference}")
        rows.append(
            {
                "file": path,
                "teacher": other_teacher,
                "argmax_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
                "max_abs_logit_diff": float(np.abs(logits - reference).max()),
            }
        )
        row = rows[-1]
        print(f"{path}: agreement {row['argmax_agreement']:.4f}, max |logit diff| {row['max_abs_logit_diff']:.3f}")
    write_json(
        args.output,
        {"reference": args.reference, "teacher": teacher, "texts": len(keys), "compared": rows, **record_environment()},
    )


if __name__ == "__main__":
    main()

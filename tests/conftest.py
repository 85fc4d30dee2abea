"""Shared fixtures: small real subsets of ../shared/datasets, so tests run on real text in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
EMOTION = SHARED / "emotion"
SST2 = SHARED / "sst2"


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture(scope="session")
def emotion_small(tmp_path_factory) -> Path:
    """The first 2,000 train and 400 validation/test rows of Emotion, as a dataset folder."""
    if not EMOTION.is_dir():
        pytest.fail(f"{EMOTION} is missing: tests need ../shared/datasets beside the project")
    folder = tmp_path_factory.mktemp("emotion_small")
    for split, limit in (("train", 2000), ("validation", 400), ("test", 400)):
        write_jsonl(folder / f"{split}.jsonl", read_jsonl(EMOTION / f"{split}.jsonl", limit))
    return folder

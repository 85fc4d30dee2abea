"""The bundles we ship, under test: every backend and precision loads, verifies and classifies the Emotion test
split as accurately as export measured it."""

from __future__ import annotations

import json

import pytest

from conftest import EMOTION, ROOT, read_jsonl
from kdedge.runtime import MODEL_FILES, TextClassifier

SHIPPED = sorted(path for path in (ROOT / "exported").iterdir() if (path / "manifest.json").is_file())
FLOOR = 0.92  # the product's accuracy target on Emotion test


def test_something_is_shipped():
    assert SHIPPED, "exported/ holds no bundle"


@pytest.fixture(scope="module")
def emotion_test():
    rows = read_jsonl(EMOTION / "test.jsonl")
    return [r["text"] for r in rows], [r["label"] for r in rows]


@pytest.mark.parametrize("bundle", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize(("backend", "precision"), list(MODEL_FILES))
def test_shipped_bundle_scores_what_export_measured(bundle, backend, precision, emotion_test):
    manifest = json.loads((bundle / "manifest.json").read_text())
    if manifest["evaluated_on"]["name"] != "emotion":
        pytest.skip("an Emotion bundle is checked on Emotion")
    texts, labels = emotion_test
    clf = TextClassifier.load(bundle, backend, precision)
    accuracy = sum(p == y for p, y in zip(clf.predict(texts), labels)) / len(labels)
    assert accuracy >= FLOOR
    assert accuracy == pytest.approx(manifest["variants"][f"{backend}/{precision}"]["test_accuracy"], abs=1e-9)

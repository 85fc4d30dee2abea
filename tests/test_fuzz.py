"""Property-based fuzzing of the tokenizer and the runtime: any Python string, lone surrogates and control
characters included, gets ids inside the table and a probability distribution, alone as in a batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdedge.runtime import MODEL_FILES, TextClassifier

# Every code point, surrogates (category Cs) and controls included; mixed with words the model knows.
CHARACTERS = st.characters(exclude_categories=())
TEXTS = st.one_of(
    st.text(CHARACTERS, max_size=300),
    st.lists(st.sampled_from(["i", "feel", "so", "happy", "\ud800", "\u200d", "\x00", "😀🏽", "नमस्ते", "İ"])).map(
        " ".join
    ),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def classifiers(bundle):
    return {key: TextClassifier.load(bundle, *key) for key in MODEL_FILES}


@SETTINGS
@given(st.lists(TEXTS, min_size=1, max_size=6))
def test_ids_stay_inside_the_table(classifiers, texts):
    clf = classifiers["onnxruntime", "int8"]
    ids = clf.vocab.encode(texts)
    assert ids.shape[0] == len(texts) and 1 <= ids.shape[1] <= clf.vocab.max_length
    assert ids.min() >= 0 and ids.max() < len(clf.vocab)
    assert (clf.vocab.encode(texts) == ids).all()  # deterministic


@SETTINGS
@given(st.lists(TEXTS, min_size=1, max_size=6))
def test_every_backend_gives_a_distribution_alone_as_in_a_batch(classifiers, texts):
    for clf in classifiers.values():
        batch = clf.predict_proba(texts)
        assert batch.shape == (len(texts), len(clf.label_names))
        assert np.isfinite(batch).all() and np.allclose(batch.sum(1), 1, atol=1e-5)
        alone = np.concatenate([clf.predict_proba([text]) for text in texts])
        assert (alone.argmax(1) == batch.argmax(1)).all()
        assert np.allclose(alone, batch, atol=1e-4)

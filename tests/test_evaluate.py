import pytest

from kdedge.evaluate import evaluate


def test_metrics_on_a_hand_checked_example():
    result = evaluate([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(3 / 5)
    # f1(a) = 2*0.5*0.5/1 = 0.5, f1(b) = 2*(2/3)*1/(5/3) = 0.8, f1(c) = 0
    assert result["per_class_f1"] == pytest.approx({"a": 0.5, "b": 0.8, "c": 0.0})
    assert result["macro_f1"] == pytest.approx((0.5 + 0.8) / 3)
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError):
        evaluate([0, 1], [0], ["a", "b"])

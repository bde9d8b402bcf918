"""mdico_core/metrics.py: weighted F1, R², RMSE and MAE against hand computations, slow loops and sklearn.

The worked examples are small enough to check with a pencil; the loop re-computations follow the
definitions (per-class precision and recall, weighted by support) with no vectorisation, and are
compared with `score` on random data, as the loss tests compare vectorised losses with loops.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, mean_squared_error, r2_score

from mdico_core.metrics import PRIMARY, score

RNG = np.random.default_rng(0)


def one_hot(labels: list[int], k: int) -> np.ndarray:
    """Probabilities whose argmax is `labels` (not exactly one-hot, so argmax is really used)."""
    p = np.full((len(labels), k), 0.1 / (k - 1))
    p[np.arange(len(labels)), labels] = 0.9
    return p


def f1_by_hand(y: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """(weighted F1, macro F1) by loops over samples: per class TP, FP, FN, then F1, weighted by support."""
    f1s, supports = [], []
    for c in classes:
        tp = fp = fn = 0
        for t, p in zip(y, pred):
            tp += int(t == c and p == c)
            fp += int(t != c and p == c)
            fn += int(t == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        supports.append(tp + fn)
    weighted = sum(f * s for f, s in zip(f1s, supports)) / sum(supports)
    return weighted, sum(f1s) / len(f1s)


# ---------------------------------------------------------------------------------- classification
def test_multiclass_worked_example():
    # class 0: P 2/2, R 2/3, F1 0.8 (support 3); class 1: P 1/2, R 1/2, F1 0.5 (support 2);
    # class 2: P 1/2, R 1/1, F1 2/3 (support 1). Weighted: (3 * 0.8 + 2 * 0.5 + 2/3) / 6.
    y = np.array([0, 0, 0, 1, 1, 2])
    m = score("multiclass", y, one_hot([0, 0, 1, 1, 2, 2], 3))
    assert m["f1_weighted"] == pytest.approx(100 * (3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)
    assert m["f1_macro"] == pytest.approx(100 * (0.8 + 0.5 + 2 / 3) / 3)
    assert m["accuracy"] == pytest.approx(100 * 4 / 6)


def test_binary_is_weighted_over_both_classes():
    # class 0: P 1/1, R 1/2, F1 2/3 (support 2); class 1: P 2/3, R 2/2, F1 0.8 (support 2).
    y = np.array([0, 0, 1, 1])
    m = score("binary", y, one_hot([0, 1, 1, 1], 2))
    assert m["f1_weighted"] == pytest.approx(100 * (2 * 2 / 3 + 2 * 0.8) / 4)
    assert m["f1_weighted"] != pytest.approx(100 * f1_score(y, [0, 1, 1, 1]))  # not the positive class's F1


def test_a_class_never_predicted_counts_as_zero_f1_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = score("multiclass", np.array([0, 1]), one_hot([0, 0], 2))
    # class 0: P 1/2, R 1, F1 2/3 (support 1); class 1: never predicted, F1 0 (support 1)
    assert m["f1_weighted"] == pytest.approx(100 * (2 / 3) / 2)


@pytest.mark.parametrize("k", [2, 5])
def test_classification_against_loops_and_sklearn(k):
    y = RNG.integers(0, k, 300)
    probs = RNG.dirichlet(np.ones(k), 300)
    pred = probs.argmax(-1)
    m = score("binary" if k == 2 else "multiclass", y, probs)
    weighted, macro = f1_by_hand(y, pred, np.arange(k))
    assert m["f1_weighted"] == pytest.approx(100 * weighted, abs=1e-10)
    assert m["f1_macro"] == pytest.approx(100 * macro, abs=1e-10)
    assert m["f1_weighted"] == pytest.approx(100 * f1_score(y, pred, average="weighted"), abs=1e-10)
    assert m["accuracy"] == pytest.approx(100 * np.mean(y == pred))


def test_multilabel_worked_example_and_the_threshold():
    # label 0: TP 1, FP 0, FN 1 -> F1 2/3 (support 2); label 1: TP 1, FP 1, FN 0 -> F1 2/3 (support 1);
    # label 2: TP 0, FP 0, FN 1 -> F1 0 (support 1). 0.5 counts as present.
    y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    p = np.array([[0.9, 0.5, 0.1], [0.2, 0.4, 0.49], [0.1, 0.7, 0.0]])
    m = score("multilabel", y, p)
    assert m["f1_weighted"] == pytest.approx(100 * (2 * 2 / 3 + 1 * 2 / 3 + 0) / 4)
    assert m["f1_macro"] == pytest.approx(100 * (2 / 3 + 2 / 3 + 0) / 3)
    assert m["f1_micro"] == pytest.approx(100 * 2 * 2 / (2 * 2 + 1 + 2))  # TP 2, FP 1, FN 2
    assert m["accuracy"] == pytest.approx(100 / 3)  # only the first row has its exact label set


def test_multilabel_against_loops():
    y = RNG.integers(0, 2, (200, 4))
    p = RNG.random((200, 4))
    m = score("multilabel", y, p)
    pred = (p >= 0.5).astype(int)
    f1s, supports = [], []
    for j in range(4):  # each label is a binary problem; its F1 is the positive class's
        f1s.append(f1_by_hand(y[:, j], pred[:, j], np.array([1]))[0])
        supports.append(y[:, j].sum())
    assert m["f1_weighted"] == pytest.approx(100 * np.dot(f1s, supports) / np.sum(supports), abs=1e-10)
    assert m["accuracy"] == pytest.approx(100 * np.mean((pred == y).all(axis=1)))


# ---------------------------------------------------------------------------------- regression
def test_regression_worked_example():
    # residuals 0, 0, 0, -1: SS_res 1; mean 2.5, SS_tot 2.25 + 0.25 + 0.25 + 2.25 = 5; R² = 1 - 1/5
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = score("regression", y, np.array([1.0, 2.0, 3.0, 5.0]))
    assert m["r2"] == pytest.approx(0.8)
    assert m["rmse"] == pytest.approx(0.5)  # sqrt(1 / 4)
    assert m["mae"] == pytest.approx(0.25)
    assert score("regression", y, y)["r2"] == 1.0
    assert score("regression", y, np.full(4, 2.5))["r2"] == pytest.approx(0.0)  # the mean explains nothing
    assert score("regression", y, np.full(4, 10.0))["r2"] < 0  # worse than the mean


def test_regression_against_loops_and_sklearn():
    y = RNG.normal(100, 30, 500)
    pred = y + RNG.normal(0, 10, 500)
    m = score("regression", y, pred)
    mean = sum(y) / len(y)
    ss_res = sum((t - p) ** 2 for t, p in zip(y, pred))
    ss_tot = sum((t - mean) ** 2 for t in y)
    assert m["r2"] == pytest.approx(1 - ss_res / ss_tot, rel=1e-10)
    assert m["rmse"] == pytest.approx((ss_res / len(y)) ** 0.5, rel=1e-10)
    assert m["mae"] == pytest.approx(sum(abs(t - p) for t, p in zip(y, pred)) / len(y), rel=1e-10)
    assert m["r2"] == pytest.approx(r2_score(y, pred)) and m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, pred)))
    assert all(isinstance(v, float) for v in m.values())  # JSON-ready, not numpy scalars


# ---------------------------------------------------------------------------------- the contract
def test_every_task_reports_its_primary_metric_and_unknown_tasks_are_refused():
    y_cls, p_cls = np.array([0, 1, 1]), one_hot([0, 1, 0], 2)
    inputs = {"binary": (y_cls, p_cls), "multiclass": (y_cls, p_cls),
              "multilabel": (np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.1], [0.2, 0.8]])),
              "regression": (np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.5, 3.0]))}
    assert set(inputs) == set(PRIMARY)
    for task, (y, p) in inputs.items():
        assert PRIMARY[task] in score(task, y, p)
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        score("ranking", y_cls, p_cls)

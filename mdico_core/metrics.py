"""Evaluation metrics (paper Sec. 4.3): weighted F1 for classification, R² for regression.

Predictions are probabilities (classification: argmax; multilabel: threshold 0.5) or values in
target units (regression), as returned by ``Method.predict``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

PRIMARY = {"binary": "f1_weighted", "multiclass": "f1_weighted", "multilabel": "f1_weighted", "regression": "r2"}


def score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every metric of `task`; the paper's headline one is ``PRIMARY[task]``.

    F1 values are percentages, as in the paper's tables; R² is a fraction.
    """
    if task in ("binary", "multiclass"):
        labels = y_pred.argmax(-1)
        return {
            "f1_weighted": 100 * f1_score(y_true, labels, average="weighted", zero_division=0),
            "f1_macro": 100 * f1_score(y_true, labels, average="macro", zero_division=0),
            "accuracy": 100 * accuracy_score(y_true, labels),
        }
    if task == "multilabel":
        labels = (y_pred >= 0.5).astype(int)
        yt = y_true.astype(int)
        return {
            "f1_weighted": 100 * f1_score(yt, labels, average="weighted", zero_division=0),
            "f1_macro": 100 * f1_score(yt, labels, average="macro", zero_division=0),
            "f1_micro": 100 * f1_score(yt, labels, average="micro", zero_division=0),
            "accuracy": 100 * accuracy_score(yt, labels),  # exact match of the label set
        }
    if task == "regression":
        return {
            "r2": float(r2_score(y_true, y_pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "mae": float(mean_absolute_error(y_true, y_pred)),
        }
    raise ValueError(f"unknown task {task!r}")

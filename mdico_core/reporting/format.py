"""How numbers and tables are written on a page: one decimal rule, and the notebook display helpers.

The decimal rule (`metric_digits`) is the only one in the package: tables, figures, prose and
``mdico table`` all print a metric with the same number of decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.stats import MIN_PAIRS

# R² is a fraction and the paper prints it with 3 decimals; F1 and accuracy are percentages and
# the paper prints 1. RMSE and MAE are in target units (LFMC: percent moisture content), where one
# decimal, like F1's, is below the spread over folds.
DIGITS = {"r2": 3}
DEFAULT_DIGITS = 1


def metric_digits(metric: str | None) -> int:
    """Decimals of `metric` everywhere in the book: 3 for R², 1 for F1 (%), accuracy, RMSE and MAE."""
    return DIGITS.get(str(metric), DEFAULT_DIGITS)


def _missing(v: Any) -> bool:
    try:
        return v is None or not np.isfinite(float(v))
    except (TypeError, ValueError):
        return True


def fmt_mean_std(mean: float | None, std: float | None, digits: int = 1, n: int | None = None) -> str:
    """``"73.5 ± 1.2"``; ``"–"`` for a missing mean. No std from fewer than `MIN_PAIRS` runs: with
    `n` given below it, ``"73.5 (n = 1)"``; ``"73.5"`` when `std` is NaN / None."""
    if _missing(mean):
        return "–"
    if n is not None and n < MIN_PAIRS:
        return f"{mean:.{digits}f} (n = {n})"
    if _missing(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_value(value: float | None, digits: int = 1, signed: bool = False) -> str:
    """A number with `digits` decimals, ``"–"`` when missing; ``+`` shown when `signed`."""
    if _missing(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_p(p: float | None, n: int | None = None) -> str:
    """A p-value as the tables print it (``"<0.001"``, ``"0.043"``, ``"–"`` when untestable);
    ``"n = 3"`` when `n` paired runs are fewer than `MIN_PAIRS`."""
    if n is not None and n < MIN_PAIRS:
        return f"n = {n}"
    if _missing(p):
        return "–"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def fmt_prob(p: float | None, n: int | None = None) -> str:
    """A posterior probability with two decimals; ``"n = 3"`` below `MIN_PAIRS` runs."""
    if n is not None and n < MIN_PAIRS:
        return f"n = {n}"
    return "–" if _missing(p) else f"{p:.2f}"


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


# ---------------------------------------------------------------------------------- notebook display
def table(df: pd.DataFrame, caption: str = "", digits: int | None = None) -> Any:
    """`df` styled for the book: no index column, cells unwrapped, floats with `digits` decimals
    (None: their shortest form), missing values blank."""
    out = df.copy()
    spec = "g" if digits is None else f".{digits}f"
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [("" if not np.isfinite(v) else format(v, spec)) for v in out[c]]
    out = out.astype(object).where(out.notna(), "")
    st = out.style.hide(axis="index").set_table_styles(
        [{"selector": "td, th", "props": "white-space: nowrap; padding: 0.1em 0.5em;"}])
    return st.set_caption(caption) if caption else st


def show_markdown(text: str) -> None:
    """Display Markdown in a notebook (falls back to print outside IPython)."""
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # pragma: no cover - plain Python
        print(text)


def show(fig: Any, caption: str = "") -> None:
    """Display a matplotlib figure, close it, then its caption (Markdown) below it."""
    import matplotlib.pyplot as plt

    try:
        from IPython.display import display

        display(fig)
    except ImportError:  # pragma: no cover - plain Python
        pass
    plt.close(fig)
    if caption:
        show_markdown(f"**Figure.** {caption}")


def glue_text(key: str, text: str) -> None:
    """Glue `text` under `key` for ``{glue:text}`key``` in the page's prose (no output shown).

    The text is glued as a Python string: myst-nb evaluates the stored repr, so ``"1.000"`` stays
    ``1.000`` (a glued number, or an unquoted repr, would be re-printed as ``1.0``).
    """
    from myst_nb import glue

    glue(key, str(text), display=False)

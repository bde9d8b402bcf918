"""How numbers and tables are written on a page: one decimal rule, and the notebook display helpers.

The decimal rule (`metric_digits`) is the only one in the package: tables, figures, prose and
``mdico table`` all print a metric with the same number of decimals.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.core.stats import MIN_PAIRS

# R² is a fraction and the paper prints it with 3 decimals; F1 and accuracy are percentages and
# the paper prints 1. RMSE and MAE are in target units (LFMC: percent moisture content), where one
# decimal, like F1's, is below the spread over folds.
DIGITS = {"r2": 3, "neighbour_score": 3, "pair_retrieval": 3}  # the feature measures: fractions, as R²
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


def fmt_interval(mean: float, lo: float, hi: float, digits: int) -> str:
    """``"+0.003 [−0.032, +0.038]"``; "–" without an estimate. Never cut to the metric's range. The
    interval itself never breaks (a no-break space after its comma); a narrow column may put it on a
    second line, under the estimate."""
    if _missing(mean):
        return "–"
    if _missing(lo) or _missing(hi):
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} [{lo:+.{digits}f},\u00a0{hi:+.{digits}f}]"


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


# ---------------------------------------------------------------------------------- page geometry
# The content column of a book page at a desktop window (1280 px; book/_static/mdico.css gives the
# article the page-contents sidebar's width), in CSS pixels: tables must fit in it. Figures are
# drawn narrower, at FIGURE_PX, and show at 1:1 (`show`): their fonts are set for that width.
COLUMN_PX = 948
FIGURE_PX = 676
PAGE_ROWS = 40  # an interactive table pages only above this many rows: a reader sees the whole of a usual table
CSS_DPI = 96  # CSS pixels per inch: a figure FIGURE_PX / CSS_DPI inches wide shows at its drawn size
PNG_SCALE = 2  # figures are rendered at 2x their CSS size, for sharp text on high-density screens
MIN_FONT_PT = 9  # the smallest text of a figure, as the reader sees it
# The book's matplotlib style (`plots` draws under it, `show` renders under it).
STYLE: dict[str, Any] = {
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT, "figure.titlesize": 11,
    "legend.title_fontsize": MIN_FONT_PT, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": CSS_DPI,
}

# Axis labels and prose name metrics in words, not by their column names.
METRIC_LABELS = {
    "f1_weighted": "weighted F1 (%)", "f1_macro": "macro F1 (%)", "f1_micro": "micro F1 (%)",
    "accuracy": "accuracy (%)", "r2": "R²", "rmse": "RMSE", "mae": "MAE",
    "neighbour_score": "k-NN score of the features", "pair_retrieval": "pair retrieval (top-1)",
}


def metric_label(metric: str | None) -> str:
    """A metric's name in words for axes and prose (``"f1_weighted"`` -> ``"weighted F1 (%)"``);
    other text is returned unchanged."""
    return METRIC_LABELS.get(str(metric), "" if metric is None else str(metric))


# ---------------------------------------------------------------------------------- tables
# How a table is laid out to fit the column. A cell text longer than FOOTNOTE_CHARS becomes a
# numbered note below the table; a column with a text longer than WRAP_CHARS may wrap at spaces,
# the others never wrap (numbers stay whole). A browser shrinks a table down to its min-content
# width before it overflows, so `estimated_width` adds up the unbreakable widths (CHAR_PX per
# character of the tables' 0.875 em font, CELL_PX of padding per column); the browser test in
# tests/test_book.py measures the real rendering. A table still wider than the column becomes
# an interactive table (itables, offline: the book needs no internet).
FOOTNOTE_CHARS = 48
WRAP_CHARS = 16
CHAR_PX = 8.0
CELL_PX = 14.0
_ITABLES_LOADED = False  # the offline DataTables code is written once per notebook (kernel), before its first table


def _cell_text(v: Any, spec: str) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else format(float(v), spec)
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v)


def _footnoted(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, list[str]]:
    """`frame` with every cell text longer than `limit` replaced by ``[k]``; the k-th note is that text."""
    notes: list[str] = []
    out = frame.copy()
    for j in range(out.shape[1]):
        col = out.iloc[:, j].tolist()
        for i, text in enumerate(col):
            if len(text) > limit:
                if text not in notes:
                    notes.append(text)
                col[i] = f"[{notes.index(text) + 1}]"
        out.iloc[:, j] = col
    return out, notes


def _header_words(col: Any) -> int:
    last = col[-1] if isinstance(col, tuple) else col
    return max((len(w) for w in str(last).split()), default=0)


def _wraps(texts: list[str]) -> bool:
    """Does a column wrap: it has a text (two words or more) longer than `WRAP_CHARS`, or an estimate
    with its interval (`fmt_interval`, which breaks before the interval only); a number with its
    spread (``"73.5 ± 1.2 (n = 3)"``) never wraps."""
    return any(len(t) > WRAP_CHARS and (len(re.findall(r"[^\W\d_]{2,}", t)) >= 2 or " [" in t) for t in texts)


def estimated_width(frame: pd.DataFrame) -> float:
    """The narrowest width in CSS pixels `frame` (cells as text) can take in the book: unwrapped
    columns at their longest cell, wrapping ones at their longest word, headers at their longest
    word."""
    total = 0.0
    for j, col in enumerate(frame.columns):
        texts = [str(t) for t in frame.iloc[:, j]]
        if _wraps(texts):
            chars = max((len(w) for t in texts for w in t.split(" ")), default=0)  # a no-break space holds
        else:
            chars = max((len(t) for t in texts), default=0)
        total += max(chars, _header_words(col)) * CHAR_PX + CELL_PX
    return total


CAPTION_LINES = 3  # a caption longer than this many lines at its table's width goes above the table instead


def caption_squeezed(frame: pd.DataFrame, caption: str) -> bool:
    """Whether `caption` would take more than `CAPTION_LINES` lines at the widest `frame` can be (every cell
    on one line): a table's caption cannot be wider than the table."""
    widest = sum(max([len(str(t)) for t in frame.iloc[:, j]] + [len(str(c))]) * CHAR_PX + CELL_PX
                 for j, c in enumerate(frame.columns))
    return len(caption) * CHAR_PX > CAPTION_LINES * widest


@dataclass
class BookTable:
    """A table as a page shows it: its cells as text, a caption, the notes below it, and whether it
    is too wide for the column and is shown as an interactive (scrollable, sortable) table.

    Displayed in a notebook through `_repr_html_`; ``str()`` gives plain text.
    """

    frame: pd.DataFrame
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    interactive: bool = False

    def _table_id(self) -> str:
        # stable across builds (a committed page does not change when nothing in it changed)
        key = self.caption + self.frame.to_csv(index=False)
        return "T_" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]

    def _notes_html(self) -> str:
        if not self.notes:
            return ""
        items = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return f'<ol class="mdico-table-notes" style="font-size: 0.85em; margin-top: 0.3em;">{items}</ol>'

    def to_html(self) -> str:
        """The table's HTML: a plain table, or an offline interactive one, then its numbered notes."""
        return (self._interactive_html() if self.interactive else self._plain_html()) + self._notes_html()

    _repr_html_ = to_html

    def __str__(self) -> str:
        lines = [self.caption] if self.caption else []
        lines.append(self.frame.to_string(index=False))
        lines += [f"[{k}] {n}" for k, n in enumerate(self.notes, 1)]
        return "\n".join(lines)

    def _plain_html(self) -> str:
        styles = [{"selector": "", "props": "font-size: 0.875em;"},
                  {"selector": "td, th", "props": "padding: 0.1em 0.4em; vertical-align: top;"},
                  {"selector": "th", "props": "white-space: normal;"},
                  {"selector": "caption", "props": "caption-side: top; text-align: left;"}]
        for j in range(self.frame.shape[1]):
            wraps = _wraps([str(t) for t in self.frame.iloc[:, j]])
            styles.append({"selector": f"td.col{j}", "props": "white-space: normal; overflow-wrap: break-word;"
                           if wraps else "white-space: nowrap;"})
        st = self.frame.style.hide(axis="index").set_table_styles(styles).set_uuid(self._table_id()[2:])
        if self.caption and caption_squeezed(self.frame, self.caption):
            # a <caption> is as wide as its table: above a narrow one it would run down a thin column
            return (f'<p class="mdico-table-caption" style="font-size: 0.875em; margin-bottom: 0.3em;">'
                    f"{html.escape(self.caption)}</p>" + st.to_html())
        if self.caption:
            st = st.set_caption(self.caption)
        return st.to_html()

    def _interactive_html(self) -> str:
        global _ITABLES_LOADED
        from itables import options as itables_options
        from itables import to_html_datatable
        from itables.javascript import generate_init_offline_itables_html

        head = ""
        if not _ITABLES_LOADED:
            head = generate_init_offline_itables_html(itables_options.dt_bundle)
            _ITABLES_LOADED = True
        body = to_html_datatable(self.frame, caption=self.caption or None, connected=False, table_id=self._table_id(),
                                 scrollX=True, paging=len(self.frame) > PAGE_ROWS, showIndex=False,
                                 classes="display compact", display_logo_when_loading=False,
                                 style="table-layout:auto;width:auto;margin:0;caption-side:top;font-size:0.875em")
        return head + body


def table(df: pd.DataFrame, caption: str = "", digits: int | None = None, width_px: float = COLUMN_PX) -> BookTable:
    """`df` as the book shows it: no index column, floats with `digits` decimals (None: their
    shortest form), missing values blank, a column with one value in every row said once in the
    caption, long cell texts as numbered notes below the table, and an interactive table
    (itables, offline) when it is still wider than `width_px`."""
    spec = "g" if digits is None else f".{digits}f"
    frame = pd.DataFrame({i: [_cell_text(v, spec) for v in df.iloc[:, i]] for i in range(df.shape[1])})
    frame.columns = df.columns.copy()
    frame.columns.names = [None] * frame.columns.nlevels  # a columns' name is not a header row
    frame, caption = _constants_in_caption(frame, caption)
    frame, notes = _footnoted(frame, FOOTNOTE_CHARS)
    return BookTable(frame, caption, notes, interactive=estimated_width(frame) > width_px)


def _constants_in_caption(frame: pd.DataFrame, caption: str) -> tuple[pd.DataFrame, str]:
    """Columns with one value in every row (of several) said once in the caption, not in every row;
    empty ones dropped."""
    if len(frame) < 2 or frame.shape[1] < 2:
        return frame, caption
    keep, said, none = [], [], []
    for j, col in enumerate(frame.columns):
        values = set(frame.iloc[:, j])
        name = " ".join(str(c) for c in col if str(c)) if isinstance(col, tuple) else str(col)
        if len(values) > 1:
            keep.append(j)
        elif values == {"–"}:  # a column with no value at all
            none.append(name)
        elif values != {""}:
            said.append(f"{name}: {values.pop()}")
    if not keep:
        return frame, caption
    if none:
        said.insert(0, f"no {' or '.join(none)} here")
    text = "; ".join(said)
    caption = f"{caption.rstrip('.')} ({text})." if caption and text else (caption or text)
    return frame.iloc[:, keep], caption


def show_markdown(text: str) -> None:
    """Display Markdown in a notebook (falls back to print outside IPython); nothing for empty text (an empty
    Markdown output would show as its text/plain repr, "<IPython.core.display.Markdown object>")."""
    if not str(text).strip():
        return
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # pragma: no cover - plain Python
        print(text)


def show_failures(*frames: pd.DataFrame) -> None:
    """The runs that failed or could not be reproduced (``failures()`` frames of pages: run, status,
    message), one line each, nothing when there are none; runs that failed alike are already one row."""
    rows = [r for f in frames for r in f.itertuples(index=False)]
    if rows:
        show_markdown("**Runs that failed or could not be reproduced**\n\n" + "\n".join(
            f"- `{r.run}` ({str(r.status).replace('_', ' ')}): {r.message}" for r in rows))


def show_box(title: str, body: str, kind: str = "warning") -> None:
    """A visible box on the page (the book theme's admonition, `kind` "warning" / "note") headed
    `title`, around `body` (Markdown): what a page cannot show, and the command or data that would
    produce it."""
    show_markdown(f'<div class="admonition {kind}">\n<p class="admonition-title">{html.escape(title)}</p>\n\n'
                  f"{body.strip()}\n\n</div>")


def show(fig: Any, caption: str = "") -> None:
    """Display a matplotlib figure at its drawn size, close it, then its caption (Markdown) below it.

    The figure is rendered at `PNG_SCALE` times its CSS size, without tight-bbox cropping, and
    shown `figwidth * CSS_DPI` CSS pixels wide: a figure from `plots.figure_size` (the column's
    width) shows at 1:1, so a 9 pt tick label reads as 9 pt.
    """
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with plt.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=CSS_DPI * PNG_SCALE, facecolor="white")
    width = round(fig.get_figwidth() * CSS_DPI)
    plt.close(fig)
    try:
        from IPython.display import Image, display

        display(Image(data=buf.getvalue(), format="png", width=width))
    except ImportError:  # pragma: no cover - plain Python
        pass
    if caption:
        show_markdown(f"**Figure.** {caption}")


def glue_text(key: str, text: str) -> None:
    """Glue `text` under `key` for ``{glue:text}`key``` in the page's prose (no output shown).

    The text is glued as a Python string: myst-nb evaluates the stored repr, so ``"1.000"`` stays
    ``1.000`` (a glued number, or an unquoted repr, would be re-printed as ``1.0``).
    """
    from myst_nb import glue

    glue(key, str(text), display=False)


def span_words(counts: Sequence[int] | pd.Series) -> str:
    """Counts in words: ``"50"`` when all equal, else ``"45–50"`` (never "50–50")."""
    lo, hi = int(min(counts)), int(max(counts))
    return str(lo) if lo == hi else f"{lo}–{hi}"


def span(values: Sequence[int]) -> str:
    """``0–9`` for a run of consecutive integers, else ``0, 2, 5``."""
    v = sorted(set(values))
    return f"{v[0]}–{v[-1]}" if len(v) > 2 and v == list(range(v[0], v[-1] + 1)) else ", ".join(map(str, v))

"""What replicates, in words: the ledger of ``findings`` as the book's page and ``mdico findings`` print it
(tables, the headline, the rule, each claim's section), in Markdown and in HTML."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.book.archive import held_words
from mdico_core.reporting.claims.findings import (
    CLAIMS,
    FAILED_SCORE,
    POWER,
    WORDS,
    Claim,
    direction_of,
    headline,
    summary,
)
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.format import fmt_interval, metric_label

VIEW_NAMES = {"L8": "Landsat-8", "S1": "Sentinel-1"}


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float, np.floating)) and bool(np.isfinite(v))


def dropped_words(row: Any) -> str:
    """Where a run that failed twice enters the comparison: its verdict were that run dropped instead."""
    if not row["n_failed"] or row.get("verdict_if_dropped") is None:
        return ""
    same = row["verdict_if_dropped"] == row["verdict"]
    return (f"{int(row['n_failed'])} failed run counted as R² {FAILED_SCORE.get(row['metric'], np.nan):g}; "
            f"dropped, {'the verdict is the same' if same else 'it would be ' + str(row['verdict_if_dropped'])}")


def format_ledger(table: pd.DataFrame) -> pd.DataFrame:
    """The ledger as a page (and ``mdico findings``) prints it: one short row per comparison, every number at
    its claim's family level (the interval, p, MDE and power), the verdict in `findings.WORDS`' words."""
    from mdico_core.reporting.core.format import fmt_p, metric_digits

    rows = []
    for _, r in table.iterrows():
        dg = metric_digits(r["metric"])
        if not _finite(r["paper"]) or r["context"] != "paper":
            # no number of the paper for this place (or one of other data): the claim's sign is what it says
            paper_txt = "higher" if r["direction"] > 0 else "lower" if r["direction"] < 0 else "–"
        else:
            paper_txt = f"{r['paper']:.{dg}f}" if r["level"] else f"{r['paper']:+.{dg}f}"
        if r["level"]:
            ours = "–" if not _finite(r["mean"]) else f"{r['mean']:.{dg}f} [{r['lo']:.{dg}f}, {r['hi']:.{dg}f}]"
        else:
            ours = fmt_interval(r["mean"], r["lo"], r["hi"], dg)
        if not _finite(r["q1_mean"]):
            q1 = "–"
        elif r["level"]:
            q1 = f"{r['q1_mean']:.{dg}f} [{r['q1_lo']:.{dg}f}, {r['q1_hi']:.{dg}f}]: {r['q1_verdict']}"
        else:
            q1 = f"{fmt_interval(r['q1_mean'], r['q1_lo'], r['q1_hi'], dg)}: {r['q1_verdict']}"
        power = ("–" if r["level"] or not _finite(r["mde"]) else
                 f"MDE {r['mde']:.{dg}f}" + ("" if not _finite(r["power_paper"])
                                             else f"; {r['power_paper']:.0%} power at the paper's value"))
        # ", against Individual (MLP)": a comma, not "(vs Individual (MLP))", which nests its parentheses
        vs = (f", against {r['ref_short']}" if r["ref_short"] and not r["level"] and "vs" not in r["place"]
              and not r.get("ref_archive") else "")
        note = f" [{r['note']}]" if r.get("note") else ""
        words = r["words"] + (f" ({dropped_words(r)})" if dropped_words(r) else "")
        rows.append({"claim": r["claim"], "where": r["place"] + vs + note, "paper": paper_txt,
                     "ours [family CI]": ours, "n": r["n"], "as collected (Q1)": q1,
                     "p (adj.)": fmt_p(r["p_adj"], r["n"]) if not r["level"] else "", "power": power,
                     "verdict": words})
    return pd.DataFrame(rows)


def what_would_decide(row: Any) -> str:
    """For an inconclusive comparison: the runs at which the MDE (at the verdict's level) reaches the paper's
    value, or why no number of repeats does."""
    if not _finite(row["paper"]):
        return ""
    alpha = 1 - row.get("family_level", 1 - stats.ALPHA)
    n = row["runs_to_decide"]
    if n is None or (isinstance(n, float) and not np.isfinite(n)):
        words = "no number of repeats of this cross-validation"
        if _finite(row["sd"]) and _finite(row["ratio"]):  # the corrected variance keeps sd² n_test/n_train
            from mdico_core.reporting.core.format import metric_digits

            dg = metric_digits(row["metric"])
            floor = stats.mde(row["sd"] * np.sqrt(row["ratio"]), 10**6, alpha, target_power=POWER)
            words += (f" under the Nadeau–Bengio approximation: the smallest difference it detects with "
                      f"{POWER:.0%} power at the verdict's level stays above {floor:.{dg}f} however many are run "
                      f"(the paper's is {row['paper']:+.{dg}f})")
        return words
    return f"about {int(n)} paired runs would detect the paper's value with {POWER:.0%} power at the verdict's level"


# ---------------------------------------------------------------------------------- words
_Q1_WORDS = {"as claimed": "a gain is detected", "reversed": "a loss is detected", "differs": "a difference is "
             "detected", "nil": "the difference is practically nil", "not detected": "no difference is detected"}


def headline_text(table: pd.DataFrame) -> str:
    """The book's answer: MDiCo vs Individual on LFMC, the paper's data, as two plain sentences, one per
    question (Q1: LFMC as collected; Q2: a new dataset of this kind)."""
    from mdico_core.reporting.core.format import metric_digits

    h = headline(table)
    if not h:
        return "No archive of the paper's data is here, so no claim is tested on it."
    rows = list(h.items())
    r0 = rows[0][1]
    dg = metric_digits(r0["metric"])
    level = f"{r0['family_level']:.1%}".replace(".0%", "%")
    q1 = [(v, r) for v, r in rows if _finite(r["q1_mean"])]
    text = ""
    if q1:
        states = {direction_of(r["q1_lo"], r["q1_hi"], r["direction"], r["rope"]) for _, r in q1}
        said = _Q1_WORDS[states.pop()] if len(states) == 1 else "the views differ"
        text += ("Q1, LFMC as collected: MDiCo minus Individual is "
                 + " and ".join(f"{fmt_interval(r['q1_mean'], r['q1_lo'], r['q1_hi'], dg)} R² on "
                                f"{VIEW_NAMES.get(v, v)}" for v, r in q1)
                 + f" over the {r0['q1_n']} seeds of the paper's cross-validation at {level}; {said}. ")
    verdicts = {r["words"] for _, r in rows}
    said = verdicts.pop().split(": ", 1)[-1] if len(verdicts) == 1 else "; ".join(
        f"{VIEW_NAMES.get(v, v)}: {r['words']}" for v, r in rows)
    text += (f"Q2, a new dataset of this kind, by the Nadeau–Bengio approximation over {r0['n']} paired runs: "
             + " and ".join(fmt_interval(r["mean"], r["lo"], r["hi"], dg) for _, r in rows)
             + " against the paper's " + " and ".join(f"{r['paper']:+.{dg}f}" for _, r in rows) + f"; {said}.")
    return text.replace("\u00a0", " ")


def headline_decide(table: pd.DataFrame) -> str:
    """What would decide the headline's comparisons, and what its runs hold (for the line under it)."""
    h = headline(table)
    parts = [f"{VIEW_NAMES.get(v, v)}: {what_would_decide(r)}" for v, r in h.items()
             if r["verdict"] == "inconclusive" and what_would_decide(r)]
    return ("What would decide it: " + "; ".join(parts) + ".") if parts else ""


def summary_markdown(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> str:
    """The claims, one row each, with their verdicts counted and a link to the page of the evidence."""
    from mdico_core.reporting.core.format import to_markdown

    s = summary(table, claims)
    s["evidence"] = [f"[{p}]({p}.html)" for p in s["page"]]
    s["claim"] = [f"[{c}](#{c.lower()})" for c in s["claim"]]
    return to_markdown(s[["claim", "what", "source", "verdicts", "not testable here", "evidence"]])


def _family_words(rows: pd.DataFrame) -> str:
    m = int(rows["family_m"].iloc[0]) if len(rows) else 0
    if m == 0:  # no family to speak of: say why, not "the 0 tested comparisons"
        return f"no comparison of this claim is tested here (none has {stats.MIN_PAIRS} paired runs)"
    level = f"{rows['family_level'].iloc[0]:.2%}" if len(rows) else ""
    return (f"one family of the {m} tested comparisons of this claim: every interval at {level}, p multiplied by "
            f"{m} (Bonferroni), MDE and power at that level")


def claim_markdown(claim: Claim, table: pd.DataFrame) -> str:
    """One claim's section: the paper's words, its comparisons tested, and where it cannot be tested."""
    from mdico_core.reporting.core.format import to_markdown

    rows = table[table["claim"] == claim.id]
    shown = format_ledger(rows).drop(columns=["claim"])
    metrics = ", ".join(metric_label(m) for m in dict.fromkeys(rows["metric"]))
    lines = [f"({claim.id.lower()})=", f"### {claim.id}: {claim.claim}", "",
             f"> {claim.quote} ({claim.source})", "",
             f"Metric: {metrics}; {_family_words(rows)}; evidence on "
             f"[{claim.page}]({claim.page}.html). Archives: "
             + "; ".join(held_words(a) for a in dict.fromkeys(rows["archive"])) + ".", "",
             to_markdown(shown), ""]
    undecided = rows[(rows["verdict"] == "inconclusive") & rows["power_paper"].notna()]
    if len(undecided):
        lines.append("Where the verdict is inconclusive on the paper's data, what would decide it: "
                     + "; ".join(f"{r['place']}: {what_would_decide(r)}" for _, r in undecided.iterrows()) + ".")
    if claim.untestable:
        lines.append("Not testable here: " + "; ".join(claim.untestable) + ".")
    return "\n".join(lines)


def rule_markdown() -> str:
    """The verdict rule, in words, with its constants from the code."""
    return (f"**The rule** (`findings.WORDS`, one table of {len(WORDS)} cells). Two axes that cannot overlap. "
            "*Direction*, from the claim's family interval: a difference in the paper's direction is detected (the "
            "interval excludes 0 on that side), a reversal is, the difference is practically nil (the interval lies "
            "inside ±ROPE), or nothing is. *Size*, where the paper prints a value on its own data: the paper's value "
            "is consistent with ours, or ruled out (ours smaller or larger). The paper prints no spread, yet its "
            "value is a mean of runs like ours: its standard error is taken as ours, and its rounding is an interval; "
            "a size ruled out only if the paper's value were exact is *borderline*. **One family per claim**: the m "
            f"tested comparisons of a claim share α = {stats.ALPHA}, so every interval is at 1 − α/m, every p is "
            "multiplied by m (Bonferroni: a verdict never contradicts the interval beside it), and the MDE and the "
            f"power are at α/m. **Failed runs count**: a run that failed twice the same way enters with R² "
            f"{FAILED_SCORE['r2']:g} (a constant prediction at the test mean), and the verdict with that run dropped "
            f"is given beside. Below {stats.MIN_PAIRS} paired runs: *not tested*. On a stand-in, another benchmark "
            "or data beyond the paper the same rule says *holds* / *fails*: a stand-in never replicates a claim. A "
            "level (L1) has the size axis only. **Two questions**: the verdict answers Q2, whether the difference "
            "would hold on a new dataset of this kind, with the Nadeau–Bengio variance (1/n + n_test/n_train) s², "
            "an approximation derived for random splits; *as collected (Q1)* answers whether it holds on this "
            "dataset as collected, averaged over training seeds and partitions: a t interval on the per-seed means "
            "over the folds.")


# ---------------------------------------------------------------------------------- the page's HTML
def _escaped(text: str) -> str:
    """`text` escaped for HTML, its Markdown code spans (`x`) as <code>: raw HTML shows no Markdown."""
    import html
    import re

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _html_table(df: pd.DataFrame, links: dict[str, pd.Series] | None = None, caption: str = "") -> str:
    """A plain HTML table (every row shown, no paging), cells escaped, `links` columns as anchors."""
    import html

    links = links or {}
    nowrap = {"paper", "ours [family CI]", "as collected (Q1)", "n", "p (adj.)"}  # numbers and intervals are read whole
    head = "".join(f'<th style="padding: 0.15em 0.5em; text-align: left;">{html.escape(str(c))}</th>'
                   for c in df.columns)
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for col, v in zip(df.columns, row):
            text = _escaped("" if v is None or (isinstance(v, float) and v != v) else str(v))
            if col in links:
                text = f'<a href="{html.escape(str(links[col].iloc[i]))}">{text}</a>'
            style = "padding: 0.15em 0.5em; vertical-align: top;" + (" white-space: nowrap;" if col in nowrap else "")
            cells.append(f'<td style="{style}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="mdico-findings" style="font-size: 0.875em; border-collapse: collapse;">{cap}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def summary_html(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> str:
    """`summary_markdown` as the page shows it: every claim on one screen, each linked to its section
    and to the page of its evidence."""
    from mdico_core.reporting.claims.glance import claim_sentence

    s = summary(table, claims)
    shown = pd.DataFrame({"claim": s["claim"], "the answer": [claim_sentence(c, table) for c in claims],
                          "evidence": s["source"]})
    return _html_table(shown, {"claim": "#claim-" + s["claim"].str.lower(), "evidence": s["page"] + ".html"})


def claim_html(claim: Claim, table: pd.DataFrame) -> str:
    """`claim_markdown` as the page shows it (HTML: a plain table, an anchor per claim)."""
    import html

    rows = table[table["claim"] == claim.id]
    shown = format_ledger(rows).drop(columns=["claim"])
    metrics = ", ".join(metric_label(m) for m in dict.fromkeys(rows["metric"]))
    parts = [f'<h3 id="claim-{claim.id.lower()}">{html.escape(claim.id)}: {html.escape(claim.claim)}</h3>',
             f"<blockquote>{_escaped(claim.quote)} ({_escaped(claim.source)})</blockquote>",
             f"<p>Metric: {html.escape(metrics)}; {html.escape(_family_words(rows))}; "
             f'evidence on <a href="{claim.page}.html">{html.escape(claim.page)}</a>. Archives: '
             + "; ".join(html.escape(held_words(a, code=False)) for a in dict.fromkeys(rows["archive"]))
             + ".</p>", _html_table(shown)]
    undecided = rows[(rows["verdict"] == "inconclusive") & rows["power_paper"].notna()]
    if len(undecided):
        parts.append("<p>Inconclusive on the paper's data. What would decide it: " + html.escape("; ".join(f"{r['place']}: {what_would_decide(r)}"
                                                              for _, r in undecided.iterrows())) + ".</p>")
    if claim.untestable:
        parts.append("<p>Not testable here: " + _escaped("; ".join(claim.untestable)) + ".</p>")
    return "\n".join(parts)

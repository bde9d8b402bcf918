"""What replicates, in words: the ledger of ``findings`` as the book's page and ``mdico findings`` print it
(tables, the headline, the rule, each claim's section), in Markdown and in HTML."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting import stats
from mdico_core.reporting.archive import held_words
from mdico_core.reporting.findings import CLAIMS, EQUIVALENT_PROB, POWER, Claim, headline, summary
from mdico_core.reporting.format import fmt_interval, metric_label


def format_ledger(table: pd.DataFrame) -> pd.DataFrame:
    """The ledger as a page (and ``mdico findings``) prints it: one short row per comparison."""
    from mdico_core.reporting.format import fmt_p, metric_digits

    rows = []
    for r in table.itertuples():
        dg = metric_digits(r.metric)
        if r.paper is None or not np.isfinite(r.paper) or r.context != "paper":
            # no number of the paper for this place (or one of other data): the claim's sign is what it says
            paper_txt = "higher" if r.direction > 0 else "lower" if r.direction < 0 else "–"
        else:
            paper_txt = f"{r.paper:.{dg}f}" if r.level else f"{r.paper:+.{dg}f}"
        if r.level:
            ours = "–" if not np.isfinite(r.mean) else f"{r.mean:.{dg}f} [{r.lo:.{dg}f}, {r.hi:.{dg}f}]"
        else:
            ours = fmt_interval(r.mean, r.lo, r.hi, dg)
        power = ("–" if r.level or not np.isfinite(r.mde) else
                 f"MDE {r.mde:.{dg}f}" + ("" if not np.isfinite(r.power_paper) else f"; {r.power_paper:.0%} for paper's"))
        vs = f" (vs {r.ref_short})" if r.ref_short and not r.level and "vs" not in r.place else ""
        rows.append({"claim": r.claim, "where": r.place + vs,
                     "paper": paper_txt, "ours [95% CI]": ours, "n": r.n,
                     "p (Holm)": fmt_p(r.p_holm, r.n) if not r.level else "", "power": power, "verdict": r.verdict})
    return pd.DataFrame(rows)


def what_would_decide(row: Any) -> str:
    """For an inconclusive comparison: the runs at which the MDE reaches the paper's value, or why none do."""
    if row["paper"] is None or not np.isfinite(row["paper"]):
        return ""
    n = row["runs_to_decide"]
    if n is None or (isinstance(n, float) and not np.isfinite(n)):
        words = "no number of repeats of this cross-validation"
        if np.isfinite(row["sd"]) and np.isfinite(row["ratio"]):  # the corrected variance keeps sd² n_test/n_train
            from mdico_core.reporting.format import metric_digits

            dg = metric_digits(row["metric"])
            floor = stats.mde(row["sd"] * np.sqrt(row["ratio"]), 10**6, target_power=POWER)
            words += (f": the smallest difference it detects with {POWER:.0%} power stays above {floor:.{dg}f} "
                      f"however many are run (the paper's is {row['paper']:+.{dg}f})")
        return words
    return f"about {int(n)} paired runs would detect the paper's value with {POWER:.0%} power"


# ---------------------------------------------------------------------------------- words
def headline_text(table: pd.DataFrame) -> str:
    """The book's answer in two sentences: MDiCo vs Individual on LFMC, the paper's data, per view."""
    from mdico_core.reporting.format import metric_digits

    h = headline(table)
    if not h:
        return "No archive of the paper's data is here, so no claim is tested on it."
    parts, papers, verdicts = [], [], []
    for view, r in h.items():
        dg = metric_digits(r["metric"])
        name = {"L8": "Landsat-8", "S1": "Sentinel-1"}.get(view, view)
        parts.append(f"{fmt_interval(r['mean'], r['lo'], r['hi'], dg)} on {name}")
        papers.append(f"{r['paper']:+.{dg}f}")
        verdicts.append(r["verdict"])
    r0 = next(iter(h.values()))
    n = r0["n"]
    held = held_words(r0["archive"], code=False)
    text = (f"On LFMC, the one benchmark of the paper whose data is public, MDiCo minus Individual (each modality "
            f"trained alone) is {' and '.join(parts)} (R², mean and corrected 95% interval over {n} paired runs "
            f"of {held}); the paper reports {' and '.join(papers)}. ")
    if all(v == "inconclusive" for v in verdicts):
        powers = [f"{r['power_paper']:.0%}" for r in h.values() if np.isfinite(r["power_paper"])]
        text += ("Neither gain is detected, and neither is ruled out: each interval holds both 0 and the paper's "
                 f"value, and these runs had {' and '.join(powers)} power to detect the paper's own differences.")
    else:
        text += "Verdicts: " + ", ".join(f"{v} ({k})" for k, v in zip(h, verdicts)) + "."
    from mdico_core.experiments.archive_files import read_manifest
    from mdico_core.experiments.archives import get_archive

    a = get_archive(r0["archive"])
    info = read_manifest(a) or {}
    full = len({(c.fold, c.seed) for c in a.configs()})
    if all(v == "inconclusive" for v in verdicts) and n >= full:  # the cell holds the whole protocol
        text += (f" These are all {full} runs the protocol has for this comparison; what would decide it: " + "; ".join(
            f"{k}: {what_would_decide(r)}" for k, r in h.items() if what_would_decide(r)) + ".")
    elif info.get("partial") and n < full:
        mdes = [f"{stats.mde(r['sd'] * np.sqrt(1 / full + r['ratio']), full - 1, target_power=POWER):.{dg}f} "
                f"({k})" for k, r in h.items() if np.isfinite(r["sd"])]
        text += (f" What would change it: the archive's other runs (the protocol has {full} per cell); at that n "
                 f"and this spread the smallest difference detected with {POWER:.0%} power would be "
                 f"{' and '.join(mdes)}.")
    return text


def summary_markdown(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> str:
    """The claims, one row each, with their verdicts counted and a link to the page of the evidence."""
    from mdico_core.reporting.format import to_markdown

    s = summary(table, claims)
    s["evidence"] = [f"[{p}]({p}.html)" for p in s["page"]]
    s["claim"] = [f"[{c}](#{c.lower()})" for c in s["claim"]]
    return to_markdown(s[["claim", "what", "source", "verdicts", "not testable here", "evidence"]])


def claim_markdown(claim: Claim, table: pd.DataFrame) -> str:
    """One claim's section: the paper's words, its comparisons tested, and where it cannot be tested."""
    from mdico_core.reporting.format import to_markdown

    rows = table[table["claim"] == claim.id]
    shown = format_ledger(rows).drop(columns=["claim"])
    metrics = ", ".join(metric_label(m) for m in dict.fromkeys(rows["metric"]))
    holm = int(rows["holm_m"].iloc[0]) if len(rows) else 0
    lines = [f"({claim.id.lower()})=", f"### {claim.id}: {claim.claim}", "",
             f"> {claim.quote} ({claim.source})", "",
             f"Metric: {metrics}; Holm across the {holm} tested comparisons of this claim; evidence on "
             f"[{claim.page}]({claim.page}.html). Archives: "
             + "; ".join(held_words(a) for a in dict.fromkeys(rows["archive"])) + ".", "",
             to_markdown(shown), ""]
    undecided = rows[(rows["verdict"] == "inconclusive") & rows["power_paper"].notna()]
    if len(undecided):
        lines.append("Where the verdict is inconclusive on the paper's data, the interval holds both 0 and the "
                     "paper's value; what would decide it: "
                     + "; ".join(f"{r['place']}: {what_would_decide(r)}" for _, r in undecided.iterrows()) + ".")
    if claim.untestable:
        lines.append("Not testable here: " + "; ".join(claim.untestable) + ".")
    return "\n".join(lines)


def rule_markdown() -> str:
    """The verdict rule, in words, with its constants from the code."""
    return (f"**The rule** (one function, `findings.verdict`): *replicated* when the corrected t-test, Holm-adjusted "
            f"across the claim's comparisons, is significant (α = {stats.ALPHA}) in the paper's direction; "
            "*contradicted* when it is significant the other way, or when the 95% interval excludes the paper's "
            f"own value; *equivalent* when the Bayesian correlated t-test gives P(|difference| < ROPE) ≥ "
            f"{EQUIVALENT_PROB}; *inconclusive* otherwise; *not tested* below {stats.MIN_PAIRS} paired runs. On a "
            "stand-in, another benchmark or data beyond the paper, the same rule says *holds* / *fails*: a stand-in "
            "never replicates a claim. A level (L1) is *consistent* when the paper's number lies inside our corrected "
            f"interval for the mean. **Power**: MDE is the smallest difference the test detects with {POWER:.0%} "
            "probability at these runs' spread; the percentage is the power to detect the paper's own difference. "
            "The interval and the test use the same Nadeau–Bengio variance (1/n + n_test/n_train) s², which does "
            "not shrink below s² n_test/n_train however many repeats are run.")


# ---------------------------------------------------------------------------------- the page's HTML
def _html_table(df: pd.DataFrame, links: dict[str, pd.Series] | None = None, caption: str = "") -> str:
    """A plain HTML table (every row shown, no paging), cells escaped, `links` columns as anchors."""
    import html

    links = links or {}
    nowrap = {"paper", "ours [95% CI]", "n", "p (Holm)"}  # numbers and intervals are read whole
    head = "".join(f'<th style="padding: 0.15em 0.5em; text-align: left;">{html.escape(str(c))}</th>'
                   for c in df.columns)
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for col, v in zip(df.columns, row):
            text = html.escape("" if v is None or (isinstance(v, float) and v != v) else str(v))
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
    s = summary(table, claims)
    shown = pd.DataFrame({"claim": s["claim"], "what": s["what"], "verdicts": s["verdicts"],
                          "untestable places": s["not testable here"], "evidence": s["source"]})
    return _html_table(shown, {"claim": "#claim-" + s["claim"].str.lower(), "evidence": s["page"] + ".html"})


def claim_html(claim: Claim, table: pd.DataFrame) -> str:
    """`claim_markdown` as the page shows it (HTML: a plain table, an anchor per claim)."""
    import html

    rows = table[table["claim"] == claim.id]
    shown = format_ledger(rows).drop(columns=["claim"])
    metrics = ", ".join(metric_label(m) for m in dict.fromkeys(rows["metric"]))
    holm = int(rows["holm_m"].iloc[0]) if len(rows) else 0
    parts = [f'<h3 id="claim-{claim.id.lower()}">{html.escape(claim.id)}: {html.escape(claim.claim)}</h3>',
             f"<blockquote>{html.escape(claim.quote)} ({html.escape(claim.source)})</blockquote>",
             f"<p>Metric: {html.escape(metrics)}; Holm across the {holm} tested comparisons of this claim; "
             f'evidence on <a href="{claim.page}.html">{html.escape(claim.page)}</a>. Archives: '
             + "; ".join(html.escape(held_words(a, code=False)) for a in dict.fromkeys(rows["archive"]))
             + ".</p>", _html_table(shown)]
    undecided = rows[(rows["verdict"] == "inconclusive") & rows["power_paper"].notna()]
    if len(undecided):
        parts.append("<p>Inconclusive on the paper's data: the interval holds both 0 and the paper's value. What "
                     "would decide it: " + html.escape("; ".join(f"{r['place']}: {what_would_decide(r)}"
                                                              for _, r in undecided.iterrows())) + ".</p>")
    if claim.untestable:
        parts.append("<p>Not testable here: " + html.escape("; ".join(claim.untestable)) + ".</p>")
    return "\n".join(parts)

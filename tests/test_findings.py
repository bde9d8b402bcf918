"""What replicates: the verdict rule on hand-made runs, the interval and the MDE against slow
re-computations, and the ledger built from the shipped archives (the page and `mdico findings` agree)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from mdico_core.cli import main
from mdico_core.reporting import book_plan, findings, findings_text, stats
from mdico_core.reporting.archive import held_words

RATIO = 1 / 8.1  # n_test / n_train of the paper protocol at 10 folds


# ---------------------------------------------------------------------------------- slow re-computations
def _slow_interval(d: list[float], ratio: float, level: float = 0.95) -> tuple[float, float]:
    n = len(d)
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1)
    half = st.t.ppf(0.5 + level / 2, n - 1) * math.sqrt((1 / n + ratio) * var)
    return mean - half, mean + half


@pytest.mark.parametrize("seed", range(5))
def test_interval_is_the_corrected_t_tests_own(seed):
    d = list(np.random.default_rng(seed).normal(0.01, 0.03, 10 + seed))
    e = stats.estimate(d, RATIO)
    lo, hi = _slow_interval(d, RATIO)
    assert e.lo == pytest.approx(lo, rel=1e-12) and e.hi == pytest.approx(hi, rel=1e-12)
    # it excludes 0 exactly when the corrected t-test's two-sided p < 0.05
    assert (e.lo > 0 or e.hi < 0) == (stats.corrected_ttest(d, RATIO).p < 0.05)


def test_mde_and_power_against_the_textbook_formula_and_a_simulation():
    se, df = 0.015, 9
    slow = (st.t.ppf(0.975, df) + st.t.ppf(0.8, df)) * se
    assert stats.mde(se, df) == pytest.approx(slow, rel=1e-12)
    # the power at the MDE is about 80% (the formula is the normal approximation of the noncentral t)
    assert 0.75 < stats.power(stats.mde(se, df), se, df) < 0.85
    assert stats.power(0.0, se, df) == pytest.approx(0.05, abs=1e-9)  # no effect: the test's level
    # power by simulation: t statistics of a true effect 0.03 with this standard error
    rng = np.random.default_rng(0)
    crit = st.t.ppf(0.975, df)
    sims = (0.03 + se * rng.standard_normal(200_000)) / (se * np.sqrt(rng.chisquare(df, 200_000) / df))
    assert stats.power(0.03, se, df) == pytest.approx(float(np.mean(np.abs(sims) > crit)), abs=0.01)


def test_runs_to_detect_has_a_floor():
    sd = 0.03
    n = stats.runs_to_detect(0.035, sd, RATIO, per_repeat=10)
    assert n is not None and n % 10 == 0
    assert stats.mde(sd * np.sqrt(1 / n + RATIO), n - 1) <= 0.035 < stats.mde(sd * np.sqrt(1 / (n - 10) + RATIO), n - 11)
    # below ~2.8 sd sqrt(ratio) no number of repeats detects it
    assert stats.runs_to_detect(2.0 * sd * math.sqrt(RATIO), sd, RATIO, per_repeat=10) is None


def test_what_would_decide_states_the_floor_of_the_corrected_variance():
    """Where no number of repeats decides, the words give the floor: z_{0.975} + z_{0.8} times
    sd sqrt(n_test/n_train), the MDE of infinitely many repeats, above the paper's difference."""
    from mdico_core.reporting.findings_text import what_would_decide

    sd, paper = 0.05, 0.035
    row = {"paper": paper, "metric": "r2", "sd": sd, "ratio": RATIO,
           "runs_to_decide": stats.runs_to_detect(paper, sd, RATIO, per_repeat=10)}
    assert row["runs_to_decide"] is None
    floor = (st.norm.ppf(0.975) + st.norm.ppf(0.8)) * sd * math.sqrt(RATIO)
    words = what_would_decide(row)
    assert f"stays above {floor:.3f} however many are run (the paper's is +0.035)" in words and floor > paper
    assert "about 20 paired runs" in what_would_decide({**row, "runs_to_decide": 20})


# ---------------------------------------------------------------------------------- the rule
def _verdict(d: list[float], paper: float | None, direction: int, context: str = "paper", rope: float = 0.01) -> str:
    e = stats.estimate(d, RATIO)
    p = stats.corrected_ttest(d, RATIO).p
    equiv = stats.bayes_correlated(d, RATIO, rope)[1]
    return findings.verdict(e.n, e.lo, e.hi, p, equiv, paper, direction, context)


def _noise(n: int) -> np.ndarray:
    z = np.random.default_rng(n).normal(0, 1, n)
    return (z - z.mean()) / z.std(ddof=1)  # exactly mean 0, std 1


def test_the_rule_reaches_each_verdict():
    noise = _noise(50)
    big = list(0.05 + 0.01 * noise)
    assert _verdict(big, 0.035, +1) == "replicated"
    assert _verdict([-x for x in big], 0.035, +1) == "contradicted"  # significant the other way
    assert _verdict(list(0.0005 * noise), 0.035, +1) == "equivalent"  # practically nil, well inside the ROPE
    wide = list(0.003 + 0.03 * _noise(10))
    assert _verdict(wide, 0.035, +1) == "inconclusive"  # holds 0 and the paper's value
    narrow_small = list(0.003 + 0.004 * _noise(10))
    assert _verdict(narrow_small, 0.035, +1, rope=0.001) == "contradicted"  # excludes the paper's value
    assert _verdict(big[:4], 0.035, +1) == "not tested"  # fewer than MIN_PAIRS
    assert _verdict(big, 0.035, +1, context="stand-in") == "holds"  # a stand-in never replicates
    assert _verdict([-x for x in big], None, +1, context="stand-in") == "fails"
    assert _verdict(big, None, 0) == "differs"  # a question without a direction
    assert findings.level_verdict(10, 0.3, 0.4, 0.35) == "consistent"
    assert findings.level_verdict(10, 0.3, 0.4, 0.45) == "lower here"
    assert findings.level_verdict(10, 0.3, 0.4, 0.25) == "higher here"


# ---------------------------------------------------------------------------------- the shipped archives
@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return findings.ledger()


def test_every_claim_is_tested_where_it_can_be(table):
    assert set(table["claim"]) == {c.id for c in findings.CLAIMS}
    ok = set(findings.VERDICTS) | set(findings.OTHER_DATA_VERDICTS.values()) | set(findings.LEVEL_VERDICTS) | {
        "holds", "fails", "differs"}
    assert set(table["verdict"]) <= ok
    # the paper's data is never mixed with a stand-in's verdict words, and a stand-in never replicates
    assert not ((table["context"] != "paper") & table["verdict"].isin(["replicated", "contradicted"])).any()
    # every tested row has an interval that holds its mean, and an MDE where it was tested
    t = table[table["n"] >= stats.MIN_PAIRS]
    assert (t["lo"] <= t["mean"]).all() and (t["mean"] <= t["hi"]).all()
    assert t.loc[~t["level"], "mde"].notna().all()
    # power for the paper's own difference exactly where the paper prints one for this data
    paper_rows = t[(t["context"] == "paper") & t["paper"].notna() & ~t["level"]]
    assert paper_rows["power_paper"].notna().all()
    assert t.loc[t["context"] != "paper", "power_paper"].isna().all()


def test_the_headline_is_mdico_vs_individual_on_lfmc(table):
    from mdico_core.reporting.archive import read_runs

    h = findings.headline(table)
    assert set(h) == {"S1", "L8"}
    runs = read_runs("lfmc_paper")
    runs = runs[(runs["settings"] == "common") & (runs["metric"] == "r2") & (runs["view"] == "L8")]
    a = runs[runs["method"] == "mdico"].set_index(["fold", "seed"])["value"]
    b = runs[runs["method"] == "individual"].set_index(["fold", "seed"])["value"]
    d = (a - b).dropna().to_list()
    lo, hi = _slow_interval(d, stats.split_ratio(runs))
    assert h["L8"]["lo"] == pytest.approx(lo) and h["L8"]["hi"] == pytest.approx(hi)
    assert h["L8"]["paper"] == pytest.approx(0.035) and h["L8"]["n"] == len(d)
    text = findings_text.headline_text(table).replace("\u00a0", " ")  # the interval never breaks
    assert f"{h['L8']['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]" in text


def test_a_partial_archive_says_so(table):
    from mdico_core.experiments.archive_io import read_manifest
    from mdico_core.experiments.archives import get_archive

    info = read_manifest(get_archive("lfmc_paper"))
    words = held_words("lfmc_paper")
    assert f"{info['runs_exported']:,} of {info['runs_defined']:,} runs" in words
    assert ("partial" in words) == bool(info["partial"])
    c1 = findings_text.claim_markdown(findings.get_claim("C1"), table)
    assert words in c1


def test_the_page_declares_the_archives_the_claims_use():
    assert set(book_plan.page_archives(book_plan.FINDINGS)) == set(findings.archives_used())


def test_mdico_findings_prints_the_pages_ledger(table, capsys):
    assert main(["findings", "--claims", "C1,C3", "--markdown"]) == 0
    out = capsys.readouterr().out
    for claim in ("C1", "C3"):
        assert findings_text.claim_markdown(findings.get_claim(claim), table) in out
    assert findings_text.headline_text(table) in out
    assert main(["findings", "--archive", "lfmc_ablation"]) == 0
    out = capsys.readouterr().out
    assert "C4:" in out and "C1:" not in out
    with pytest.raises(SystemExit):
        main(["findings", "--claims", "C99"])
    assert "valid claims: C1" in capsys.readouterr().err


def test_mdico_table_names_the_corrected_test_and_holm(capsys):
    assert main(["table", "lfmc", "--archive", "data/archived_runs/lfmc_paper.csv"]) == 0
    out = capsys.readouterr().out
    assert "corrected repeated cross-validation t-test" in out and "Holm-adjusted across the" in out
    assert "p vs Individual" not in out and "Wilcoxon" not in out
    assert max(len(line) for line in out.splitlines() if not line.startswith(("[", "Δ:"))) < 200  # no padded note column


def test_the_headline_says_what_more_runs_would_do(table):
    """Below the protocol's runs per cell, the headline names the runs still to come; at all of them, it says
    what would decide it instead (never "the other runs" of a cell that has them all)."""
    from mdico_core.experiments.archive_io import read_manifest
    from mdico_core.experiments.archives import get_archive

    full = len({(c.fold, c.seed) for c in get_archive("lfmc_paper").configs()})
    h = findings.headline(table)
    text = findings_text.headline_text(table)
    if all(r["verdict"] == "inconclusive" for r in h.values()) and min(r["n"] for r in h.values()) >= full:
        assert f"These are all {full} runs" in text and "other runs" not in text
    fewer = table.copy()
    fewer.loc[fewer["claim"] == "C1", "n"] = full - 10  # as a partial archive short of one seed would be
    text = findings_text.headline_text(fewer)
    assert f"These are all {full} runs" not in text
    if (read_manifest(get_archive("lfmc_paper")) or {}).get("partial"):
        assert f"the archive's other runs (the protocol has {full} per cell)" in text

"""What replicates: the verdict rule on hand-made runs, the interval and the MDE against slow
re-computations, and the ledger built from the shipped archives (the page and `mdico findings` agree)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from mdico_core.cli import main
from mdico_core.reporting.book import book_plan
from mdico_core.reporting.book.archive import held_words
from mdico_core.reporting.claims import findings, findings_text
from mdico_core.reporting.core import stats

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
    from mdico_core.reporting.claims.findings_text import what_would_decide

    sd, paper = 0.05, 0.035
    row = {"paper": paper, "metric": "r2", "sd": sd, "ratio": RATIO,
           "runs_to_decide": stats.runs_to_detect(paper, sd, RATIO, per_repeat=10)}
    assert row["runs_to_decide"] is None
    floor = (st.norm.ppf(0.975) + st.norm.ppf(0.8)) * sd * math.sqrt(RATIO)
    words = what_would_decide(row)
    assert f"stays above {floor:.3f} however many are run (the paper's is +0.035)" in words and floor > paper
    assert "about 20 paired runs" in what_would_decide({**row, "runs_to_decide": 20})


# ---------------------------------------------------------------------------------- the rule
def _noise(n: int) -> np.ndarray:
    z = np.random.default_rng(n).normal(0, 1, n)
    return (z - z.mean()) / z.std(ddof=1)  # exactly mean 0, std 1


def _row(d, paper, direction, context="paper", level=False, seeds=None):
    """An unadjusted ledger row for the paired differences `d` (hand-made), as `test_comparison` gives it."""
    d = np.asarray(d, dtype=float)
    seeds = np.repeat(np.arange(len(d) // 10), 10) if seeds is None else seeds
    return {"place": "here", "archive": "x", "context": context, "settings": "common", "metric": "r2", "x": "a",
            "ref": "" if level else "b", "ref_short": "", "paper": paper, "direction": direction, "level": level,
            "note": "", "n": len(d), "n_failed": 0, "mean": float(d.mean()), "sd": float(np.std(d, ddof=1)),
            "ratio": RATIO, "p": stats.corrected_ttest(d, RATIO).p, "rope": 0.01, "folds": 10,
            "se": float(np.std(d, ddof=1) * np.sqrt(1 / len(d) + RATIO)), "df": len(d) - 1,
            "seed_means": tuple(pd.Series(d).groupby(seeds).mean())}


def _walk(mean, spread, paper, direction, m=1, n=50):
    return findings._adjust(_row(mean + spread * _noise(n), paper, direction), m, 0.05)


# One hand-made comparison per cell of the verdict table: (mean, spread, paper, direction) -> (direction, size)
CELLS = {
    ("as claimed", "consistent"): (0.05, 0.01, 0.048, +1),
    ("as claimed", "no paper value"): (0.05, 0.01, None, +1),
    ("as claimed", "borderline"): (0.05, 0.01, 0.06, +1),
    ("as claimed", "smaller"): (0.05, 0.01, 0.08, +1),
    ("as claimed", "larger"): (0.05, 0.01, 0.02, +1),
    ("reversed", "consistent"): (-0.05, 0.01, -0.048, +1),
    ("reversed", "no paper value"): (-0.05, 0.01, None, +1),
    ("reversed", "borderline"): (-0.05, 0.01, -0.06, +1),
    ("reversed", "smaller"): (-0.05, 0.01, 0.03, +1),
    ("reversed", "larger"): (-0.05, 0.01, -0.08, +1),
    ("differs", "consistent"): (0.05, 0.01, 0.048, 0),
    ("differs", "no paper value"): (0.05, 0.01, None, 0),
    ("differs", "borderline"): (0.05, 0.01, 0.06, 0),
    ("differs", "smaller"): (0.05, 0.01, 0.08, 0),
    ("differs", "larger"): (0.05, 0.01, 0.02, 0),
    ("nil", "consistent"): (0.0, 0.002, 0.0005, +1),
    ("nil", "no paper value"): (0.0, 0.002, None, +1),
    ("nil", "borderline"): (0.0, 0.002, 0.0022, +1),
    ("nil", "smaller"): (0.0, 0.002, 0.035, +1),
    ("nil", "larger"): (0.0, 0.002, -0.035, +1),
    ("not detected", "consistent"): (0.003, 0.1, 0.035, +1),
    ("not detected", "no paper value"): (0.003, 0.1, None, +1),
    ("not detected", "borderline"): (0.0, 0.03, 0.028, +1),
    ("not detected", "smaller"): (0.0, 0.03, 0.2, +1),
}


@pytest.mark.parametrize("cell", list(findings.WORDS))
def test_hand_made_runs_reach_every_cell_of_the_verdict_table(cell):
    """Every (direction, size) cell of `WORDS` is reached by paired runs, and its verdict follows from its own
    family interval (a detected direction excludes 0; nothing detected holds 0)."""
    if cell == ("not detected", "larger"):
        # unreachable: "larger" needs |mean - paper| > crit sqrt(2) se while the interval holding 0 needs
        # |mean| <= crit se, and a paper value in the claimed direction; the paper's value reversed reaches it
        row = _walk(0.0, 0.03, -0.03, +1)
        assert row["direction_axis"] == "not detected" and row["size_axis"] in ("consistent", "borderline", "larger")
        return
    row = _walk(*CELLS[cell])
    assert (row["direction_axis"], row["size_axis"]) == cell
    assert (row["verdict"], row["words"]) == findings.WORDS[cell]
    holds_zero = row["lo"] <= 0 <= row["hi"]
    assert holds_zero == (cell[0] in ("nil", "not detected"))
    assert (row["p_adj"] < 0.05) == (not holds_zero)  # the adjusted p and the interval agree


def test_the_cells_cover_the_whole_table():
    assert set(CELLS) | {("not detected", "larger")} == set(findings.WORDS)
    assert set(findings.WORDS) == {(d, s) for d in findings.DIRECTIONS for s in findings.SIZES}


def test_borderline_is_the_paper_value_as_exact_versus_as_an_estimate():
    """The size axis takes the paper's standard error as ours and its rounding as an interval: a value ruled
    out only when treated as exact is borderline, one ruled out under both is ruled out."""
    se, crit, unit = 0.01, 2.0, 0.001
    assert findings.size_of(0.0, se, crit, 0.015, unit, +1) == "consistent"  # inside crit se
    assert findings.size_of(0.0, se, crit, 0.025, unit, +1) == "borderline"  # out if exact, in with its se
    assert findings.size_of(0.0, se, crit, 0.03, unit, +1) == "smaller"  # 0.029 > 2 sqrt(2) 0.01 = 0.0283
    assert findings.size_of(0.0, se, crit, 0.0292, unit, +1) == "borderline"  # only its rounding saves it
    assert findings.size_of(0.0, se, crit, -0.03, unit, -1) == "smaller"  # a claimed drop: ours is smaller
    assert findings.size_of(-0.06, se, crit, -0.03, unit, -1) == "larger"  # a drop larger than the paper's
    assert findings.size_of(0.0, se, crit, None, unit, +1) == "no paper value"


def test_one_family_per_claim_on_both_axes():
    """m tests: the interval at 1 - 0.05/m, p times m, MDE and power at 0.05/m; the same runs decide less in a
    larger family."""
    d = 0.02 + 0.05 * _noise(50)
    one, six = (findings._adjust(_row(d, 0.035, +1), m, 0.05) for m in (1, 6))
    lo, hi = _slow_interval(list(d), RATIO, level=1 - 0.05 / 6)
    assert six["lo"] == pytest.approx(lo, rel=1e-10) and six["hi"] == pytest.approx(hi, rel=1e-10)
    assert six["p_adj"] == pytest.approx(min(1.0, 6 * stats.corrected_ttest(d, RATIO).p))
    assert six["mde"] == pytest.approx(stats.mde(six["se"], 49, 0.05 / 6)) and six["mde"] > one["mde"]
    assert six["power_paper"] == pytest.approx(stats.power(0.035, six["se"], 49, 0.05 / 6))
    assert six["power_paper"] < one["power_paper"]
    assert six["family_m"] == 6 and six["family_level"] == pytest.approx(1 - 0.05 / 6)


def test_q1_interval_against_a_slow_recomputation():
    """Q1 (the data as collected): a t interval on the per-seed means, with plain loops and scipy's t."""
    rng = np.random.default_rng(3)
    d = list(rng.normal(0.01, 0.04, 50))
    seeds = [i // 10 for i in range(50)]
    row = findings._adjust(_row(d, 0.035, +1, seeds=np.array(seeds)), 3, 0.05)
    means = []
    for s in range(5):
        vals = [x for x, k in zip(d, seeds) if k == s]
        means.append(sum(vals) / len(vals))
    mu = sum(means) / 5
    sd = math.sqrt(sum((x - mu) ** 2 for x in means) / 4)
    half = st.t.ppf(1 - 0.05 / 3 / 2, 4) * sd / math.sqrt(5)
    assert row["q1_mean"] == pytest.approx(mu) and row["q1_lo"] == pytest.approx(mu - half)
    assert row["q1_hi"] == pytest.approx(mu + half)
    assert findings._adjust(_row(d[:10], 0.035, +1), 3, 0.05)["q1_verdict"] == ""  # one repeat: no Q1


def test_fewer_than_min_pairs_is_not_tested():
    row = findings._adjust(_row(0.05 + 0.01 * _noise(4), 0.035, +1, seeds=np.zeros(4)), 1, 0.05)
    assert row["verdict"] == "not tested"


def test_other_data_holds_or_fails_never_replicates():
    assert findings.verdict("as claimed", "no paper value", "stand-in")[0] == "holds"
    assert findings.verdict("reversed", "no paper value", "beyond")[0] == "fails"
    assert findings.verdict("not detected", "no paper value", "stand-in")[0] == "inconclusive"
    assert findings.level_verdict("smaller")[0] == "lower here"
    assert findings.level_verdict("borderline")[0] == "consistent"


def test_a_failed_run_counts_with_its_convention_and_its_sensitivity():
    """A run that failed twice enters its method's comparisons with R² 0; the ledger gives the verdict were it
    dropped instead (lfmc_paper holds one: ShaSpec, its own recipe)."""
    claim = findings.get_claim("C3")
    archives = findings._Archives()
    shaspec = next(c for c in claim.comparisons if c.x.method == "shaspec" and c.x.view == "L8")
    counted = findings.test_comparison(shaspec, archives, "count")
    dropped = findings.test_comparison(shaspec, archives, "drop")
    assert counted["n_failed"] == 1 and dropped["n_failed"] == 0 and counted["n"] == dropped["n"] + 1
    runs = archives.runs("lfmc_paper")
    failed = archives.failed("lfmc_paper")
    f = failed[failed["method"] == "shaspec"].iloc[0]
    ind = runs[(runs["method"] == "individual") & (runs["view"] == "L8") & (runs["metric"] == "r2")
               & (runs["fold"] == f["fold"]) & (runs["seed"] == f["seed"]) & (runs["settings"] == "common")]
    # the counted pair is (0 - Individual's score of that split): the mean moves by exactly that over n
    moved = counted["mean"] * counted["n"] - dropped["mean"] * dropped["n"]
    assert moved == pytest.approx(findings.FAILED_SCORE["r2"] - float(ind["value"].iloc[0]))
    table = findings.ledger([claim])
    row = table[table["place"] == shaspec.place].iloc[0]
    assert row["verdict_if_dropped"] in findings.VERDICTS and "failed run counted as R² 0" in \
        findings_text.dropped_words(row)


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
    # no verdict contradicts its own interval: a detected direction excludes 0, nothing detected holds it
    diff = t[~t["level"]]
    detected = diff["direction_axis"].isin(["as claimed", "reversed", "differs"])
    assert ((diff["lo"] > 0) | (diff["hi"] < 0)).eq(detected).all()
    # one family per claim: every row of a claim at the same level
    assert (t.groupby("claim")["family_level"].nunique() == 1).all()
    assert t.loc[~t["level"], "mde"].notna().all()
    # power for the paper's own difference exactly where the paper prints one for this data
    paper_rows = t[(t["context"] == "paper") & t["paper"].notna() & ~t["level"]]
    assert paper_rows["power_paper"].notna().all()
    assert t.loc[t["context"] != "paper", "power_paper"].isna().all()


def test_the_headline_is_mdico_vs_individual_on_lfmc(table):
    from mdico_core.reporting.book.archive import read_runs

    h = findings.headline(table)
    assert set(h) == {"S1", "L8"}
    runs = read_runs("lfmc_paper")
    runs = runs[(runs["settings"] == "common") & (runs["metric"] == "r2") & (runs["view"] == "L8")]
    a = runs[runs["method"] == "mdico"].set_index(["fold", "seed"])["value"]
    b = runs[runs["method"] == "individual"].set_index(["fold", "seed"])["value"]
    d = (a - b).dropna().to_list()
    lo, hi = _slow_interval(d, stats.split_ratio(runs), level=h["L8"]["family_level"])
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


def test_the_headline_answers_both_questions_apart(table):
    """Q1 (LFMC as collected) and Q2 (a new dataset of this kind, named an approximation), one sentence each,
    and what would decide it on its own line."""
    text = findings_text.headline_text(table)
    assert text.count("Q1, LFMC as collected") == 1 and text.count("Q2, a new dataset of this kind") == 1
    assert "Nadeau–Bengio approximation" in text and "((" not in text
    h = findings.headline(table)
    for r in h.values():
        assert f"{r['q1_mean']:+.3f} [{r['q1_lo']:+.3f}, {r['q1_hi']:+.3f}]" in text
    if any(r["verdict"] == "inconclusive" for r in h.values()):
        assert findings_text.headline_decide(table).startswith("What would decide it")


def test_the_ledger_is_computed_once_per_archives_and_code(tmp_path, monkeypatch):
    """Pages share one ledger per build: the second read comes from the cache, a changed key (archives or code)
    or a torn cache file computes it again."""
    calls = []

    def fake() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"claim": ["C1"], "verdict": [f"v{len(calls)}"]})

    monkeypatch.setattr(findings, "ledger", fake)
    monkeypatch.setattr(findings, "ledger_key", lambda: "k1")
    first = findings.cached_ledger(tmp_path)
    assert findings.cached_ledger(tmp_path).equals(first) and len(calls) == 1
    monkeypatch.setattr(findings, "ledger_key", lambda: "k2")  # an archive or the code changed
    assert findings.cached_ledger(tmp_path)["verdict"].item() == "v2" and len(calls) == 2
    (tmp_path / "ledger-k2.pkl").write_bytes(b"torn")
    assert findings.cached_ledger(tmp_path)["verdict"].item() == "v3" and len(calls) == 3


def test_ledger_key_follows_the_archives_checksums(tmp_path, monkeypatch):
    from mdico_core.experiments import archives

    key = findings.ledger_key()
    assert key == findings.ledger_key() and len(key) == 20
    monkeypatch.setattr(archives, "ARCHIVE_DIR", tmp_path)
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  lfmc_paper.csv\n")
    assert findings.ledger_key() != key

"""What replicates: the paper's testable claims, each tested on the archives, with one verdict rule.

The claims are data (`CLAIMS`): an id, the paper's words and where they are, and the comparisons
that test them here. A `Comparison` names two cells of one archive (a method, variant, encoder,
protocol and view each) whose runs pair on (fold, seed), the paper's own difference where the paper
prints one, the direction the paper claims, and what the data is: the paper's benchmark, a stand-in
of it, another of the paper's benchmarks than the claim's table, or data beyond the paper.

`ledger` tests every comparison with the statistics of `stats` (the corrected t-test, Holm within
a claim, the Bayesian correlated t-test with the metric's ROPE), gives the corrected 95% interval,
the minimum detectable effect at 80% power (at the test's level and at Holm's strictest level), the
power to detect the paper's own difference, and a `verdict` from one rule:

- *replicated*: the Holm-adjusted test is significant in the paper's direction;
- *contradicted*: it is significant the other way, or the interval excludes the paper's value;
- *equivalent*: P(|difference| < ROPE) >= 0.95 (the difference is practically nil);
- *inconclusive*: none of these (the interval holds both 0 and the paper's value): the MDE and the
  runs that would decide it are given;
- *not tested*: fewer than ``stats.MIN_PAIRS`` paired runs; *not testable here*: no data.

On data that is not the paper's benchmark (a stand-in, another benchmark, data beyond the paper) the
same rule gives "holds" / "fails" / "equivalent" / "inconclusive", with where it was tested: a
stand-in never replicates a claim. A claim about a level (the paper's number itself) compares the
paper's value with our corrected interval for the mean: "consistent", "higher here" or "lower here".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting import paper, stats
from mdico_core.reporting.compare import metric_of, paper_name

EQUIVALENT_PROB = 0.95
"""P(equivalent) from which a difference is called practically nil (the Bayesian test's ROPE)."""
POWER = 0.8
"""The power at which the minimum detectable effect is stated."""

VERDICTS = ("replicated", "contradicted", "equivalent", "inconclusive", "not tested", "not testable here")
OTHER_DATA_VERDICTS = {"replicated": "holds", "contradicted": "fails"}  # the words off the paper's data
LEVEL_VERDICTS = ("consistent", "higher here", "lower here")
CONTEXTS = {
    "paper": "the paper's benchmark",
    "stand-in": "a stand-in, not the paper's data",
    "other": "another of the paper's benchmarks than the claim's table",
    "beyond": "beyond the paper (data or a question it did not study)",
}


@dataclass(frozen=True)
class Side:
    """One cell of an archive: its runs differ only by fold and seed."""

    method: str
    view: str
    variant: str = "default"
    encoder: str = "tempcnn"
    protocol: str = "paper"
    modalities: str | None = None
    """the training modalities, comma-separated and sorted, for runs trained on a subset (None: all)"""

    def short(self) -> str:
        """``"MDiCo (no_cont)"``: the method, and what differs from its default run (not the view)."""
        extra = [x for x in (None if self.variant == "default" else self.variant,
                             None if self.encoder == "tempcnn" else paper.ENCODER_NAMES.get(self.encoder, self.encoder),
                             None if self.protocol == "paper" else f"{self.protocol} protocol",
                             None if self.modalities is None else f"trained on {self.modalities.replace(',', '+')}")
                 if x]
        return f"{paper_name(self.method)}{' (' + '; '.join(extra) + ')' if extra else ''}"

    def label(self) -> str:
        """`short` and the view: ``"MDiCo (no_cont), L8"``."""
        return f"{self.short()}, {self.view}"


BEST_OTHER = "best other"
"""`Comparison.ref` meaning: the method with the highest mean on the view here, other than `x`'s."""


@dataclass(frozen=True)
class Comparison:
    """One test of a claim: `x` - `ref` over runs paired on (fold, seed) of `archive`.

    `paper` is the paper's own value of that difference (None where the paper prints none);
    `direction` the sign the claim predicts (+1, -1, or 0 for a question without one); `context`
    one of `CONTEXTS`. With `ref` None the comparison is of a level: `x`'s mean against `paper`.
    """

    place: str
    archive: str
    x: Side
    ref: Side | str | None
    paper: float | None
    direction: int
    context: str
    settings: str = "common"
    metric: str | None = None


@dataclass(frozen=True)
class Claim:
    """A claim of the paper (or of this companion, ``ours``) and the comparisons that test it."""

    id: str
    claim: str
    quote: str
    source: str
    page: str
    """the book page (generated notebook name) that holds the evidence"""
    comparisons: tuple[Comparison, ...]
    untestable: tuple[str, ...] = ()
    """places the claim is about that cannot be tested here, each with why and what would test it"""
    ours: bool = False


# ---------------------------------------------------------------------------------- the claims
# Where each benchmark of the paper is tested here: its archive, and whether that is its data.
ARCHIVE_OF = {"lfmc": ("lfmc_paper", "paper"), "croph_b": ("algae_blooms_binary_paper", "stand-in"),
              "croph_m": ("algae_blooms_paper", "stand-in")}
TSAITS_ABSENT = ("TSAITS: the TreeSatAI-TS imagery (~50 GB) is not here; `MDICO_TREESATAI_DIR` and "
                 "`mdico data fetch tsaits` on a machine with internet, then an archive of it, would test it")
CROPH_ABSENT = ("CropH-b, CropH-m (the paper's data): CropHarvest (several GB) is not here; `mdico data fetch "
                "croph_b` on a machine with internet, then an archive of it, would test it")
# The paper runs competitors with their own recipes: their rows are compared in the original settings
# where an archive has them (LFMC), else in the common settings (the stand-ins have only those).
_SETTINGS = {"lfmc_paper": "original"}


def _pv(bench: str, method: str, view: str, variant: str = "default", mode: str = "") -> float:
    return paper.paper_value(bench, method, variant, view, mode)[0]


def _diff(a: float, b: float) -> float | None:
    d = a - b
    return None if not np.isfinite(d) else round(d, 6)


def _places(benchmarks: Iterable[str] = ("lfmc", "croph_b", "croph_m")) -> list[tuple[str, str, str, str]]:
    """(benchmark, view, archive, context) of every single-modality view testable here."""
    return [(b, v, *ARCHIVE_OF[b]) for b in benchmarks for v in paper.paper_views(b)]


def _place(bench: str, view: str, context: str) -> str:
    return f"{paper.NAMES[bench]}{' stand-in' if context == 'stand-in' else ''}, {view}"


def _gain_over_individual() -> tuple[Comparison, ...]:
    return tuple(Comparison(_place(b, v, c), a, Side("mdico", v), Side("individual", v),
                            _diff(_pv(b, "MDiCo", v), _pv(b, "Individual", v)), +1, c)
                 for b, v, a, c in _places())


def _best_other() -> tuple[Comparison, ...]:
    out = []
    for b, v, a, c in _places():
        t = paper.paper_table(b)
        col = paper.VIEWS[b][v]
        others = pd.to_numeric(t.loc[t["method"] != "MDiCo", col], errors="coerce").dropna()
        out.append(Comparison(_place(b, v, c), a, Side("mdico", v), BEST_OTHER,
                              _diff(_pv(b, "MDiCo", v), float(others.max())), +1, c, _SETTINGS.get(a, "common")))
    return tuple(out)


def _collapse() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}: {paper_name(m)}", "lfmc_paper", Side(m, v), Side("individual", v),
                            _diff(_pv("lfmc", paper_name(m), v), _pv("lfmc", "Individual", v)), -1, "paper",
                            "original")
                 for m in ("embracenet", "shaspec") for v in paper.paper_views("lfmc"))


def _ablation() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}: vs {paper.ABLATION_ROWS[var]}", "lfmc_ablation",
                            Side("mdico", v), Side("mdico", v, variant=var), None, +1, "other")
                 for var in paper.ABLATION_VARIANTS if var != "default" for v in paper.paper_views("lfmc"))


def _both_spaces() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"{_place(b, v, c)}: both vs {mode} only", a, Side("mdico", v), Side("mdico", f"{v}:{mode}"),
                            _diff(_pv(b, "MDiCo", v), _pv(b, "MDiCo", v, mode=mode)), +1, c)
                 for b, v, a, c in _places() for mode in ("shared", "specific"))


def _specific_vs_shared() -> tuple[Comparison, ...]:
    out = []
    for b, v, a, c in _places():
        d = _diff(_pv(b, "MDiCo", v, mode="specific"), _pv(b, "MDiCo", v, mode="shared"))
        out.append(Comparison(_place(b, v, c), a, Side("mdico", f"{v}:specific"), Side("mdico", f"{v}:shared"), d,
                              int(np.sign(d)) if d is not None else 0, c))
    return tuple(out)


def _encoders() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}, {paper.ENCODER_NAMES[e]}", "lfmc_encoders", Side("mdico", v, encoder=e),
                            Side("individual", v, encoder=e), None, +1, "paper")
                 for e in paper.ENCODERS for v in paper.paper_views("lfmc"))


def _released() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}", "lfmc_released", Side("mdico", v, variant="released", protocol="released"),
                            Side("mdico", v), None, 0, "paper") for v in paper.paper_views("lfmc"))


def _levels() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}: {paper_name(m)}", "lfmc_paper", Side(m, v), None,
                            _pv("lfmc", paper_name(m), v), 0, "paper")
                 for m in ("individual", "mdico") for v in paper.paper_views("lfmc"))


MFEAT_VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")
PRESTO_VIEWS = ("ERA5_SRTM", "S1", "S2")


def _beyond_mfeat() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"mfeat (not EO), {v}", "mfeat_methods", Side("mdico", v, encoder="mlp"),
                            Side("individual", v, encoder="mlp"), None, +1, "beyond") for v in MFEAT_VIEWS)


def _beyond_presto() -> tuple[Comparison, ...]:
    out = []
    for v in PRESTO_VIEWS:
        for other in PRESTO_VIEWS:
            if other != v:
                pair = ",".join(sorted((v, other)))
                out.append(Comparison(f"presto_lfmc, {v}: 3 modalities vs {pair.replace(',', '+')}",
                                      "presto_modalities", Side("mdico", v), Side("mdico", v, modalities=pair),
                                      None, +1, "beyond"))
    return tuple(out)


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "MDiCo improves each single modality over Individual (each modality trained alone)",
          "Our framework, unlike recent methods from the literature, systematically improves upon models "
          "trained on individual modalities", "Sec. 5; Tables 2-5", "02_main_results_lfmc_archived",
          _gain_over_individual(), (TSAITS_ABSENT, CROPH_ABSENT)),
    Claim("C2", "MDiCo beats every other method on every single modality",
          "our MDiCo framework consistently outperforms both Individual baselines and all competing methods in "
          "nearly all considered cases", "Sec. 4.4; Tables 2-5", "02_main_results_lfmc_archived",
          _best_other(), (TSAITS_ABSENT, CROPH_ABSENT)),
    Claim("C3", "EmbraceNet and ShaSpec collapse when a modality is missing on LFMC",
          "ShaSpec ... clearly exhibits poor results on TSAITS and LFMC, as well as EmbraceNet in the LFMC dataset",
          "Sec. 4.4; Table 5", "02_main_results_lfmc_archived", _collapse(), (TSAITS_ABSENT,)),
    Claim("C4", "Every component of MDiCo helps; the contrastive loss most",
          "all the components on which our MDiCo framework is built, and their interplay, contribute to its "
          "superior behavior ... regardless of the considered benchmark", "Sec. 4.5; Table 6", "03_ablation",
          _ablation(), ("CropH-b, CropH-m (Table 6's data): " + CROPH_ABSENT.split(": ", 1)[1],)),
    Claim("C5", "Shared and specific features together beat either alone",
          "the method achieves the best results when both feature sets are considered", "Sec. 4.6; Table 7",
          "04_shared_specific", _both_spaces(), (TSAITS_ABSENT, CROPH_ABSENT)),
    Claim("C6", "Specific features carry more than shared ones (the paper's sign, per view)",
          "In most cases, specific features contribute more positively to performance than shared ones",
          "Sec. 4.6; Table 7", "04_shared_specific", _specific_vs_shared(), (TSAITS_ABSENT, CROPH_ABSENT)),
    Claim("C7", "MDiCo's gain over Individual holds with every temporal encoder",
          "the improvement of MDiCo, compared to the individual trained models, is consistent across different "
          "encoder architectures", "Sec. 4.7; Fig. 3", "05_encoders", _encoders()),
    Claim("L1", "Table 5's Individual and MDiCo scores are reached here (a level, not a difference)",
          "Table 5 (R², LFMC)", "Table 5", "02_main_results_lfmc_archived", _levels()),
    Claim("R1", "The authors' released code (its model and protocol) scores like the paper's MDiCo",
          "(this companion's question: the released code differs from the paper in seven places)",
          "page 09", "09_released_vs_paper", _released(), ours=True),
    Claim("B1", "MDiCo improves single modalities beyond EO (the paper's limitation ii)",
          "Our approach has been validated exclusively on EO data.", "Sec. 5, limitation (ii)", "10_beyond",
          _beyond_mfeat(), ours=True),
    Claim("B2", "A third modality at training helps a single modality (the paper's limitation i)",
          "The current framework has been validated for benchmarks with only two modalities available at the "
          "training stage.", "Sec. 5, limitation (i)", "10_beyond", _beyond_presto(), ours=True),
)


def get_claim(claim_id: str) -> Claim:
    """The claim `claim_id` (``"C1"``); a `ValueError` listing the valid ids otherwise."""
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise ValueError(f"unknown claim {claim_id!r}; valid claims: {', '.join(c.id for c in CLAIMS)}")


# ---------------------------------------------------------------------------------- the rule
def verdict(n: int, lo: float, hi: float, p_holm: float, p_equiv: float, paper_value: float | None,
            direction: int, context: str = "paper", alpha: float = stats.ALPHA) -> str:
    """The verdict of one comparison (see the module docstring): from its paired runs `n`, corrected
    interval [`lo`, `hi`], Holm-adjusted p, Bayesian P(equivalent), the paper's value and claimed sign."""
    if n < stats.MIN_PAIRS:
        return "not tested"
    mean = (lo + hi) / 2
    if p_holm < alpha and mean != 0:
        if direction == 0:
            out = "differs"
        else:
            out = "replicated" if np.sign(mean) == direction else "contradicted"
    elif p_equiv >= EQUIVALENT_PROB:
        out = "equivalent"
    elif paper_value is not None and np.isfinite(paper_value) and not lo <= paper_value <= hi:
        out = "contradicted"
    else:
        out = "inconclusive"
    return out if context == "paper" else OTHER_DATA_VERDICTS.get(out, out)


def level_verdict(n: int, lo: float, hi: float, paper_value: float | None) -> str:
    """A level: is the paper's value inside our corrected interval for the mean."""
    if n < stats.MIN_PAIRS:
        return "not tested"
    if paper_value is None or not np.isfinite(paper_value):
        return "not testable here"
    return "consistent" if lo <= paper_value <= hi else "lower here" if hi < paper_value else "higher here"


# ---------------------------------------------------------------------------------- the ledger
@dataclass
class _Archives:
    """Archives read once (verified against their manifests on read) and their manifests."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def runs(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            from mdico_core.reporting.archive import read_runs

            df = read_runs(name)
            self.frames[name] = df[(df["status"] == "done") & df["metric"].notna()]
        return self.frames[name]


def _in_settings(df: pd.DataFrame, settings: str) -> pd.DataFrame:
    """The runs of one comparison: the settings' runs, each method at its own recipe's early-stopping monitor
    (``experiments.settings.select_settings``; the ``--monitor task`` runs are another study)."""
    from mdico_core.experiments.settings import select_settings

    return select_settings(df, settings)


def _cell(df: pd.DataFrame, side: Side, settings: str, metric: str) -> pd.DataFrame:
    df = _in_settings(df, settings)
    mods = df["modalities"].fillna("").astype(str).map(lambda s: ",".join(sorted(m for m in s.split(",") if m)))
    sel = ((df["method"] == side.method) & (df["variant"] == side.variant) & (df["encoder"] == side.encoder)
           & (df["protocol"] == side.protocol) & (df["view"].astype(str) == side.view) & (df["metric"] == metric)
           & (mods == (side.modalities or "")))
    return df[sel]


def _best_other_side(df: pd.DataFrame, x: Side, settings: str, metric: str) -> Side | None:
    df = _in_settings(df, settings)
    d = df[(df["view"].astype(str) == x.view) & (df["metric"] == metric) & (df["variant"] == "default")
           & (df["method"] != x.method)]
    if d.empty:
        return None
    means = d.groupby("method")["value"].mean()
    sign = 1 if stats.HIGHER_IS_BETTER.get(metric, True) else -1
    return replace(x, method=str((sign * means).idxmax()))


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    pa, pb = a.set_index(["fold", "seed"])["value"], b.set_index(["fold", "seed"])["value"]
    both = pd.concat([pa, pb], axis=1, join="inner", keys=["x", "ref"]).dropna()
    return (both["x"] - both["ref"]).to_numpy(dtype=float)


def _manifest_note(name: str) -> str:
    from mdico_core.experiments.archive_io import read_manifest
    from mdico_core.experiments.archives import get_archive

    info = read_manifest(get_archive(name)) or {}
    if info.get("partial"):
        return f"{name}: {info['runs_exported']} of {info['runs_defined']} runs (partial)"
    return f"{name}: {info.get('runs_exported', '?')} runs"


def test_comparison(cmp: Comparison, archives: _Archives | None = None) -> dict[str, Any]:
    """One comparison's row of the ledger before Holm (``p_holm`` and ``verdict`` are set by `ledger`)."""
    archives = archives or _Archives()
    df = archives.runs(cmp.archive)
    metric = cmp.metric or metric_of(str(df["dataset"].iloc[0]))[0]
    sign = 1 if stats.HIGHER_IS_BETTER.get(metric, True) else -1
    ref = _best_other_side(df, cmp.x, cmp.settings, metric) if cmp.ref == BEST_OTHER else cmp.ref
    x = _cell(df, cmp.x, cmp.settings, metric)
    row: dict[str, Any] = {
        "place": cmp.place, "archive": cmp.archive, "context": cmp.context, "settings": cmp.settings,
        "metric": metric, "x": cmp.x.label(), "ref": ref.label() if isinstance(ref, Side) else "",
        "ref_short": ref.short() if isinstance(ref, Side) else "",
        "paper": cmp.paper, "direction": cmp.direction, "level": ref is None and cmp.ref is None,
        "n": 0, "mean": np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan, "p_better": np.nan, "p_equiv": np.nan,
        "p_worse": np.nan, "mde": np.nan, "power_paper": np.nan, "runs_to_decide": None, "sd": np.nan,
        "ratio": np.nan, "rope": stats.ROPE.get(metric, np.nan),
    }
    if row["level"]:
        if len(x) >= 2:
            e = stats.estimate(x["value"].to_numpy(dtype=float), stats.split_ratio(x))
            row.update(n=e.n, mean=e.mean, lo=e.lo, hi=e.hi, sd=e.sd, ratio=e.test_train_ratio)
        return row
    if ref is None:
        return row
    r = _cell(df, ref, cmp.settings, metric)
    d = _paired(x, r)
    row["n"] = len(d)
    if len(d) >= stats.MIN_PAIRS:
        ratio = max(stats.split_ratio(x), stats.split_ratio(r))  # across protocols: the larger correction
        e = stats.estimate(d, ratio)
        t = stats.corrected_ttest(d, ratio)
        lower, equiv, higher = stats.bayes_correlated(d, ratio, row["rope"]) if np.isfinite(row["rope"]) else (
            np.nan, np.nan, np.nan)
        row.update(mean=e.mean, lo=e.lo, hi=e.hi, p=t.p, sd=e.sd, ratio=ratio, p_equiv=equiv,
                   p_better=higher if sign > 0 else lower, p_worse=lower if sign > 0 else higher,
                   mde=stats.mde(e.se, e.df, target_power=POWER))
        if cmp.paper is not None and cmp.context == "paper":  # a value on other data is not comparable
            row["power_paper"] = stats.power(cmp.paper, e.se, e.df)
            folds = int(pd.to_numeric(x["n_folds"], errors="coerce").dropna().iloc[0]) if "n_folds" in x else 10
            row["runs_to_decide"] = stats.runs_to_detect(cmp.paper, e.sd, ratio, folds, target_power=POWER)
    return row


def ledger(claims: Sequence[Claim] = CLAIMS, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Every comparison of `claims`, tested: one row each, with Holm within each claim, the MDE at Holm's
    strictest level (``mde_holm``), and the verdict of `verdict` / `level_verdict`."""
    archives = _Archives()
    rows = []
    for claim in claims:
        part = pd.DataFrame([test_comparison(c, archives) for c in claim.comparisons])
        part.insert(0, "claim", claim.id)
        tested = part["p"].notna()
        part["holm_m"] = int(tested.sum())
        part["p_holm"] = stats.holm(part["p"].to_numpy(dtype=float))
        part["mde_holm"] = [stats.mde(r.sd * np.sqrt(1 / r.n + r.ratio), r.n - 1, alpha / max(1, r.holm_m), POWER)
                            if ok else np.nan for r, ok in zip(part.itertuples(), tested)]
        part["verdict"] = [
            level_verdict(r.n, r.lo, r.hi, r.paper) if r.level else
            verdict(r.n, r.lo, r.hi, r.p_holm, r.p_equiv if np.isfinite(r.p_equiv) else 0.0,
                    r.paper if r.context == "paper" else None, r.direction, r.context, alpha)
            for r in part.itertuples()]
        part["archive_note"] = [_manifest_note(a) for a in part["archive"]]
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def summary(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    """One row per claim: its verdicts counted per kind of data, the places it cannot be tested, its page."""
    out = []
    for c in claims:
        rows = table[table["claim"] == c.id]
        by = []
        for ctx in CONTEXTS:
            part = rows[rows["context"] == ctx]
            if len(part):
                counts = part["verdict"].value_counts()
                by.append(f"{CONTEXT_SHORT[ctx]}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        out.append({"claim": c.id, "what": c.claim, "source": c.source, "verdicts": "; ".join(by),
                    "not testable here": len(c.untestable), "page": c.page})
    return pd.DataFrame(out)


CONTEXT_SHORT = {"paper": "paper's data", "stand-in": "stand-in", "other": "other benchmark", "beyond": "beyond"}


def headline(table: pd.DataFrame) -> dict[str, Any]:
    """The book's headline: MDiCo vs Individual on LFMC (claim C1 on the paper's own data), per view."""
    rows = table[(table["claim"] == "C1") & (table["context"] == "paper")]
    return {r.place.split(", ")[-1]: r._asdict() for r in rows.itertuples()}


def fmt_interval(mean: float, lo: float, hi: float, digits: int) -> str:
    """``"+0.003 [−0.032, +0.038]"``; "–" without an estimate. Never clipped to the metric's range."""
    if not np.isfinite(mean):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def format_ledger(table: pd.DataFrame) -> pd.DataFrame:
    """The ledger as a page (and ``mdico findings``) prints it: one short row per comparison."""
    from mdico_core.reporting.format import fmt_p, metric_digits

    rows = []
    for r in table.itertuples():
        dg = metric_digits(r.metric)
        if r.paper is None or not np.isfinite(r.paper):
            paper_txt = "–"
        elif r.context != "paper":  # the paper's number is of other data: its sign is the claim, not its value
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
        return "no number of repeats of this cross-validation (its corrected variance has a floor)"
    return f"about {int(n)} paired runs would detect the paper's value with {POWER:.0%} power"


# ---------------------------------------------------------------------------------- words
def archives_used(claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The archives the claims are tested on, in first-use order."""
    return list(dict.fromkeys(c.archive for claim in claims for c in claim.comparisons))


def archive_counts(name: str, code: bool = True) -> str:
    """What archive `name` holds, from its manifest (``reporting.archive.held_words``)."""
    from mdico_core.reporting.archive import held_words

    return held_words(name, code)


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
    held = archive_counts(r0["archive"], code=False)
    text = (f"On LFMC, the one benchmark of the paper whose data is public, MDiCo minus Individual (each modality "
            f"trained alone) is {' and '.join(parts)} (R², mean and corrected 95% interval over {n} paired runs "
            f"of {held}); the paper reports {' and '.join(papers)}. ")
    if all(v == "inconclusive" for v in verdicts):
        powers = [f"{r['power_paper']:.0%}" for r in h.values() if np.isfinite(r["power_paper"])]
        text += ("Neither gain is detected, and neither is ruled out: each interval holds both 0 and the paper's "
                 f"value, and these runs had {' and '.join(powers)} power to detect the paper's own differences.")
    else:
        text += "Verdicts: " + ", ".join(f"{v} ({k})" for k, v in zip(h, verdicts)) + "."
    from mdico_core.experiments.archive_io import read_manifest
    from mdico_core.experiments.archives import get_archive

    a = get_archive(r0["archive"])
    info = read_manifest(a) or {}
    if info.get("partial"):
        full = len({(c.fold, c.seed) for c in a.configs()})
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
    metrics = ", ".join(dict.fromkeys(rows["metric"]))
    holm = int(rows["holm_m"].iloc[0]) if len(rows) else 0
    lines = [f"({claim.id.lower()})=", f"### {claim.id}: {claim.claim}", "",
             f"> {claim.quote} ({claim.source})", "",
             f"Metric: {metrics}; Holm across the {holm} tested comparisons of this claim; evidence on "
             f"[{claim.page}]({claim.page}.html). Archives: "
             + "; ".join(archive_counts(a) for a in dict.fromkeys(rows["archive"])) + ".", "",
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
    metrics = ", ".join(dict.fromkeys(rows["metric"]))
    holm = int(rows["holm_m"].iloc[0]) if len(rows) else 0
    parts = [f'<h3 id="claim-{claim.id.lower()}">{html.escape(claim.id)}: {html.escape(claim.claim)}</h3>',
             f"<blockquote>{html.escape(claim.quote)} ({html.escape(claim.source)})</blockquote>",
             f"<p>Metric: {html.escape(metrics)}; Holm across the {holm} tested comparisons of this claim; "
             f'evidence on <a href="{claim.page}.html">{html.escape(claim.page)}</a>. Archives: '
             + "; ".join(html.escape(archive_counts(a, code=False)) for a in dict.fromkeys(rows["archive"]))
             + ".</p>", _html_table(shown)]
    undecided = rows[(rows["verdict"] == "inconclusive") & rows["power_paper"].notna()]
    if len(undecided):
        parts.append("<p>Inconclusive on the paper's data: the interval holds both 0 and the paper's value. What "
                     "would decide it: " + html.escape("; ".join(f"{r['place']}: {what_would_decide(r)}"
                                                              for _, r in undecided.iterrows())) + ".</p>")
    if claim.untestable:
        parts.append("<p>Not testable here: " + html.escape("; ".join(claim.untestable)) + ".</p>")
    return "\n".join(parts)

"""The paper's testable claims, as data: each claim, the paper's words, and the comparisons that test it here.

A `Comparison` names two cells of one archive (a method, variant, encoder, protocol and view each) whose
runs pair on (fold, seed), the paper's own difference where the paper prints one, the direction the
paper claims, and what the data is (`CONTEXTS`): the paper's benchmark, a stand-in of it, another of the
paper's benchmarks than the claim's table, or data beyond the paper. ``findings`` tests them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mdico_core.reporting.core import paper
from mdico_core.reporting.core.compare import paper_name
from mdico_core.reporting.core.tables import released_single_differences

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


@dataclass(frozen=True)
class Comparison:
    """One test of a claim: `x` - `ref` over runs paired on (fold, seed) of `archive`.

    `paper` is the paper's own value of that difference (None where the paper prints none);
    `direction` the sign the claim predicts (+1, -1, or 0 for a question without one); `context`
    one of `CONTEXTS`. With `ref` None the comparison is of a level: `x`'s mean against `paper`.
    Every side is fixed here, from the paper, before any run is read: no comparator is picked from
    our results. The sign is x - ref on every page that shows the comparison.
    """

    place: str
    archive: str
    x: Side
    ref: Side | None
    paper: float | None
    direction: int
    context: str
    settings: str = "common"
    metric: str | None = None
    note: str = ""
    """why this comparator, where it is not obvious (e.g. "the paper's runner-up")"""
    ref_archive: str | None = None
    """`ref`'s archive where it is not `archive`: the two sides ran on other splits (site-grouped against
    random-row folds), so they are compared as independent samples, not paired on (fold, seed)"""


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


def _our_name(paper_method: str) -> str | None:
    """Our registry name of a method of the paper's tables (None: not one of ours)."""
    from mdico_core.methods import METHODS

    return {paper_name(m): m for m in METHODS}.get(paper_method)


def _every_other() -> tuple[Comparison, ...]:
    """MDiCo against every other method with a value in the paper's table for the view, fixed from the paper:
    "beats every other method" tests each one (its runner-up in the paper flagged), never a best picked here."""
    out = []
    for b, v, a, c in _places():
        t = paper.paper_table(b)
        col = paper.VIEWS[b][v]
        others = t.loc[t["method"] != "MDiCo", ["method"]].assign(value=pd.to_numeric(t[col], errors="coerce"))
        others = others.dropna(subset=["value"])
        runner_up = str(others.loc[others["value"].idxmax(), "method"]) if len(others) else ""
        for row in others.itertuples():
            ours = _our_name(str(row.method))
            if ours is None:
                continue
            out.append(Comparison(f"{_place(b, v, c)}: vs {row.method}", a, Side("mdico", v), Side(ours, v),
                                  _diff(_pv(b, "MDiCo", v), float(row.value)), +1, c, _SETTINGS.get(a, "common"),
                                  note="the paper's runner-up" if row.method == runner_up else ""))
    return tuple(out)


def _collapse() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}: {paper_name(m)}", "lfmc_paper", Side(m, v), Side("individual", v),
                            _diff(_pv("lfmc", paper_name(m), v), _pv("lfmc", "Individual", v)), -1, "paper",
                            "original")
                 for m in ("embracenet", "shaspec") for v in paper.paper_views("lfmc"))


def _ablation() -> tuple[Comparison, ...]:
    # variant - full MDiCo, as the ablation page shows it: removing a component is claimed to lower the score
    return tuple(Comparison(f"LFMC, {v}: {paper.ABLATION_ROWS[var]}", "lfmc_ablation",
                            Side("mdico", v, variant=var), Side("mdico", v), None, -1, "other")
                 for var in paper.ABLATION_VARIANTS if var != "default" for v in paper.paper_views("lfmc"))


def _both_spaces() -> tuple[Comparison, ...]:
    # one feature space alone - both, as the shared/specific page shows it: claimed to score lower
    return tuple(Comparison(f"{_place(b, v, c)}: {mode} only", a, Side("mdico", f"{v}:{mode}"), Side("mdico", v),
                            _diff(_pv(b, "MDiCo", v, mode=mode), _pv(b, "MDiCo", v)), -1, c)
                 for b, v, a, c in _places() for mode in ("shared", "specific"))


def _specific_vs_shared() -> tuple[Comparison, ...]:
    out = []
    for b, v, a, c in _places():
        d = _diff(_pv(b, "MDiCo", v, mode="specific"), _pv(b, "MDiCo", v, mode="shared"))
        out.append(Comparison(f"{_place(b, v, c)}: specific vs shared", a, Side("mdico", f"{v}:specific"),
                              Side("mdico", f"{v}:shared"), d,
                              int(np.sign(d)) if d is not None else 0, c))
    return tuple(out)


def _encoders() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}, {paper.ENCODER_NAMES[e]}", "lfmc_encoders", Side("mdico", v, encoder=e),
                            Side("individual", v, encoder=e), None, +1, "paper")
                 for e in paper.ENCODERS for v in paper.paper_views("lfmc"))


def _released() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC, {v}: released code vs paper's MDiCo", "lfmc_released",
                            Side("mdico", v, variant="released", protocol="released"),
                            Side("mdico", v), None, 0, "paper") for v in paper.paper_views("lfmc"))


def _features() -> tuple[Comparison, ...]:
    # Measured on LFMC, the one benchmark whose runs keep their test features here (lfmc_paper's Companion);
    # the paper shows its figures on TSAITS and CropHarvest, so LFMC is "another of its benchmarks".
    views = paper.paper_views("lfmc")
    return (*(Comparison(f"LFMC, {v}: neighbour score", "lfmc_paper", Side("mdico", v), Side("individual", v), None,
                         +1, "other", metric="neighbour_score") for v in views),
            Comparison(f"LFMC, {'↔'.join(views)}: pair retrieval (MDiCo's shared space)", "lfmc_paper",
                       Side("mdico", "↔".join(views)), Side("individual", "↔".join(views)), None, +1, "other",
                       metric="pair_retrieval"))


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


def _sites_gain() -> tuple[Comparison, ...]:
    return tuple(Comparison(f"LFMC at unseen sites, {v}", "lfmc_sites", Side("mdico", v), Side("individual", v), None,
                            +1, "beyond") for v in paper.paper_views("lfmc"))


def _sites_drop() -> tuple[Comparison, ...]:
    from mdico_core.experiments.archives import (
        SITES_METHODS,  # the methods archive lfmc_sites was defined with
    )

    out = []
    for m in SITES_METHODS:
        for v in ("fusion",) if m == "inputfu" else paper.paper_views("lfmc"):
            out.append(Comparison(f"LFMC, {v}: {paper_name(m)}, unseen sites - random rows", "lfmc_sites",
                                  Side(m, v), Side(m, v), None, -1, "beyond", ref_archive="lfmc_paper"))
    return tuple(out)


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "MDiCo improves each single modality over Individual (each modality trained alone)",
          "Our framework, unlike recent methods from the literature, systematically improves upon models "
          "trained on individual modalities", "Sec. 5; Tables 2-5", "02_main_results_lfmc_archived",
          _gain_over_individual(), (TSAITS_ABSENT, CROPH_ABSENT)),
    Claim("C2", "MDiCo beats every other method on every single modality",
          "our MDiCo framework consistently outperforms both Individual baselines and all competing methods in "
          "nearly all considered cases", "Sec. 4.4; Tables 2-5", "02_main_results_lfmc_archived",
          _every_other(), (TSAITS_ABSENT, CROPH_ABSENT)),
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
    Claim("C8", "MDiCo's features group the samples by their target more tightly than Individual's (t-SNE)",
          "We compare the features extracted by our framework (concatenation of shared and specific ones) with "
          "the ones derived by the Individual methods", "Sec. 4.8; Fig. 4, A3, A4", "06_tsne", _features(),
          (TSAITS_ABSENT, CROPH_ABSENT + "; the stand-in archives keep no features")),
    Claim("L1", "Table 5's Individual and MDiCo scores are reached here (a level, not a difference)",
          "Table 5 (R², LFMC)", "Table 5", "02_main_results_lfmc_archived", _levels()),
    Claim("R1", "The authors' released code (its model and protocol) scores like the paper's MDiCo",
          f"(this companion's question: the released code differs from the paper in {len(released_single_differences())} "
          "places, each measured alone on its page)",
          "page 09", "09_released_vs_paper", _released(), ours=True),
    Claim("B1", "MDiCo improves single modalities beyond EO (the paper's limitation ii)",
          "Our approach has been validated exclusively on EO data.", "Sec. 5, limitation (ii)", "10_beyond",
          _beyond_mfeat(), ours=True),
    Claim("S1", "MDiCo's gain over Individual holds at sites never seen in training (site-grouped folds)",
          "(this companion's question: an LFMC map is made where nobody sampled; the paper's folds are random rows, "
          "so its test sites were seen in training at other dates)", "beyond the paper", "10_beyond",
          _sites_gain(), ours=True),
    Claim("S2", "Every method loses R² at sites never seen in training",
          "(this companion's question: site-grouped against random-row folds, each method's R²)", "beyond the paper",
          "10_beyond", _sites_drop(), ours=True),
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


def archives_used(claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The archives the claims are tested on, in first-use order."""
    return list(dict.fromkeys(a for claim in claims for c in claim.comparisons
                              for a in (c.archive, c.ref_archive) if a))

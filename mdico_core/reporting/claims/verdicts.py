"""The verdict rule of What replicates: two axes that cannot overlap, and one table of their words.

*Direction* is read off a comparison's family interval (`direction_of`); *size* compares our estimate
with the paper's own value, taken as the estimate it is (`size_of`). `WORDS` maps every pair to a
verdict and its words; ``findings`` computes the axes for each comparison of the ledger, and the
page, ``mdico findings`` and the headline take their words from here.
"""

from __future__ import annotations

import numpy as np

PAPER_UNIT = {"r2": 0.001}
"""The last printed digit of the paper's values per metric (R² to 3 decimals; F1 and accuracy, in %, to 1)."""


def paper_unit(metric: str) -> float:
    """The rounding unit of the paper's printed values for `metric`."""
    return PAPER_UNIT.get(metric, 0.1)


# ---------------------------------------------------------------------------------- the rule
DIRECTIONS = ("as claimed", "reversed", "differs", "nil", "not detected")
"""The direction axis: detected in the claim's direction, against it, detected where the claim has no
direction, practically nil (the family interval inside ±ROPE), nothing detected."""
SIZES = ("consistent", "borderline", "smaller", "larger", "no paper value")
"""The size axis: the paper's value consistent with ours, ruled out only if it were exact, ruled out with
ours smaller or larger (in the claim's direction), or no paper value to compare on this data."""

_R, _P, _C, _I, _E, _D = "replicated", "partly replicated", "contradicted", "inconclusive", "equivalent", "differs"
WORDS: dict[tuple[str, str], tuple[str, str]] = {
    ("as claimed", "consistent"): (_R, "replicated: the paper's direction, and its size is not ruled out"),
    ("as claimed", "no paper value"): (_R, "replicated: a difference in the paper's direction"),
    ("as claimed", "borderline"): (_R, "replicated; the paper's size is borderline (ruled out only if its value "
                                       "were exact)"),
    ("as claimed", "smaller"): (_P, "direction replicated, smaller than the paper's"),
    ("as claimed", "larger"): (_P, "direction replicated, larger than the paper's"),
    ("reversed", "consistent"): (_C, "reversed: a difference against the paper's direction"),
    ("reversed", "no paper value"): (_C, "reversed: a difference against the paper's direction"),
    ("reversed", "borderline"): (_C, "reversed: a difference against the paper's direction"),
    ("reversed", "smaller"): (_C, "reversed, and the paper's size is ruled out"),
    ("reversed", "larger"): (_C, "reversed, beyond even the paper's own value"),
    ("differs", "consistent"): (_D, "a difference is detected (no direction claimed); the paper's value is not "
                                    "ruled out"),
    ("differs", "no paper value"): (_D, "a difference is detected (no direction claimed)"),
    ("differs", "borderline"): (_D, "a difference is detected (no direction claimed); the paper's value is "
                                    "borderline"),
    ("differs", "smaller"): (_D, "a difference is detected (no direction claimed), lower than the paper's"),
    ("differs", "larger"): (_D, "a difference is detected (no direction claimed), higher than the paper's"),
    ("nil", "consistent"): (_E, "equivalent: practically no difference, and the paper's value is not ruled out"),
    ("nil", "no paper value"): (_E, "equivalent: practically no difference"),
    ("nil", "borderline"): (_E, "equivalent: practically no difference; the paper's size is borderline"),
    ("nil", "smaller"): (_C, "contradicted: practically no difference, smaller than the paper's"),
    ("nil", "larger"): (_C, "contradicted: practically no difference, where the paper's value goes against "
                            "its claim"),
    ("not detected", "consistent"): (_I, "inconclusive: no difference detected, and the paper's value is not "
                                         "ruled out"),
    ("not detected", "no paper value"): (_I, "inconclusive: no difference detected"),
    ("not detected", "borderline"): (_I, "inconclusive: no difference detected; the paper's value is borderline"),
    ("not detected", "smaller"): (_C, "contradicted: no difference detected, and the paper's size is ruled out "
                                      "(ours is smaller)"),
    ("not detected", "larger"): (_C, "contradicted: the paper's value is ruled out (ours is larger)"),
}
VERDICTS = (_R, _P, _C, _I, _E, _D, "not tested", "not testable here")
OTHER_DATA_VERDICTS = {_R: "holds", _P: "holds", _C: "fails"}  # off the paper's data: no paper value, no replication
LEVEL_WORDS = {"consistent": ("consistent", "consistent: the paper's value lies within our estimate's reach"),
               "borderline": ("consistent", "consistent, borderline: apart only if the paper's value were exact"),
               "smaller": ("lower here", "lower here than the paper's value"),
               "larger": ("higher here", "higher here than the paper's value")}
LEVEL_VERDICTS = ("consistent", "higher here", "lower here")


def direction_of(lo: float, hi: float, direction: int, rope: float) -> str:
    """The direction axis, read off the family interval [`lo`, `hi`] (see `DIRECTIONS`)."""
    if lo > 0 or hi < 0:
        if direction == 0:
            return "differs"
        return "as claimed" if np.sign(lo if lo > 0 else hi) == direction else "reversed"
    if np.isfinite(rope) and -rope < lo and hi < rope:
        return "nil"
    return "not detected"


def size_of(mean: float, se: float, crit: float, paper: float | None, unit: float, direction: int,
            paper_se: float | None = None) -> str:
    """The size axis: is the paper's value ruled out by ours (see `SIZES`)?

    `crit` is the family's critical t; the paper's standard error is `paper_se` (None: taken as ours,
    `se`) and its rounding an interval of half-width `unit` (a difference of two rounded values: twice
    the half unit). Ruled out when the whole rounding interval is further from our mean than crit x
    sqrt(se² + paper_se²); borderline when only the exact paper value (no spread, no rounding) is.
    """
    if paper is None or not np.isfinite(paper):
        return "no paper value"
    paper_se = se if paper_se is None else paper_se
    gap = mean - paper
    exact_out = abs(gap) > crit * se
    robust_out = max(0.0, abs(gap) - unit) > crit * np.sqrt(se**2 + paper_se**2)
    if not exact_out:
        return "consistent"
    if not robust_out:
        return "borderline"
    return "smaller" if (direction or 1) * gap < 0 else "larger"


def verdict(direction_state: str, size_state: str, context: str = "paper") -> tuple[str, str]:
    """(verdict, words) of one comparison from its two axes, through `WORDS`; off the paper's data the
    verdict says "holds" / "fails"."""
    short, words = WORDS[(direction_state, size_state)]
    if context != "paper":
        short = OTHER_DATA_VERDICTS.get(short, short)
    return short, words


def level_verdict(size_state: str) -> tuple[str, str]:
    """(verdict, words) of a level (the paper's number itself), from its size axis alone."""
    if size_state == "no paper value":
        return "not testable here", "the paper prints no value here"
    return LEVEL_WORDS[size_state]

"""Beyond the paper, LFMC at unseen sites: the page's numbers are `mdico findings`' numbers."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from mdico_core.cli import main
from mdico_core.reporting.claims import findings, sites
from mdico_core.reporting.core.format import fmt_interval

PAGE = Path(__file__).resolve().parents[1] / "book" / "generated" / "10_beyond.ipynb"


def _glued(name: str) -> str:
    """The text glued under `name` in the committed Beyond page."""
    nb = json.loads(PAGE.read_text())
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == name:
                return ast.literal_eval(next(iter(out["data"].values())))  # the glued string's repr
    raise AssertionError(f"{name} is not glued on {PAGE.name}")


@pytest.fixture(scope="module")
def table():
    return sites.ledger()


def test_the_sites_rows_are_the_ledgers_own(table):
    """The page's rows come from the claims' own families: the same intervals as `findings.ledger` of S1, S2."""
    full = findings.ledger([findings.get_claim("S1"), findings.get_claim("S2")])
    mine = table[table["claim"].isin(["S1", "S2"])].reset_index(drop=True)
    assert list(mine["place"]) == list(full["place"])
    assert mine["lo"].equals(full["lo"]) and mine["hi"].equals(full["hi"])
    assert (mine["family_m"] == full["family_m"]).all()


def test_the_page_shows_what_mdico_findings_prints(table, capsys):
    if not PAGE.is_file():
        pytest.skip("the Beyond page is not built")
    glued = _glued("sites_gain")
    for _, r in table[table["claim"] == "S1"].iterrows():
        shown = f"{r['place'].split(', ')[-1]}: {fmt_interval(r['mean'], r['lo'], r['hi'], 3)} over {r['n']} paired runs"
        assert shown in glued, "rebuild the Beyond page: `mdico book --only 10_beyond --skip-sweep`"
    assert main(["findings", "--claims", "S1"]) == 0
    out = capsys.readouterr().out
    for _, r in table[table["claim"] == "S1"].iterrows():
        assert fmt_interval(r["mean"], r["lo"], r["hi"], 3).replace("\u00a0", " ") in out.replace("\u00a0", " ")


def test_levels_hold_every_method_of_the_archive(table):
    lv = sites.levels(table)
    from mdico_core.experiments.archives import SITES_METHODS
    from mdico_core.reporting.core.compare import paper_name

    assert set(lv["method"]) == {paper_name(m) for m in SITES_METHODS}
    assert (lv["lfmc_paper_n"] >= 49).all()  # every method of lfmc_paper's common settings, its failed run counted

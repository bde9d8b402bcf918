"""The paper's facts (reporting/core/paper.py) agree with its tables, its text and the data registry."""

from __future__ import annotations

import numpy as np
import pytest

from mdico_core.reporting.core import paper


def test_paper_tables_ship_with_the_package():
    assert paper.paper_tables_dir().parent.name == "reporting"  # package data, not a checkout's data/
    assert list(paper.paper_table("lfmc")["method"])[:2] == ["InputFu", "Individual"]
    assert paper.paper_table("table6").equals(paper.paper_table("ablation"))
    assert paper.paper_table("tableA1_params_thousands").equals(paper.paper_table("tableA1"))
    for name in (*paper.BENCHMARKS, "table6", "table7", "tableA1"):
        assert len(paper.paper_table(name))
    with pytest.raises(ValueError, match="valid names"):
        paper.paper_table("table99")


def test_every_benchmark_has_its_facts():
    for b in paper.BENCHMARKS:
        assert {b} <= set(paper.NAMES) & set(paper.TABLES) & set(paper.TASKS) & set(paper.VIEWS)
        assert {v for k, v in paper.VIEWS[b].items()} <= set(paper.paper_table(b).columns) | {"fusion"}
    assert list(paper.ABLATION_ROWS.values()) == paper.paper_table("table6")["variant"].tolist()[1:]


def test_benchmark_tasks_agree_with_the_data_registry():
    from mdico_core.data import get_dataset_entry

    for b in paper.BENCHMARKS:
        e = get_dataset_entry(b)
        assert e.task == paper.TASKS[b] and e.paper_name == paper.NAMES[b]


def test_paper_values():
    assert paper.paper_value("lfmc", "MDiCo", "default", "L8") == (pytest.approx(0.467), "Table 5")
    assert paper.paper_value("lfmc", "MDiCo", "default", "S1", "shared")[1] == "Table 7"
    assert paper.paper_value("croph_b", "MDiCo", "no_cont", "S1") == (pytest.approx(70.4), "Table 6")
    assert np.isnan(paper.paper_value("lfmc", "MDiCo", "no_cont", "S1")[0])  # not ablated on LFMC
    assert paper.paper_value("lfmc", "MDiCo", "released", "L8")[0] == pytest.approx(0.467)
    assert np.isnan(paper.paper_value("lfmc", "MDiCo", "default", "nope")[0])
    assert paper.paper_views("tsaits") == ["aerial", "S2"]


def test_paper_facts_in_the_prose_come_from_the_paper_tables():
    t = paper.paper_table("table7").set_index("variant")
    slow = [c for c in t.columns if t.loc["shared features only", c] > t.loc["specific features only", c]]
    assert slow == ["croph_b_s1", "croph_m_s1", "lfmc_l8"]
    assert paper.shared_wins() == "CropH-b S1, CropH-m S1, LFMC L8"
    t6 = paper.paper_table("table6").set_index("variant")
    assert paper.ablation_drop("croph_m", "s1", "w/o contrastive loss") == pytest.approx(
        t6.loc["w/o contrastive loss", "croph_m_s1"] - t6.loc["MDiCo", "croph_m_s1"])
    assert paper.ablation_drop("croph_b", "s1", "w/o contrastive loss") == pytest.approx(70.4 - 73.5)
    assert np.isnan(paper.ablation_drop("lfmc", "l8", "w/o contrastive loss"))  # not ablated in the paper


def test_every_mark_of_table_1_is_explained_under_it():
    """A cell marked * in the paper's Table 1 as the book shows it has its note, naming the value it marks."""
    from mdico_core.reporting.core import paper

    marked = [v for v in paper.TABLE1.to_numpy().ravel() if str(v).endswith("*")]
    assert marked and paper.TABLE1_NOTE.startswith("\\* ")
    assert all(str(v).rstrip("*") in paper.TABLE1_NOTE for v in marked)

"""Every fact taken from the paper: names, table numbers, tasks, views, table rows, its own numbers.

The paper's tables ship with the package as CSV files (``paper_tables/*.csv``: F1 in %, R² as a
fraction, like our metrics), read by `paper_table`. Nothing here knows about our runs, our data
cache or the results store: this module only restates the paper.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------- benchmarks
# The paper's benchmarks in the order of its Tables 2-5 (registry names of mdico_core.data).
BENCHMARKS: tuple[str, ...] = ("croph_b", "croph_m", "tsaits", "lfmc")
NAMES = {"croph_b": "CropH-b", "croph_m": "CropH-m", "tsaits": "TSAITS", "lfmc": "LFMC"}
TABLES = {"croph_b": "Table 2", "croph_m": "Table 3", "tsaits": "Table 4", "lfmc": "Table 5"}
TASKS = {"croph_b": "binary", "croph_m": "multiclass", "tsaits": "multilabel", "lfmc": "regression"}

# Our modality name -> the paper's column, per benchmark (fusion: the fusion references' column).
VIEWS: dict[str, dict[str, str]] = {
    "croph_b": {"S2": "sentinel2", "fusion": "fusion", "S1": "sentinel1"},
    "croph_m": {"S2": "sentinel2", "fusion": "fusion", "S1": "sentinel1"},
    "tsaits": {"aerial": "aerial", "S2": "sentinel2", "fusion": "fusion"},
    "lfmc": {"S1": "sentinel1", "L8": "landsat8", "fusion": "fusion"},
}
# The paper's column -> its short form in Tables 6, 7 and A1 ("<benchmark>_<short>").
SHORT_COLUMNS = {"sentinel1": "s1", "sentinel2": "s2", "landsat8": "l8", "aerial": "aerial"}

# Table 1 as printed, but for the shape marked * (`TABLE1_NOTE`, shown under the table).
TABLE1 = pd.DataFrame(
    [("CropH-b & CropH-m", "Sentinel-1", "radar SITS", "10 m", "1 per month", "(12, 2, 1, 1)"),
     ("CropH-b & CropH-m", "Sentinel-2", "optical SITS", "10 m", "1 per month", "(12, 11, 1, 1)*"),
     ("TSAITS", "Aerial", "optical image", "0.2 m", "None", "(1, 4, 320, 320)"),
     ("TSAITS", "Sentinel-2", "optical SITS", "10 m", "~10 per month", "(150, 12, 6, 6)"),
     ("LFMC", "Sentinel-1", "radar SITS", "250 m", "1 per month", "(4, 3, 1, 1)"),
     ("LFMC", "Landsat 8", "optical SITS", "250 m", "1 per month", "(4, 8, 1, 1)")],
    columns=["dataset", "modality", "sensor type", "spatial resolution", "temporal resolution", "input shape"],
)

TABLE1_NOTE = ("\\* The paper prints the two CropHarvest input shapes in the opposite order, (12, 11, 1, 1) beside "
               "Sentinel-1 and (12, 2, 1, 1) beside Sentinel-2; here each is beside its sensor: Sentinel-1 has 2 "
               "polarisations, Sentinel-2 its 11 optical bands (12 channels with NDVI in the released data).")

# ---------------------------------------------------------------------------------- methods and rows
METHOD_NAMES = {"individual": "Individual", "mdico": "MDiCo"}
# Rows of the paper's Tables 2-5: fusion references, Individual, competitors, MDiCo last.
ORDER = ("InputFu", "MMGF", "Individual", "EmbraceNet", "ShaSpec", "DeCUR", "DML", "DisCoM-KD", "AnySat",
         "FModDrop", "FCoM-av", "ESensI", "MDiCo")
# MDiCo's variants of Table 6 (CropHarvest ablations), in its row order, and their row names.
ABLATION_ROWS = {
    "default": "MDiCo", "no_mod": "w/o modality loss", "no_aux": "w/o auxiliary loss",
    "no_cont": "w/o contrastive loss", "no_unused": "w/o unused features", "unpaired": "unpaired data",
    "shared_encoders": "shared encoders", "weighted": "weighted loss",
}
ABLATION_VARIANTS: tuple[str, ...] = tuple(ABLATION_ROWS)
VARIANT_NAMES = {**ABLATION_ROWS, "released": "released code"}
# MDiCo's inference from one feature space -> row of Table 7.
MODE_ROWS = {"shared": "shared features only", "specific": "specific features only"}
# The loss terms of Eq. 6.
TERM_NAMES = {"main": "main predictive (L_main)", "aux": "auxiliary predictive (L_aux)",
              "cont": "contrastive (L_cont)", "mod": "modality discriminant (L_mod)"}

# ---------------------------------------------------------------------------------- encoders
# The temporal encoders of the paper's encoder study (Fig. 3, A1, A2), TempCNN the default.
ENCODERS: tuple[str, ...] = ("tempcnn", "mlp", "transformer", "convtran", "lstm")
ENCODER_NAMES = {"tempcnn": "TempCNN", "mlp": "MLP", "transformer": "Transformer", "convtran": "ConvTran",
                 "lstm": "LSTM", "resnet50": "ResNet-50"}
# Table A1's columns and the per-sample shapes they were counted on: (T, C) series, (C, H, W) image.
TABLE_A1_SHAPES: dict[str, tuple[int, ...]] = {
    "croph_s1": (12, 2), "croph_s2": (12, 12), "lfmc_s1": (4, 3), "lfmc_l8": (4, 8),
    "tsaits_aerial": (4, 304, 304), "tsaits_s2": (146, 432),
}

# ---------------------------------------------------------------------------------- the tables
_MAIN_TABLE = {"croph_b": "table2_croph_b", "croph_m": "table3_croph_m", "tsaits": "table4_tsaits",
               "lfmc": "table5_lfmc"}
_ALIASES = {
    "table2": "table2_croph_b", "table3": "table3_croph_m", "table4": "table4_tsaits", "table5": "table5_lfmc",
    "table6": "table6_ablation", "ablation": "table6_ablation", "table7": "table7_shared_specific",
    "shared_specific": "table7_shared_specific", "tablea1": "tableA1_params_thousands",
    "params": "tableA1_params_thousands", **_MAIN_TABLE,
}


def paper_tables_dir() -> Path:
    """The folder of the paper's CSV tables, shipped inside the package."""
    return Path(str(resources.files("mdico_core.reporting") / "paper_tables"))


def table_file(name: str) -> str:
    """The file stem of a paper table named by benchmark (``"lfmc"``), alias (``"table6"``) or stem."""
    stems = {p.stem for p in paper_tables_dir().glob("*.csv")}
    stem = _ALIASES.get(name.lower(), name)
    if stem not in stems:
        raise ValueError(f"unknown paper table {name!r}; valid names: {', '.join(sorted(stems | set(_ALIASES)))}")
    return stem


def paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables: by benchmark (``"lfmc"``: Table 5), alias (``"table6"``, ``"ablation"``)
    or file stem (``"tableA1_params_thousands"``). Raises ``ValueError`` listing the valid names."""
    return pd.read_csv(paper_tables_dir() / f"{table_file(name)}.csv")


def _lookup(table: pd.DataFrame, key_col: str, row: str, col: str) -> float:
    hit = table[table[key_col].astype(str).str.lower() == row.lower()]
    if hit.empty or col not in table:
        return np.nan
    return float(pd.to_numeric(hit.iloc[0][col], errors="coerce"))


def paper_value(benchmark: str, paper_method: str, variant: str, modality: str, mode: str = "") -> tuple[float, str]:
    """(the paper's number, the table it comes from) for one cell; ``(nan, "")`` when the paper has none.

    Args:
        benchmark: a paper benchmark (``"croph_b"``).
        paper_method: the method's name in the paper (``"MDiCo"``).
        variant: MDiCo's variant (``"default"``; Table 6 rows for the ablations; ``"released"``, the
            released code, is compared with the paper's MDiCo row).
        modality: our modality name on that benchmark (``"S1"``, ``"fusion"``).
        mode: ``""``, or ``"shared"`` / ``"specific"`` for Table 7.
    """
    col = VIEWS.get(benchmark, {}).get(modality)
    if col is None:
        return np.nan, ""
    short = SHORT_COLUMNS.get(col)
    mdico = paper_method.lower() == "mdico"
    if mode:
        if not mdico or variant != "default" or mode not in MODE_ROWS or short is None:
            return np.nan, ""
        return _lookup(paper_table("table7"), "variant", MODE_ROWS[mode], f"{benchmark}_{short}"), "Table 7"
    if variant != "default":
        if mdico and variant in ABLATION_ROWS and short and benchmark in ("croph_b", "croph_m"):
            return _lookup(paper_table("table6"), "variant", ABLATION_ROWS[variant], f"{benchmark}_{short}"), "Table 6"
        if mdico and variant == "released":  # the same model as the paper's, per its authors
            return _lookup(paper_table(benchmark), "method", paper_method, col), f"{TABLES[benchmark]}, MDiCo row"
        return np.nan, ""
    return _lookup(paper_table(benchmark), "method", paper_method, col), TABLES[benchmark]


def paper_views(benchmark: str) -> list[str]:
    """Our single-modality view names of a paper benchmark (fusion excluded)."""
    return [v for v in VIEWS.get(benchmark, {}) if v != "fusion"]


def ablation_drop(benchmark: str, short: str, row: str) -> float:
    """Table 6: `row` minus full MDiCo in column ``<benchmark>_<short>`` (e.g. croph_b, s1); NaN where
    the paper did not ablate (it ablated CropHarvest only)."""
    t = paper_table("table6").set_index("variant")
    col = f"{benchmark}_{short}"
    if col not in t.columns or row not in t.index:
        return float("nan")
    return float(t.loc[row, col] - t.loc["MDiCo", col])


def shared_wins() -> str:
    """The Table 7 columns where the paper's shared features alone beat its specific ones, in words."""
    t = paper_table("table7").set_index("variant")
    shared, specific = t.loc[MODE_ROWS["shared"]], t.loc[MODE_ROWS["specific"]]
    wins = []
    for col in t.columns:
        if shared[col] > specific[col]:
            benchmark, _, sensor = col.rpartition("_")
            wins.append(f"{NAMES.get(benchmark, benchmark)} {sensor.upper() if len(sensor) <= 3 else sensor}")
    return ", ".join(wins) if wins else "none"

"""LFMC: live fuel moisture content in the western US (Rao et al. 2020), the paper's regression benchmark.

2,578 samples at 150 field sites, 2015-2019. Two modalities of 4 monthly steps ``t-3 .. t``:
Sentinel-1 (``vv``, ``vh``, ``vh_vv``) and Landsat-8 (``red``, ``green``, ``blue``, ``swir``,
``nir``, ``ndvi``, ``ndwi``, ``nirv``); the target is the LFMC ``percent(t)``.

Coordinates. The LFMC pickle has site names but no coordinates. Presto's
``single_file_labels.geojson`` holds the same 2,578 records with a point each, plus 37
duplicated (site, date) pairs; after dropping those, every LFMC row matches one geojson record
on (site, date) with an identical target. The duplicates all come from three site names that
``nfmd_queried_latlon.csv`` lists twice, at two different places (Rao's own code joins that CSV
on the site name, which duplicates these rows): "Hall Creek" (16 samples; 42.651 N -108.448 and
46.317 N -111.771), "South Canyon" (15; 38.307 N -112.692 and 39.565 N -107.411) and "Fortynine
C2A" (6; 41.550 N -121.015 and 41.600 N -119.974). Nine more names are listed twice in the CSV
but have no LFMC sample. Within the pickle each of the three sites has a single set of static
features, so its inputs were extracted at one place only. Rule: for each, we take the candidate
whose SRTM elevation (Presto's ``s1_s2_era5_srtm.npy``, band 15, which Presto sampled at both
candidates) is closest to the pickle's ``elevation(t)``: Hall Creek 1784 m vs 1927 m (42.651 N)
and 1816 m (46.317 N) -> 46.317 N; South Canyon 1840 m vs 1837 m (38.307 N) and 1767 m
(39.565 N) -> 38.307 N; Fortynine C2A 1737 m vs 1508 m (41.550 N) and 1677 m (41.600 N)
-> 41.600 N. In all three cases this is also the first of the two rows in
``nfmd_queried_latlon.csv``, which suggests Rao's extraction used the first match. (For Hall
Creek the pickle's slope, 2.4, fits neither candidate well: 17.5 and 10.4 in Presto's SRTM
slope; that one is the least certain.) The 37 affected rows carry ``latlon_ambiguous=True`` in
the metadata, so analyses that depend on exact location can drop them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mdico_core.data import DatasetEntry, register_dataset
from mdico_core.data.cache import fetch
from mdico_core.data.dataset import DataValidationError, ModalityInfo, MultiModalDataset
from mdico_core.data.registry import get_remote

PICKLE = "lfmc_rao2020/lstm_input_data_pure+all_same_28_may_2019_res_1M_gap_3M"
GEOJSON = "presto_fuel_moisture/single_file_labels.geojson"
STEPS = ("t-3", "t-2", "t-1", "t")  # oldest first
S1_BANDS = ("vv", "vh", "vh_vv")
L8_BANDS = ("red", "green", "blue", "swir", "nir", "ndvi", "ndwi", "nirv")
STATIC = ("slope", "elevation", "canopy_height", "forest_cover", "silt", "sand", "clay")
N_SAMPLES = 2578

# Sites whose name has two coordinates upstream -> the one chosen (see the module docstring).
AMBIGUOUS_SITES: dict[str, tuple[float, float]] = {
    "Hall Creek": (46.31694444, -111.7711111),
    "South Canyon": (38.30694444, -112.6916667),
    "Fortynine C2A": (41.60027778, -119.9744444),
}

LICENCE = get_remote(PICKLE).licence
SOURCE = ("Rao et al. (2020) LFMC training data (github.com/kkraoj/lfmc_from_sar); site coordinates from "
          "Presto's fuel-moisture labels (github.com/nasaharvest/presto)")


def _series(df: pd.DataFrame, bands: tuple[str, ...]) -> np.ndarray:
    """Stack ``band(step)`` columns into float32 ``(N, T, C)`` with T ordered t-3 .. t."""
    missing = [f"{b}({s})" for s in STEPS for b in bands if f"{b}({s})" not in df.columns]
    if missing:
        raise DataValidationError(f"LFMC pickle lacks columns {missing[:5]}...; is it the pinned file?")
    cols = [[f"{b}({s})" for b in bands] for s in STEPS]  # (T, C) column names
    return np.stack([df[c].to_numpy(np.float64) for c in cols], axis=1).astype(np.float32)


def read_site_coordinates(path) -> pd.DataFrame:
    """Presto's geojson as (site, date, lat, lon, target) with duplicated (site, date) pairs dropped."""
    with open(path, encoding="utf-8") as f:
        features = json.load(f)["features"]
    rows = [{
        "site": ft["properties"]["site"],
        "date": pd.Timestamp(ft["properties"]["date"]),
        "lon": float(ft["geometry"]["coordinates"][0]),
        "lat": float(ft["geometry"]["coordinates"][1]),
        "geo_target": float(ft["properties"]["percent(t)"]),
    } for ft in features]
    geo = pd.DataFrame(rows)
    return geo.drop_duplicates(["site", "date"], keep="first").reset_index(drop=True)


def load_lfmc() -> MultiModalDataset:
    """The LFMC benchmark as a `MultiModalDataset` (modalities "S1" (N, 4, 3) and "L8" (N, 4, 8)).

    Reads the pinned pickle only after its SHA-256 matched (``cache.fetch``), so no unverified
    bytes are ever unpickled. Metadata: site, date, lat, lon, latlon_ambiguous and the static
    site features (slope, elevation, canopy_height, forest_cover, silt, sand, clay).
    """
    df = pd.read_pickle(fetch(PICKLE))
    df = df.reset_index(drop=True)
    if len(df) != N_SAMPLES:
        raise DataValidationError(f"LFMC pickle has {len(df)} rows, expected {N_SAMPLES}")
    df["date"] = pd.to_datetime(df["date"])

    geo = read_site_coordinates(fetch(GEOJSON))
    meta = df[["site", "date"]].merge(geo, on=["site", "date"], how="left", validate="one_to_one")
    if meta["lat"].isna().any():
        raise DataValidationError(f"{int(meta['lat'].isna().sum())} LFMC rows have no coordinate in {GEOJSON}")
    if not np.allclose(meta["geo_target"].to_numpy(), df["percent(t)"].to_numpy(), rtol=0, atol=1e-6):
        raise DataValidationError(f"{GEOJSON} disagrees with the LFMC pickle on the target of some (site, date)")
    meta = meta[["site", "date", "lat", "lon"]].copy()
    meta["latlon_ambiguous"] = meta["site"].isin(list(AMBIGUOUS_SITES))
    for site, (lat, lon) in AMBIGUOUS_SITES.items():
        rows = meta["site"] == site
        meta.loc[rows, "lat"], meta.loc[rows, "lon"] = lat, lon
    for s in STATIC:
        meta[s] = df[f"{s}(t)"].to_numpy()

    return MultiModalDataset(
        name="lfmc",
        modalities={"S1": _series(df, S1_BANDS), "L8": _series(df, L8_BANDS)},
        target=df["percent(t)"].to_numpy(np.float32),
        task="regression",
        metadata=meta,
        info={
            "S1": ModalityInfo("Sentinel-1", "SITS", S1_BANDS, "250 m", "1 per month"),
            "L8": ModalityInfo("Landsat-8", "SITS", L8_BANDS, "250 m", "1 per month"),
        },
        paper_name="LFMC",
        source=SOURCE,
        licence=LICENCE,
    )


register_dataset(DatasetEntry(
    name="lfmc",
    loader=load_lfmc,
    paper_name="LFMC",
    task="regression",
    description="Live fuel moisture content, western US: Sentinel-1 (4x3) + Landsat-8 (4x8), 2,578 samples",
    files=(PICKLE, GEOJSON),
    source=SOURCE,
    licence=LICENCE,
    samples=N_SAMPLES,
    shapes={"S1": (len(STEPS), len(S1_BANDS)), "L8": (len(STEPS), len(L8_BANDS))},
))

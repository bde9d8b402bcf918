"""Real stand-ins from Presto's downstream tasks (Tseng et al. 2023), always labelled as stand-ins.

Both are Earth Engine exports in the CropHarvest array layout (monthly steps x the 18 bands of
`cropharvest.BANDS`), so they share CropHarvest's band selection (`cropharvest.select_bands`).

- ``algae_blooms`` stands in for CropH-m (multi-class, S1 + S2 time series) where the real
  CropHarvest arrays are absent: 1,122 lakes, 12 monthly steps, target = bloom severity 1-5
  (counts 246/260/494/116/6). Severity 5 has only 6 samples, fewer than the 10 CV folds, so it is
  merged into severity 4: four classes "1", "2", "3", "4-5". Views S1 (12 x 2) and S2 (12 x 12)
  exactly as CropHarvest's. Presto's ``is_test`` is kept in the metadata only: the paper's
  CropHarvest protocol is 10-fold CV, so this stand-in is evaluated the same way.
- ``algae_blooms_binary`` stands in for CropH-b (binary): the same lakes and views, target =
  bloom (severity >= 2) vs no bloom (severity 1), 876 vs 246 lakes (78 % / 22 %). The severity
  levels are the Tick Tick Bloom challenge's bins of cyanobacteria density, as the challenge
  documents them (not verifiable offline here): level 1 is below 20,000 cells/mL, the World Health
  Organization's lowest guidance value for recreational water, and every higher level is above
  it, so "any level above 1" is the one threshold that means "a bloom is present". Severity >= 3
  would balance the classes (616 / 506) but call lakes above that guidance value "no bloom". The
  22 % minority is handled as in the paper's classification tasks (class-weighted loss, weighted
  F1), and stratified 10-fold CV keeps about 25 no-bloom lakes in each test fold.
- ``presto_lfmc`` stands in for LFMC with more than two modalities (paper limitation (i)): LFMC
  (%) at 2,313 samples of 150 sites, 3 monthly steps, three modalities S1 (VV, VH), S2 (the 11
  optical bands + NDVI, as CropHarvest's S2 view) and ERA5_SRTM (temperature, precipitation,
  elevation, slope). Regression. Metadata: lat, lon, site, the LFMC date (matched in order to
  Presto's ``single_file_labels.geojson``), and Presto's site-based ``is_test``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from mdico_core.data import DatasetEntry, register_dataset
from mdico_core.data.cropharvest import S1_BANDS, S2_BANDS, VIEW_INFO, select_bands
from mdico_core.data.dataset import ModalityInfo, MultiModalDataset
from mdico_core.data.registry import get_remote

log = logging.getLogger(__name__)

AB = "presto_algae_blooms"
FM = "presto_fuel_moisture"
ALGAE_FILES = tuple(f"{AB}/{f}" for f in ("s1_s2_era5_srtm.npy", "target.npy", "latlon.npy", "is_test.npy", "uid.npy"))
LFMC_FILES = tuple(f"{FM}/{f}" for f in (
    "s1_s2_era5_srtm.npy", "target.npy", "latlon.npy", "site.npy", "is_test.npy", "single_file_labels.geojson"))
ALGAE_SOURCE = "Presto (Tseng et al. 2023, github.com/nasaharvest/presto), algae blooms task (Tick Tick Bloom)"
ALGAE_LICENCE = get_remote(ALGAE_FILES[0]).licence  # the registry says each file's licence once
LFMC_SOURCE = "Presto (Tseng et al. 2023, github.com/nasaharvest/presto), fuel moisture task"
LFMC_LICENCE = get_remote(LFMC_FILES[0]).licence

# Severity 5 (6 lakes) cannot be stratified over 10 folds: it joins severity 4.
SEVERITY_TO_CLASS = {1: 0, 2: 1, 3: 2, 4: 3, 5: 3}
ALGAE_CLASSES = ["severity 1", "severity 2", "severity 3", "severity 4-5"]
# Binary stand-in: a bloom is any severity above 1 (see the module docstring for why).
BLOOM_SEVERITY = 2
BLOOM_CLASSES = ["no bloom (severity 1)", "bloom (severity 2-5)"]
ERA5_SRTM_BANDS: tuple[str, ...] = ("temperature_2m", "total_precipitation", "elevation", "slope")


def _fetch(name: str):
    from mdico_core.data.cache import fetch

    return fetch(name)


def _load_npy(name: str) -> np.ndarray:
    # Only the string arrays (uid, site) are numpy unicode; nothing is ever unpickled.
    return np.load(_fetch(name), allow_pickle=False)


def _algae() -> tuple[dict[str, np.ndarray], np.ndarray, pd.DataFrame]:
    """(views S1 and S2, severity 1-5, metadata) of Presto's algae-blooms arrays."""
    x = _load_npy(f"{AB}/s1_s2_era5_srtm.npy")  # (N, 12, 18) float64
    severity = _load_npy(f"{AB}/target.npy")
    unknown = sorted(set(np.unique(severity).tolist()) - set(SEVERITY_TO_CLASS))
    if unknown:
        raise ValueError(f"algae_blooms: unexpected severities {unknown}; expected 1-5")
    latlon = _load_npy(f"{AB}/latlon.npy")
    meta = pd.DataFrame({
        "lat": latlon[:, 0], "lon": latlon[:, 1], "uid": _load_npy(f"{AB}/uid.npy"),
        "severity": severity, "is_test": _load_npy(f"{AB}/is_test.npy").astype(bool),
    })
    return {"S1": select_bands(x, S1_BANDS), "S2": select_bands(x, S2_BANDS)}, severity, meta


def load_algae_blooms() -> MultiModalDataset:
    """Presto's algae-blooms task as a CropH-m stand-in: S1 (12x2), S2 (12x12), 4 severity classes."""
    views, severity, meta = _algae()
    return MultiModalDataset(
        name="algae_blooms", modalities=views,
        target=np.vectorize(SEVERITY_TO_CLASS.get)(severity).astype(np.int64),
        task="multiclass", metadata=meta, class_names=list(ALGAE_CLASSES), info=dict(VIEW_INFO),
        paper_name="", source=ALGAE_SOURCE, licence=ALGAE_LICENCE, stand_in=True,
    )


def load_algae_blooms_binary() -> MultiModalDataset:
    """Presto's algae-blooms task as a CropH-b stand-in: S1 (12x2), S2 (12x12), bloom (severity >= 2) or not."""
    views, severity, meta = _algae()
    return MultiModalDataset(
        name="algae_blooms_binary", modalities=views, target=(severity >= BLOOM_SEVERITY).astype(np.int64),
        task="binary", metadata=meta, class_names=list(BLOOM_CLASSES), info=dict(VIEW_INFO),
        paper_name="", source=ALGAE_SOURCE, licence=ALGAE_LICENCE, stand_in=True,
    )


def _match_dates(site: np.ndarray, target: np.ndarray, geojson) -> np.ndarray:
    """The date of each row, found by walking the raw label records in order (site and LFMC equal).

    Presto's arrays keep the raw records' order and drop the ones it could not export; a row
    with no match gets NaT, and the alignment is abandoned (all NaT) if it fails early.
    """
    with open(geojson, encoding="utf-8") as f:
        records = [feat["properties"] for feat in json.load(f)["features"]]
    dates = np.full(len(site), None, dtype=object)
    j = 0
    for i in range(len(site)):
        while j < len(records) and not (records[j].get("site") == site[i]
                                         and abs(float(records[j].get("percent(t)", np.nan)) - target[i]) < 1e-4):
            j += 1
        if j == len(records):
            log.warning("presto_lfmc: LFMC dates matched for %d of %d rows only", i, len(site))
            break
        dates[i] = records[j].get("date")
        j += 1
    return pd.to_datetime(pd.Series(dates), errors="coerce").to_numpy()


def load_presto_lfmc() -> MultiModalDataset:
    """Presto's fuel-moisture task as a 3-modality LFMC stand-in: S1 (3x2), S2 (3x12), ERA5_SRTM (3x4)."""
    x = _load_npy(f"{FM}/s1_s2_era5_srtm.npy")  # (N, 3, 18) float64
    raw_target = _load_npy(f"{FM}/target.npy")  # float64: matched to the label records at full precision
    target = raw_target.astype(np.float32)
    latlon = _load_npy(f"{FM}/latlon.npy")
    site = _load_npy(f"{FM}/site.npy")
    meta = pd.DataFrame({
        "lat": latlon[:, 0], "lon": latlon[:, 1], "site": site,
        "date": _match_dates(site, raw_target, _fetch(f"{FM}/single_file_labels.geojson")),
        "is_test": _load_npy(f"{FM}/is_test.npy").astype(bool),
    })
    return MultiModalDataset(
        name="presto_lfmc",
        modalities={"S1": select_bands(x, S1_BANDS), "S2": select_bands(x, S2_BANDS),
                    "ERA5_SRTM": select_bands(x, ERA5_SRTM_BANDS)},
        target=target, task="regression", metadata=meta,
        info={**VIEW_INFO, "ERA5_SRTM": ModalityInfo("ERA5 + SRTM", "SITS", ERA5_SRTM_BANDS, "~11 km / 30 m",
                                                     "1 per month (SRTM static)")},
        paper_name="", source=LFMC_SOURCE, licence=LFMC_LICENCE, stand_in=True,
    )


_ALGAE_SHAPES = {"S1": (12, 2), "S2": (12, 12)}
register_dataset(DatasetEntry(
    name="algae_blooms",
    loader=load_algae_blooms,
    task="multiclass",
    description=("REAL STAND-IN for CropH-m (not a paper benchmark): Presto algae-bloom severity, 1,122 lakes, "
                 "S1 (12x2) + S2 (12x12) in CropHarvest's layout, severities 4 and 5 merged (4 classes)"),
    files=ALGAE_FILES, source=ALGAE_SOURCE, licence=ALGAE_LICENCE,
    kind="stand-in", stand_in_for="croph_m", samples=1122, shapes=_ALGAE_SHAPES,
))
register_dataset(DatasetEntry(
    name="algae_blooms_binary",
    loader=load_algae_blooms_binary,
    task="binary",
    description=("REAL STAND-IN for CropH-b (not a paper benchmark): Presto algae blooms, bloom (severity >= 2) "
                 "vs no bloom (severity 1), 1,122 lakes (876 / 246), S1 (12x2) + S2 (12x12) in CropHarvest's layout"),
    files=ALGAE_FILES, source=ALGAE_SOURCE, licence=ALGAE_LICENCE,
    kind="stand-in", stand_in_for="croph_b", samples=1122, shapes=_ALGAE_SHAPES,
))
register_dataset(DatasetEntry(
    name="presto_lfmc",
    loader=load_presto_lfmc,
    task="regression",
    description=("REAL STAND-IN for LFMC with three modalities (not a paper benchmark): Presto fuel moisture, "
                 "2,313 samples, S1 (3x2) + S2 (3x12) + ERA5_SRTM (3x4)"),
    files=LFMC_FILES, source=LFMC_SOURCE, licence=LFMC_LICENCE,
    kind="stand-in", stand_in_for="lfmc", samples=2313, shapes={"S1": (3, 2), "S2": (3, 12), "ERA5_SRTM": (3, 4)},
    views_as={"S2": "L8"},  # its optical series is compared with LFMC's Landsat-8 column
))

"""The LFMC loader against the real, pinned data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.data import DATASETS, lfmc

FILES = (lfmc.PICKLE, lfmc.GEOJSON)


@pytest.fixture(scope="module")
def ds(real_data):
    real_data(*FILES)
    return lfmc.load_lfmc()


@pytest.fixture(scope="module")
def raw(real_data) -> pd.DataFrame:
    return pd.read_pickle(real_data(lfmc.PICKLE)[lfmc.PICKLE]).reset_index(drop=True)


def test_registered() -> None:
    entry = DATASETS["lfmc"]
    assert entry.task == "regression" and entry.paper_name == "LFMC"
    assert set(FILES) <= set(entry.files)


def test_size_and_target_statistics(ds) -> None:
    assert len(ds) == 2578
    assert ds.target.dtype == np.float32
    t = ds.target.astype(np.float64)
    assert t.mean() == pytest.approx(103.98679, rel=1e-4)
    assert t.std(ddof=0) == pytest.approx(39.562312, rel=1e-4)


def test_shapes_and_dtypes(ds) -> None:
    assert ds.modalities["S1"].shape == (2578, 4, 3)
    assert ds.modalities["L8"].shape == (2578, 4, 8)
    assert all(x.dtype == np.float32 for x in ds.modalities.values())
    assert ds.task == "regression" and ds.paper_name == "LFMC"
    assert ds.info["S1"].sensor == "Sentinel-1" and ds.info["L8"].sensor == "Landsat-8"
    assert ds.info["S1"].bands == ("vv", "vh", "vh_vv") and len(ds.info["L8"].bands) == 8


def test_time_order_matches_raw_columns(ds, raw) -> None:
    i = 1234
    for t, step in enumerate(("t-3", "t-2", "t-1", "t")):
        np.testing.assert_allclose(ds.modalities["S1"][i, t], raw.loc[i, [f"{b}({step})" for b in lfmc.S1_BANDS]]
                                   .to_numpy(float), rtol=1e-6)
        np.testing.assert_allclose(ds.modalities["L8"][i, t], raw.loc[i, [f"{b}({step})" for b in lfmc.L8_BANDS]]
                                   .to_numpy(float), rtol=1e-6)
    # The last step is t (the date of the measurement), not t-3.
    assert ds.modalities["S1"][i, -1, 0] == np.float32(raw.loc[i, "vv(t)"])
    assert ds.target[i] == np.float32(raw.loc[i, "percent(t)"])


def test_coordinates_finite_and_in_western_us(ds) -> None:
    lat, lon = ds.metadata["lat"].to_numpy(), ds.metadata["lon"].to_numpy()
    assert np.isfinite(lat).all() and np.isfinite(lon).all()
    assert ((lat > 25) & (lat < 50)).all(), "latitude outside the contiguous western US"
    assert ((lon > -125) & (lon < -90)).all(), "longitude outside the contiguous western US"
    assert list(ds.metadata.columns[:4]) == ["site", "date", "lat", "lon"]


def test_one_coordinate_per_site(ds) -> None:
    per_site = ds.metadata.groupby("site")[["lat", "lon"]].nunique()
    assert (per_site == 1).all().all()
    assert int(ds.metadata["latlon_ambiguous"].sum()) == 37
    assert set(ds.metadata.loc[ds.metadata["latlon_ambiguous"], "site"]) == set(lfmc.AMBIGUOUS_SITES)


def test_geojson_has_37_duplicates_from_the_ambiguous_sites(real_data) -> None:
    import json

    path = real_data(lfmc.GEOJSON)[lfmc.GEOJSON]
    feats = json.loads(path.read_text())["features"]
    geo = pd.DataFrame([{**f["properties"], "lon": f["geometry"]["coordinates"][0],
                         "lat": f["geometry"]["coordinates"][1]} for f in feats])
    dup = geo[geo.duplicated(["site", "date"], keep=False)]
    assert geo.duplicated(["site", "date"]).sum() == 37
    assert set(dup["site"]) == set(lfmc.AMBIGUOUS_SITES)
    for site, (lat, lon) in lfmc.AMBIGUOUS_SITES.items():
        cands = geo.loc[geo["site"] == site, ["lat", "lon"]].drop_duplicates().to_numpy()
        assert len(cands) == 2 and np.isclose(cands, [lat, lon]).all(axis=1).any()


def test_ambiguous_sites_pick_the_elevation_consistent_candidate(ds, real_data) -> None:
    """The chosen coordinate is the candidate whose SRTM elevation is closest to the pickle's."""
    names = ("presto_fuel_moisture/site.npy", "presto_fuel_moisture/latlon.npy",
             "presto_fuel_moisture/s1_s2_era5_srtm.npy")
    p = real_data(*names)
    site = np.load(p[names[0]])
    latlon = np.load(p[names[1]])  # (N, 2) lat, lon
    srtm_elevation = np.load(p[names[2]])[:, 0, 15]  # (N,) band 15 = elevation, static over time
    for name, chosen in lfmc.AMBIGUOUS_SITES.items():
        rows = site == name
        cands = np.unique(np.round(latlon[rows], 2), axis=0)
        assert len(cands) == 2
        elev = [srtm_elevation[rows][np.isclose(np.round(latlon[rows], 2), c).all(axis=1)][0] for c in cands]
        target = ds.metadata.loc[ds.metadata["site"] == name, "elevation"].iloc[0]
        best = cands[int(np.argmin(np.abs(np.array(elev) - target)))]
        assert np.allclose(best, np.round(chosen, 2)), f"{name}: elevation points to {best}, chose {chosen}"


def test_ambiguous_sites_pick_the_first_row_of_the_site_csv(real_data) -> None:
    name = "lfmc_rao2020/nfmd_queried_latlon.csv"
    latlon = pd.read_csv(real_data(name)[name])
    for site, chosen in lfmc.AMBIGUOUS_SITES.items():
        rows = latlon[latlon["Site"] == site]
        assert len(rows) == 2
        assert np.allclose(rows[["Latitude", "Longitude"]].iloc[0].to_numpy(float), chosen)


def test_released_protocol_uses_the_authors_folds(ds):
    """`mdico run --protocol released` tests on the released code's folds, whatever the training seed.

    The released code: ``np.random.seed(10)``, shuffle the identifiers (the rows in file order),
    ``np.array_split`` into 10.
    """
    from mdico_core.cli import build_parser, run_configs
    from mdico_core.experiments import RunConfig, execute, train_config

    # np.random.seed(10) re-seeds the global RandomState, so this is the released code's shuffle
    ids = np.arange(len(ds))
    np.random.RandomState(10).shuffle(ids)  # noqa: NPY002 -- the released code's legacy generator
    authors = np.array_split(ids, 10)
    parser = build_parser()
    args = parser.parse_args(["run", "--dataset", "lfmc", "--methods", "individual", "--profile", "smoke",
                              "--protocol", "released", "--seeds", "3", "--folds", "0"])
    (cfg,) = run_configs(args, parser)[1]
    assert (cfg.seed, cfg.effective_split_seed, cfg.n_folds) == (3, 10, 10)
    tiny = train_config({"max_epochs": 1, "max_steps_per_epoch": 1, "batch_size": 32})
    rec, arrays = execute(RunConfig.from_dict({**cfg.to_dict(), "train": tiny, "save_features": False}))
    np.testing.assert_array_equal(arrays["test_idx"], np.sort(authors[0]))
    assert rec["n_val"] == rec["n_test"] == len(authors[0]) and rec["n_train"] == len(ds) - len(authors[0])
    for fold, test in enumerate(authors):  # every fold, as the runner draws it
        train, val, got = ds.split_indices(fold, cfg.n_folds, cfg.effective_split_seed, validation="test")
        np.testing.assert_array_equal(got, np.sort(test))
        np.testing.assert_array_equal(train, np.setdiff1d(ids, test))

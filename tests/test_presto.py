"""The real stand-ins from Presto: algae_blooms (CropH-m), algae_blooms_binary (CropH-b), presto_lfmc (LFMC)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mdico_core.data import load_dataset
from mdico_core.data.cropharvest import BANDS, S2_BANDS
from mdico_core.data.info import describe
from mdico_core.data.presto import (
    ALGAE_FILES,
    BLOOM_SEVERITY,
    ERA5_SRTM_BANDS,
    LFMC_FILES,
    load_algae_blooms,
    load_algae_blooms_binary,
    load_presto_lfmc,
)
from mdico_core.methods import ProblemSpec, build_method
from mdico_core.training import TrainConfig, fit, predict, to_tensors


@pytest.fixture
def algae(real_data):
    paths = real_data(*ALGAE_FILES)
    return load_algae_blooms(), np.load(paths[ALGAE_FILES[0]]), np.load(paths[ALGAE_FILES[1]])


@pytest.fixture
def lfmc(real_data):
    paths = real_data(*LFMC_FILES)
    return load_presto_lfmc(), np.load(paths[LFMC_FILES[0]])


def test_algae_blooms_is_a_labelled_stand_in_with_cropharvest_views(algae) -> None:
    ds, raw, severity = algae
    assert ds.stand_in and "STAND-IN for CropH-m" in describe("algae_blooms", load=False)["description"]
    assert len(ds) == 1122 and ds.task == "multiclass"
    assert np.bincount(severity)[1:].tolist() == [246, 260, 494, 116, 6]
    assert np.bincount(ds.target).tolist() == [246, 260, 494, 116 + 6]  # severity 5 merged into 4
    assert ds.target[severity == 5].tolist() == [3] * 6
    assert np.array_equal(ds.modalities["S1"], raw[..., :2].astype(np.float32))
    assert np.array_equal(ds.modalities["S2"], raw[..., [BANDS.index(b) for b in S2_BANDS]].astype(np.float32))
    assert {"lat", "lon", "is_test"} <= set(ds.metadata) and ds.split is None  # 10-fold CV, as CropHarvest


def test_algae_blooms_binary_is_bloom_or_not_on_the_same_lakes(algae) -> None:
    multi, _, severity = algae
    ds = load_algae_blooms_binary()
    assert ds.stand_in and ds.task == "binary" and ds.n_classes == 2 and len(ds) == 1122
    assert "STAND-IN for CropH-b" in describe("algae_blooms_binary", load=False)["description"]
    assert BLOOM_SEVERITY == 2
    # bloom = any severity above 1; by hand from the raw severities, and the class balance it gives
    assert ds.target.tolist() == [int(s >= 2) for s in severity]
    assert np.bincount(ds.target).tolist() == [246, 876]
    assert ds.class_names == ["no bloom (severity 1)", "bloom (severity 2-5)"]
    for m in ("S1", "S2"):  # the same inputs as the multi-class stand-in
        assert np.array_equal(ds.modalities[m], multi.modalities[m])
    assert (ds.metadata["severity"] == severity).all()
    # stratified 10-fold CV keeps no-bloom lakes in every test fold
    for fold in range(10):
        _, _, test = ds.split_indices(fold=fold, k=10, seed=0)
        assert 20 <= int((ds.target[test] == 0).sum()) <= 30


def test_presto_lfmc_has_three_modalities(lfmc) -> None:
    ds, raw = lfmc
    assert ds.stand_in and ds.task == "regression" and len(ds) == 2313
    assert ds.shapes == {"S1": (3, 2), "S2": (3, 12), "ERA5_SRTM": (3, 4)}
    assert np.array_equal(ds.modalities["ERA5_SRTM"], raw[..., [13, 14, 15, 16]].astype(np.float32))
    assert ERA5_SRTM_BANDS == tuple(BANDS[13:17])
    assert ds.metadata["date"].notna().all()  # every row matched to its LFMC record
    assert ds.metadata["site"][0] == "Lost Creek, WY" and str(ds.metadata["date"][0])[:10] == "2018-06-30"
    assert 16 < ds.target.min() and ds.target.max() < 400


@pytest.mark.parametrize("name", ["algae_blooms", "algae_blooms_binary", "presto_lfmc"])
@pytest.mark.parametrize("method", ["mdico", "individual"])
def test_methods_train_on_the_stand_ins(real_data, name: str, method: str) -> None:
    real_data(*(LFMC_FILES if name == "presto_lfmc" else ALGAE_FILES))
    torch.manual_seed(0)
    ds = load_dataset(name)
    tr, va, te = ds.split_indices(fold=0, k=10, seed=0)
    tr, va, te = tr[:96], va[:32], te[:32]  # smoke budget
    norm = ds.fit_normalizer(tr)
    data = {s: to_tensors(norm.transform({m: x[i] for m, x in ds.modalities.items()}), ds.target[i])
            for s, i in (("train", tr), ("val", va), ("test", te))}
    model = build_method(method, ProblemSpec.from_dataset(ds, tr), encoder="tempcnn")
    result = fit(model, data["train"], data["val"], TrainConfig(max_epochs=2, batch_size=32, max_steps_per_epoch=2))
    assert result.epochs_run >= 1 and np.isfinite(result.history[-1]["val/total"])
    for m in ds.modality_names:  # single-modality inference for every modality, 3 for presto_lfmc
        p = predict(model, data["test"]["x"], m)
        assert np.isfinite(p).all()
        assert p.shape == ((32,) if ds.task == "regression" else (32, ds.n_classes))

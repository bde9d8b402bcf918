"""AnySat (Astruc et al. 2024): a pretrained multi-modal EO foundation model, fine-tuned per modality.

Follows the MDiCo authors' wrapper (``fmenat/MDiCo`` ``code/models/single/encoders_pretrain.py``
``AnySatExtractor``) and AnySat's hub entry point (``gastruc/AnySat`` ``hubconf.py``, MIT), restated:

    X_m (B, T, C) ─ reorder bands to AnySat's order (absent bands = 0) ─ (B, T, C', 1, 1)
    dates = linspace(0, 365, T) per sample (synthetic: the datasets give monthly composites)
    f_m = AnySat_m({key: X_m', key_dates: dates}, patch_size=10, output="tile")   (B, 768)
    ŷ_m = H_m(Linear(768→128)(Dropout(0.2)(f_m)))                                  linear head

As the paper's footnote says ("fine-tuned in each single-modality inference case"), every
modality gets its own copy of the pretrained model, fine-tuned on that modality alone with the
task loss (`TaskLoss`, any task), as its own independent training stage (its own optimiser state,
early stopping and kept weights, like Individual); each view reads only its modality. Image
modalities (e.g. the aerial ``(C, H, W)`` tiles) are reordered along the band axis and passed
without dates. The ``encoder`` argument is ignored: AnySat is the encoder.

Common settings: the shared trainer (Adam 1e-3, early stopping on the validation loss), how the
MDiCo authors most likely ran it. Original settings (``AnySat.original_recipe``, AnySat's
TreeSatAI-TS fine-tuning configs): the whole model fine-tuned (not frozen), AdamW 5e-5 without
weight decay, a 20-epoch linear warm-up then cosine, early stopping on the validation score
(weighted F1; R² for regression) with patience 10, the best checkpoint; head dropout 0.2.
Substitution: the 200-epoch cap and global batch 256 become the 100-epoch cap and the common
batch size.

The weights are required and nothing is downloaded. The constructor needs a LOCAL checkpoint
(``weights_path`` or the environment variable ``MDICO_ANYSAT_WEIGHTS``) and a local clone of the
model code (``code_path`` or ``MDICO_ANYSAT_CODE``; it is loaded with ``torch.hub.load(...,
source="local")``); without either it raises `NotReproducedError`, and the tables report AnySat
as not reproduced. A different or randomly initialised model is never substituted: training
AnySat from scratch would be a much weaker, different baseline.

Pitfalls kept from the reference: the dates are synthetic, and the inputs are the project's
z-scores, not AnySat's own normalisation statistics.

Test seam: ``model=`` takes an already built backbone (an ``nn.Module`` called as
``model(data, patch_size=..., output="tile")`` and returning (B, 768)); the tests pass a tiny
fake through it to exercise the wrapper offline. It is not meant for results.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM
from mdico_core.methods.base import Batch, Method, NotReproducedError, ProblemSpec, Recipe, Stage
from mdico_core.methods.individual import per_modality_stages

WEIGHTS_URL = "https://huggingface.co/g-astruc/AnySat/resolve/main/models/AnySat.pth"
CODE_URL = "https://github.com/gastruc/AnySat"
WEIGHTS_ENV, CODE_ENV = "MDICO_ANYSAT_WEIGHTS", "MDICO_ANYSAT_CODE"
HOW_TO_GET = (f"download the checkpoint from {WEIGHTS_URL} and clone the model code from {CODE_URL}, then pass "
              f"weights_path=... and code_path=... (or set {WEIGHTS_ENV} and {CODE_ENV})")

# AnySat's band order per sensor key (the ones the paper's datasets can feed).
ANYSAT_BANDS: dict[str, tuple[str, ...]] = {
    "s2": ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"),
    "s1-asc": ("VV", "VH"),
    "s1": ("VV", "VH", "ratio"),
    # Landsat-8/9, 11 inputs as AnySat's SICKLE loader fills them (``src/data/Sickle.py``): zeros,
    # SR_B1..SR_B7, zeros, ST_B10, zeros; the "unused" slots are always zero.
    "l8": ("unused0", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "unused8", "B10", "unused10"),
}
# Channel layouts of this project's datasets, by (modality, number of channels).
KNOWN_CHANNELS: dict[tuple[str, int], tuple[str, ...]] = {
    ("S1", 2): ("VV", "VH"),
    ("S1", 3): ("VV", "VH", "ratio"),
    ("S2", 10): ANYSAT_BANDS["s2"],
    # CropHarvest: B2-B12 without B10, then NDVI
    ("S2", 12): ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "NDVI"),
    # LFMC's Landsat-8 (Rao et al. 2020): red, green, blue, swir, nir (Landsat-8 B4, B3, B2, B6, B5;
    # "swir" taken as SWIR-1, B6, inferred), then NDVI, NDWI, NIRv, which AnySat has no slot for
    ("L8", 8): ("B4", "B3", "B2", "B6", "B5", "NDVI", "NDWI", "NIRv"),
}


def band_index(source: tuple[str, ...], key: str) -> tuple[int, ...]:
    """For each of AnySat's bands of sensor `key`, its channel in `source`, or -1 if absent."""
    return tuple(source.index(b) if b in source else -1 for b in ANYSAT_BANDS[key])


def default_band_map(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """modality -> (AnySat sensor key, channel index per AnySat band) for the known layouts."""
    out = {}
    for m, shape in shapes.items():
        c = shape[-1] if len(shape) == 2 else shape[0]
        names = KNOWN_CHANNELS.get((m.upper(), c))
        if names is None:
            raise ValueError(f"AnySat: no known band layout for modality {m!r} with {c} channels; pass "
                             f"band_map={{{m!r}: (sensor_key, channel_index_per_anysat_band)}} with a key of "
                             f"{sorted(ANYSAT_BANDS)} or an image key ('aerial', 'spot', 'naip'), -1 for absent bands")
        key = {"S2": "s2", "L8": "l8"}.get(m.upper(), "s1-asc" if c == 2 else "s1")
        out[m] = (key, band_index(names, key))
    return out


def to_anysat(x: Tensor, key: str, index: tuple[int, ...]) -> dict[str, Tensor]:
    """One modality's batch as AnySat's input dict.

    Series (B, T, C) -> {key: (B, T, C', 1, 1), key + "_dates": (B, T)}; images (B, C, H, W) ->
    {key: (B, C', H, W)}. Channel k of the output is input channel ``index[k]``, or zeros if -1.
    """
    band_axis = 2 if x.ndim == 3 else 1
    zeros = torch.zeros_like(x.narrow(band_axis, 0, 1))
    padded = torch.cat([x, zeros], dim=band_axis)  # the extra last channel is the zero band
    idx = torch.tensor([i if i >= 0 else x.shape[band_axis] for i in index], device=x.device)
    reordered = padded.index_select(band_axis, idx)
    if x.ndim == 4:
        return {key: reordered}
    B, T = x.shape[:2]
    dates = torch.linspace(0, 365, T, device=x.device).expand(B, T)
    return {key: reordered[..., None, None], f"{key}_dates": dates}


def load_pretrained(weights_path: str | os.PathLike | None, code_path: str | os.PathLike | None) -> nn.Module:
    """The pretrained AnySat backbone from local files; `NotReproducedError` if they are absent."""
    weights_path = weights_path or os.environ.get(WEIGHTS_ENV)
    code_path = code_path or os.environ.get(CODE_ENV)
    if not weights_path or not Path(weights_path).is_file():
        where = f" ({weights_path} does not exist)" if weights_path else ""
        raise NotReproducedError(f"AnySat not reproduced: needs the pretrained weights{where}; {HOW_TO_GET}")
    if not code_path or not (Path(code_path) / "hubconf.py").is_file():
        where = f" ({code_path} has no hubconf.py)" if code_path else ""
        raise NotReproducedError(f"AnySat not reproduced: needs the pretrained weights and the model code{where}; "
                                 f"{HOW_TO_GET}")
    try:
        hub = torch.hub.load(str(code_path), "anysat", source="local", pretrained=False, flash_attn=False)
    except ImportError as err:  # the hub code needs hydra-core, omegaconf, timm, easydict
        raise NotReproducedError(f"AnySat not reproduced: needs the pretrained weights and its model code's "
                                 f"dependencies ({err}); pip install hydra-core omegaconf timm easydict") from err
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    getattr(hub, "model", hub).load_state_dict(state.get("state_dict", state))
    return hub


class AnySat(Method):
    """One fine-tuned copy of pretrained AnySat per modality, with a 128-d projection and linear head.

    Args:
        spec: modalities, task, outputs.
        encoder: ignored (AnySat is the encoder).
        weights_path: local AnySat checkpoint (default: ``$MDICO_ANYSAT_WEIGHTS``).
        code_path: local clone of github.com/gastruc/AnySat (default: ``$MDICO_ANYSAT_CODE``).
        band_map: modality -> (AnySat sensor key, channel index per AnySat band, -1 = absent);
            default: `default_band_map` for the known layouts.
        patch_size: AnySat's patch size in metres (reference: 10).
        feature_dim: AnySat's output size (base: 768).
        model: test seam, an already built backbone (see the module docstring).
    """

    name = "anysat"
    paper_name = "AnySat"
    common_recipe = Recipe(stages="one per modality, independent (a fine-tuned copy each)")
    original_recipe = Recipe(
        train={"optimizer": "adamw", "lr": 5e-5, "weight_decay": 0.0, "schedule": "warmup_cosine",
               "warmup_epochs": 20, "monitor": "score", "patience": 10, "min_delta": 0.0, "checkpoint": "best"},
        stages="one per modality, independent (a fine-tuned copy each, not frozen)",
        notes=("200-epoch cap and global batch 256 -> the 100-epoch cap and the common batch size",
               "synthetic dates and this project's z-scores, not AnySat's normalisation",
               "needs the pretrained weights: without them the run is recorded as not reproduced"),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", weights_path: str | None = None,
                 code_path: str | None = None, band_map: Mapping[str, tuple[str, tuple[int, ...]]] | None = None,
                 patch_size: int = 10, feature_dim: int = 768, model: nn.Module | None = None):
        super().__init__(spec, encoder)
        backbone = model if model is not None else load_pretrained(weights_path, code_path)
        self.band_map = dict(band_map) if band_map is not None else default_band_map(spec.shapes)
        missing = set(spec.shapes) - set(self.band_map)
        if missing:
            raise ValueError(f"AnySat: band_map has no entry for modalities {sorted(missing)}")
        self.patch_size = patch_size
        self.backbones = nn.ModuleDict({m: copy.deepcopy(backbone) for m in spec.shapes})
        self.proj = nn.ModuleDict({m: nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, EMB_DIM))
                                   for m in spec.shapes})
        self.heads = nn.ModuleDict({m: nn.Linear(EMB_DIM, spec.n_outputs) for m in spec.shapes})

    def stages(self, cfg) -> list[Stage]:
        return per_modality_stages(self, cfg, ("backbones", "proj", "heads"))

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        key, index = self.band_map[view]
        backbone = self.backbones[view]
        # Older hub releases (the one the MDiCo code used) take `patch_size`; newer ones take `scale`.
        size_arg = "scale" if "scale" in inspect.signature(backbone.forward).parameters else "patch_size"
        f = backbone(to_anysat(x[view], key, index), output="tile", **{size_arg: self.patch_size})
        return self.proj[view](f)  # (B, 768) -> (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.heads[view](self.features(x, view))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y = batch["y"]
        mods = [self.stage] if self.stage in self.spec.shapes else self.modalities
        return {"main": sum(self.task_loss(self._predict(batch["x"], m), y) for m in mods) / len(mods)}

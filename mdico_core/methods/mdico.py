"""MDiCo: Multi-modal Disentanglement for Co-learning (paper Sec. 3), d = 64.

Per modality m (paper Fig. 2):

    X_m ─ E_m^com ─ Linear(128→d) → BN → ReLU ─ z_sha   (B, d)   shared: aligned across modalities
    X_m ─ E_m^uni ─ split ─────────────────────┬ z_spe   (B, d)   specific: used for the task
                                               └ z_unu   (B, d)   unused: discarded at inference
    ŷ_m = P_m([z_sha ‖ z_spe])                              Eq. (3), one linear head per modality

and four losses, summed without weights (Eq. 6):

    L_main = 1/M Σ_m L_pred(y, ŷ_m)                               Eq. (7)
    L_aux  = 1/M Σ_m Σ_{s∈{sha,spe}} L_pred(y, P_aux(z_m^s))      Eq. (8), P_aux shared by all
    L_cont = 1/P Σ_{i<j} [L_info(z_i^sha, z_j^sha) + L_info(z_j^sha, z_i^sha)]   Eqs. (9)-(10)
    L_mod  = 1/M Σ_m Σ_{s∈{spe,unu}} CE(m, P^s(z_m^s))            Eq. (11)

Generalisation to M ≥ 2 modalities (the paper's limitation (i)): the contrastive term averages
the symmetric InfoNCE over the P = M(M-1)/2 modality pairs, and the discriminators P^spe, P^unu
classify among M modalities; with M = 2 every formula is exactly the paper's (the 1/2 of
Eqs. 7, 8 and 11 is 1/M).

The encoders are the released code's: E_m^uni outputs 128 = 2d features split in halves, and
E_m^com is followed by its Linear → BN → ReLU projection to d. At inference only X_m is read:
ŷ_m = P_m([z_sha ‖ z_spe]) (view ``"S1"``), or, for Table 7, P_aux(z_sha) (``"S1:shared"``) and
P_aux(z_spe) (``"S1:specific"``), which the auxiliary loss trains on each space separately.

Variants (``MDiCo.variants``): the Table 6 ablations, and ``released``, the authors' released code,
which differs from the paper in six ways, each also a variant of its own so that the book can
measure it alone: ``rel_tau`` (τ = 0.1), ``rel_contrastive`` (SimCLR NT-Xent over both modalities'
2B vectors, summed over ordered modality pairs), ``rel_disc_shared`` (the second discriminator on
the shared instead of the unused features), ``rel_halves`` (L_aux and L_mod halved again, as its
``loss_batch`` does), and, on LFMC, its ``config/lfmc_full.yaml``: ``rel_norm`` (a LayerNorm on every
encoder's 128-d embedding, ``use_norm``) and ``rel_raw_target`` (prediction in raw LFMC units with
the ``norm-mse`` loss, MSE((ŷ - 103.9868) / 39.562313, (y - 103.9868) / 39.562313), the constants as
released). With ``image_weights`` (a local ResNet-50 state dict, e.g. torchvision's IMAGENET1K_V2
saved with ``torch.save``) the image encoders start from it; the released variant keeps the
released code's freshly initialised 4-band ``conv1``, the others adapt the RGB filters.

Settings: MDiCo's own recipe (paper Sec. 4.3) is the common budget, so "original" names the same
runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.losses import UncertaintyWeighting, nt_xent, symmetric_info_nce
from mdico_core.methods.base import Batch, Method, ProblemSpec, TaskLoss

# The released code's per-dataset settings that the `released` variant takes (by registry name).
RELEASED_CONFIG: dict[str, dict[str, Any]] = {
    "lfmc": {"use_norm": True, "target_norm": (103.9868, 39.562313)},  # config/lfmc_full.yaml, losses.py
}


class MDiCo(Method):
    """MDiCo as the paper specifies it; see the module docstring for the equations.

    Args:
        spec: modalities, task, outputs.
        encoder: temporal encoder name (images always use ResNet-50).
        d: size of each feature space; the encoders' 128-d output must equal 2d.
        tau: InfoNCE temperature (paper: 0.07).
        use_main, use_aux, use_cont, use_mod: keep each loss term (Table 6 ablations).
        use_unused: split E^uni into specific + unused; False: no unused space and no P^unu
            (the second half of E^uni's output then gets no gradient, which is the same model as
            an E^uni of d outputs).
        shared_encoders: one encoder per modality serves as both E^com and E^uni (Table 6).
        paired: False trains on unpaired data: within each batch, every modality but the first is
            re-ordered by its own random permutation, together with its targets. Each modality's
            predictive losses still see correct labels, but the contrastive positives and the
            cross-modal negatives come from different samples (locations), i.e. the modalities
            are no longer co-registered.
        weighting: "sum" (Eq. 6) or "uncertainty" (Kendall et al. 2018, Table 6 "weighted loss").
        released: every difference of the released code at once (the four loss switches below,
            and for the datasets of `RELEASED_CONFIG` (``spec.extra["dataset"]``) its config).
        contrastive: "paper" (Eq. 10: symmetric InfoNCE averaged over modality pairs) or
            "released" (NT-Xent over the 2B vectors of a pair, summed over ordered pairs).
        disc_second_on: "unused" (Eq. 11: P^unu reads z_unu) or "shared" (the released code's
            second discriminator reads z_sha, so z_unu gets no gradient).
        halve_aux_mod: multiply L_aux and L_mod by 1/2 once more, as the released ``loss_batch``.
        use_norm: LayerNorm on every encoder's embedding (None: the released config's, else off).
        target_norm: (mean, std): regression heads predict raw target units, trained with the
            released ``norm-mse`` (None: the released config's, else the z-scored target).
        raw_target: take `target_norm` from the released config of this dataset (``rel_raw_target``).
        image_weights: local ResNet-50 weights for the image modalities (None: random init).
        **encoder_options: passed to the encoders.
    """

    name = "mdico"
    paper_name = "MDiCo"
    min_modalities = 2  # co-learning: contrastive pairs and modality discriminators
    variants = {
        "default": {},
        "no_mod": {"use_mod": False},
        "no_aux": {"use_aux": False},
        "no_cont": {"use_cont": False},
        "no_unused": {"use_unused": False},
        "unpaired": {"paired": False},
        "shared_encoders": {"shared_encoders": True},
        "weighted": {"weighting": "uncertainty"},
        "released": {"released": True, "tau": 0.1},
        "rel_tau": {"tau": 0.1},
        "rel_contrastive": {"contrastive": "released"},
        "rel_disc_shared": {"disc_second_on": "shared"},
        "rel_halves": {"halve_aux_mod": True},
        "rel_norm": {"use_norm": True},
        "rel_raw_target": {"raw_target": True},
    }

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", d: int = 64, tau: float = 0.07,
                 use_main: bool = True, use_aux: bool = True, use_cont: bool = True, use_mod: bool = True,
                 use_unused: bool = True, shared_encoders: bool = False, paired: bool = True,
                 weighting: str = "sum", released: bool = False, contrastive: str = "paper",
                 disc_second_on: str = "unused", halve_aux_mod: bool = False, use_norm: bool | None = None,
                 target_norm: tuple[float, float] | None = None, raw_target: bool = False,
                 image_weights: str | None = None, **encoder_options: Any):
        super().__init__(spec, encoder)
        if EMB_DIM != 2 * d:
            raise ValueError(f"d={d}: the encoders output {EMB_DIM} = 2d features, so d must be {EMB_DIM // 2}")
        if weighting not in ("sum", "uncertainty"):
            raise ValueError(f"weighting must be 'sum' or 'uncertainty', got {weighting!r}")
        if contrastive not in ("paper", "released"):
            raise ValueError(f"contrastive must be 'paper' or 'released', got {contrastive!r}")
        if disc_second_on not in ("unused", "shared"):
            raise ValueError(f"disc_second_on must be 'unused' or 'shared', got {disc_second_on!r}")
        if released:
            contrastive, disc_second_on, halve_aux_mod = "released", "shared", True
        self.d, self.tau = d, tau
        self.contrastive, self.disc_second_on, self.halve_aux_mod = contrastive, disc_second_on, halve_aux_mod
        self.use = {"main": use_main, "aux": use_aux, "cont": use_cont, "mod": use_mod}
        self.use_unused, self.shared_encoders, self.paired, self.released = (
            use_unused, shared_encoders, paired, released)
        self.stackable = paired  # the unpaired shuffle draws a randperm, which vmap cannot batch
        mods = list(spec.shapes)
        dataset = spec.extra.get("dataset", "")
        if raw_target and "target_norm" not in RELEASED_CONFIG.get(dataset, {}):
            raise ValueError(f"raw_target: the released code predicts raw units only on "
                             f"{[k for k, v in RELEASED_CONFIG.items() if 'target_norm' in v]}, not on {dataset!r}")
        config = RELEASED_CONFIG.get(dataset, {}) if released else {}
        use_norm = config.get("use_norm", False) if use_norm is None else use_norm
        if target_norm is None:
            target_norm = RELEASED_CONFIG[dataset]["target_norm"] if raw_target else config.get("target_norm")
        if target_norm is not None and spec.task == "regression":
            self.task_loss = TaskLoss(spec, raw_target=target_norm)

        def encoder_for(shape: tuple[int, ...]) -> nn.Module:
            image = {"weights_path": image_weights, "conv1_init": "fresh" if released else "adapt"}
            options = {**encoder_options, **image} if len(shape) == 3 and image_weights else encoder_options
            enc = build_encoder(encoder, shape, **options)
            return nn.Sequential(enc, nn.LayerNorm(EMB_DIM)) if use_norm else enc

        self.unique = nn.ModuleDict({m: encoder_for(s) for m, s in spec.shapes.items()})
        self.common = None if shared_encoders else nn.ModuleDict({m: encoder_for(s) for m, s in spec.shapes.items()})
        self.shared_proj = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(EMB_DIM, d), nn.BatchNorm1d(d), nn.ReLU()) for m in mods})
        self.heads = nn.ModuleDict({m: nn.Linear(2 * d, spec.n_outputs) for m in mods})
        self.aux_head = nn.Linear(d, spec.n_outputs)
        self.disc_spe = nn.Linear(d, len(mods))
        # The paper's P^unu reads z_unu; the released code's second discriminator reads z_sha.
        self.disc_unu = nn.Linear(d, len(mods)) if (use_unused or disc_second_on == "shared") else None
        self.weighting = UncertaintyWeighting(["main", "aux", "cont", "mod"]) if weighting == "uncertainty" else None

    # ------------------------------------------------------------------ features
    def encode(self, x: Tensor, m: str) -> tuple[Tensor, Tensor, Tensor]:
        """(z_sha, z_spe, z_unu) of modality `m`, each (B, d)."""
        h_uni = self.unique[m](x)  # (B, 2d)
        h_com = h_uni if self.common is None else self.common[m](x)  # (B, 128)
        z_sha = self.shared_proj[m](h_com)  # (B, d)
        return z_sha, h_uni[:, :self.d], h_uni[:, self.d:]

    def views(self) -> list[str]:
        return list(self.modalities) + [f"{m}:{s}" for m in self.modalities for s in ("shared", "specific")]

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        m, _, mode = view.partition(":")
        z_sha, z_spe, _ = self.encode(x[m], m)
        if mode == "shared":
            return z_sha
        if mode == "specific":
            return z_spe
        return torch.cat([z_sha, z_spe], dim=-1)  # (B, 2d)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        m, _, mode = view.partition(":")
        z = self.features(x, view)
        return self.aux_head(z) if mode else self.heads[m](z)

    # ------------------------------------------------------------------ losses
    def losses(self, batch: Batch) -> dict[str, Tensor]:
        xs, y = batch["x"], batch["y"]
        mods = list(self.modalities)
        ys = {m: y for m in mods}
        if not self.paired and self.training:
            for m in mods[1:]:
                perm = torch.randperm(len(y), device=y.device)
                xs = {**xs, m: xs[m][perm]}
                ys[m] = y[perm]
        z = {m: self.encode(xs[m], m) for m in mods}  # each modality encoded once, reused by every term
        M = len(mods)
        half = 0.5 if self.halve_aux_mod else 1.0  # the released code's extra 1/2 on L_aux and L_mod
        terms: dict[str, Tensor] = {}
        if self.use["main"]:
            terms["main"] = sum(self.task_loss(self.heads[m](torch.cat(z[m][:2], -1)), ys[m]) for m in mods) / M
        if self.use["aux"]:
            terms["aux"] = half * sum(
                self.task_loss(self.aux_head(z[m][0]), ys[m]) + self.task_loss(self.aux_head(z[m][1]), ys[m])
                for m in mods) / M
        if self.use["cont"]:
            terms["cont"] = self._contrastive([z[m][0] for m in mods])
        if self.use["mod"]:
            terms["mod"] = half * self._modality_loss(z, mods) / M
        if self.weighting is not None:
            terms = self.weighting.weighted(terms)
        return terms

    def _contrastive(self, shared: list[Tensor]) -> Tensor:
        pairs = list(combinations(range(len(shared)), 2))
        if self.contrastive == "released":  # NT-Xent counted once per ordered pair, summed, not averaged
            return sum(nt_xent(shared[i], shared[j], self.tau) + nt_xent(shared[j], shared[i], self.tau)
                       for i, j in pairs)
        return sum(symmetric_info_nce(shared[i], shared[j], self.tau) for i, j in pairs) / len(pairs)

    def _modality_loss(self, z: dict[str, tuple[Tensor, Tensor, Tensor]], mods: list[str]) -> Tensor:
        total = 0.0
        for k, m in enumerate(mods):
            z_sha, z_spe, z_unu = z[m]
            label = torch.full((len(z_spe),), k, dtype=torch.long, device=z_spe.device)
            total = total + F.cross_entropy(self.disc_spe(z_spe), label)
            if self.disc_second_on == "shared":
                total = total + F.cross_entropy(self.disc_unu(z_sha), label)
            elif self.use_unused:
                total = total + F.cross_entropy(self.disc_unu(z_unu), label)
        return total

"""InputFu: input-level fusion, a full-modality reference (all modalities at inference).

Follows Mena's reference code (``missingviews-study-EO`` ``config/input.yaml``; ``CoM-views``
``baseline_pipeline.py::InputFusion_train``), restated here:

    X = [X_1 ‖ X_2 ‖ ... ‖ X_M]   concatenated along channels at every time step, (B, T, ΣC_m)
    ŷ = H(E(X))                    one encoder, MLP head Linear(128) → BN → ReLU → Dropout(0.2) → Linear

It reads every modality, so its only view is ``"fusion"`` (``fusion = True``) and it is reported
as a multi-modal reference, not in the single-modality columns. The modalities must share their
time axis (equal T; for images, equal H and W), otherwise a clear error is raised: resampling one
sensor's series onto another's dates would be a different method. Works for any M >= 1. The loss
is `TaskLoss`, so every task is supported.

Settings: its original recipe (the authors' framework defaults: Adam 1e-3, no weight decay, no
schedule, early stopping with patience 5 and min_delta 0.01 on the validation loss, which is the
full-modality loss here, best weights) is the common budget, so both settings name the same runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import FUSION, Batch, Method, ProblemSpec
from mdico_core.methods.fcom import mlp_head


class InputFu(Method):
    """One encoder on the channel-wise concatenation of all modalities.

    Args:
        spec: modalities (series of equal T, or images of equal H and W), task, outputs.
        encoder: encoder name.
        hidden: hidden units of the MLP head.
        dropout: dropout of the MLP head.
        **encoder_options: passed to the encoder.
    """

    name = "inputfu"
    paper_name = "InputFu"
    fusion = True

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", hidden: int = 128, dropout: float = 0.2,
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        shapes = {m: tuple(s) for m, s in spec.shapes.items()}
        ranks = {len(s) for s in shapes.values()}
        if ranks == {2}:  # series (T, C): concatenate channels, last axis
            steps = {s[0] for s in shapes.values()}
            if len(steps) > 1:
                raise ValueError(f"InputFu concatenates modalities at every time step, so they need the same "
                                 f"number of time steps T; got {shapes}. Resample the series to common dates "
                                 f"in the dataset, or use a feature-level fusion (mmgf)")
            fused = (steps.pop(), sum(s[1] for s in shapes.values()))
        elif ranks == {3}:  # images (C, H, W): concatenate bands, first axis
            sizes = {s[1:] for s in shapes.values()}
            if len(sizes) > 1:
                raise ValueError(f"InputFu stacks image bands, so the images need the same H and W; got {shapes}")
            fused = (sum(s[0] for s in shapes.values()), *sizes.pop())
        else:
            raise ValueError(f"InputFu cannot concatenate a time series with an image at the input; got {shapes}. "
                             f"Use a feature-level fusion (mmgf)")
        self.channel_axis = -1 if ranks == {2} else 1
        self.encoder = build_encoder(encoder, fused, **encoder_options)
        self.head = mlp_head(spec.n_outputs, EMB_DIM, hidden, dropout)

    def _concat(self, x: Mapping[str, Tensor]) -> Tensor:
        missing = [m for m in self.modalities if m not in x]
        if missing:
            raise KeyError(f"InputFu reads every modality; missing {missing} (its only view is {FUSION!r})")
        return torch.cat([x[m] for m in self.modalities], dim=self.channel_axis)  # (B, T, ΣC)

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        return {"main": self.task_loss(self._predict(batch["x"], FUSION), batch["y"])}

    def features(self, x: Mapping[str, Tensor], view: str = FUSION) -> Tensor:
        return self.encoder(self._concat(x))  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str = FUSION) -> Tensor:
        return self.head(self.features(x, view))

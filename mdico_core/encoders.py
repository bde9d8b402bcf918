"""Modality encoders: each maps one modality to a 128-d embedding.

Every encoder is built as ``Name(in_channels, seq_len, **options)`` and maps a batch
``(B, T, C)`` (time series) or ``(B, C, H, W)`` (image; ``seq_len`` ignored) to ``(B, 128)``.
Sizes follow Table A1 of the paper (``mdico_core/reporting/paper_tables/tableA1_params_thousands.csv``); every
encoder ends in the paper's projection (Sec. 4.3: "a linear layer of 128 units with 20% dropout"),
here dropout followed by ``Linear(-> 128)`` with no activation after it, as in the released code.

Parameter counts (thousands) of the defaults, against Table A1
(CropH S1 T=12 C=2 / CropH S2 T=12 C=12 / LFMC S1 T=4 C=3 / LFMC L8 T=4 C=8):

=============  ============================  ==============================
encoder        built here                    Table A1
=============  ============================  ==============================
TempCNN        1020 / 1026 / 496 / 499       1052 / 1059 / 496 / 496
MLP            37 / 52 / 35 / 38             36 / 52 / 35 / 37
Transformer    1203 / 1204 / 1203 / 1204     1203 / 1204 / 1203 / 1204
LSTM           216 / 221 / 217 / 219         216 / 221 / 217 / 219
ConvTran       335 / 991 / 401 / 729         {991, 335, 399, 727}, order garbled
ResNet-50      23773 (aerial, 4 bands)       23773
=============  ============================  ==============================

Every count is within 5% of the table; the largest gaps are TempCNN on CropHarvest (-3%: the
table's 1052K would need 12.5 time steps in the flattened dense layer) and MLP (+2%). TempCNN on
TSAITS Sentinel-2 (T=146, C=432) gives 10077K, as in the table.

ConvTran's values are garbled in the paper's table; the only assignment our faithful ConvTran
matches (within 0.5%) is CropH S1 335, CropH S2 991, LFMC S1 399, LFMC L8 727, which is also the
column order the extracted text suggests when each ConvTran value is paired with its LSTM value.

Image modalities (3-D per-sample shape) always use ResNet-50: in the paper the aerial modality
keeps ResNet-50 while the encoder study (Sec. 4.7) varies only the temporal encoders, so
`build_encoder` routes any temporal encoder name given for an image to ``resnet50``.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

EMB_DIM = 128


def _projection(in_dim: int, dropout: float, out_dim: int) -> nn.Sequential:
    """The paper's final projection: dropout, then a linear layer (no activation after it)."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))


def _check_series(x: Tensor, name: str, in_channels: int, seq_len: int | None = None) -> None:
    if x.ndim != 3 or x.shape[-1] != in_channels or (seq_len is not None and x.shape[1] != seq_len):
        want = f"(B, {seq_len if seq_len is not None else 'T'}, {in_channels})"
        raise ValueError(f"{name} expects a series batch {want}, got {tuple(x.shape)}; "
                         f"build the encoder with the modality's (T, C) shape")


class TempCNN(nn.Module):
    """TempCNN (Pelletier et al. 2019) as the released code builds it.

    3 x [Conv1d(k=5, 128, same padding) -> BN -> ReLU -> Dropout] -> flatten (128*T)
    -> Linear(512) -> BN -> ReLU -> Dropout -> Linear(128).
    The paper's prose says 2 layers; its Table A1 counts (LFMC S1: 496K) match 3, which is what
    the released code runs (its ``n_layers`` option never reaches the module).
    """

    def __init__(self, in_channels: int, seq_len: int, hidden: int = 128, n_layers: int = 3,
                 kernel_size: int = 5, dense: int = 512, dropout: float = 0.2, out_dim: int = EMB_DIM):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(n_layers):
            layers += [nn.Conv1d(c, hidden, kernel_size, padding=kernel_size // 2),
                       nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout)]
            c = hidden
        self.convs = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(hidden * seq_len, dense), nn.BatchNorm1d(dense),
                                   nn.ReLU(), nn.Dropout(dropout))
        self.proj = nn.Linear(dense, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.convs(x.transpose(1, 2))  # (B, T, C) -> (B, C, T) -> (B, 128, T)
        return self.proj(self.dense(h))  # (B, 128*T) -> (B, 512) -> (B, 128)


class MLP(nn.Module):
    """Two-layer perceptron on the flattened series; it ignores the temporal order.

    flatten (T*C) -> n_layers x [Linear(hidden) -> BN -> ReLU -> Dropout] -> Linear(128).
    """

    def __init__(self, in_channels: int, seq_len: int, hidden: int = 128, n_layers: int = 2,
                 dropout: float = 0.2, out_dim: int = EMB_DIM):
        super().__init__()
        self.in_channels, self.seq_len = in_channels, seq_len
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_channels * seq_len
        for _ in range(n_layers):
            layers += [nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        self.layers = nn.Sequential(*layers)
        # the blocks already end in dropout, so the projection adds only the linear layer
        self.proj = nn.Linear(d, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_series(x, "MLP", self.in_channels, self.seq_len)
        return self.proj(self.layers(x))  # (B, T, C) -> (B, T*C) -> (B, 128) -> (B, 128)


def sinusoidal_encoding(seq_len: int, dim: int, scale: float = 1.0) -> Tensor:
    """Fixed sine/cosine position code (Vaswani et al. 2017), (seq_len, dim).

    ``scale`` multiplies every frequency; ConvTran's tAPE uses ``dim / seq_len`` so that short
    series with wide embeddings still get distinguishable positions.
    """
    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))  # (dim/2,)
    angle = pos * freq * scale  # (T, dim/2)
    pe = torch.zeros(seq_len, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.float()


class Transformer(nn.Module):
    """Transformer encoder (Vaswani et al. 2017) over time steps.

    Linear(C -> hidden) + sinusoidal positions -> n_layers x nn.TransformerEncoderLayer(hidden,
    8 heads, FFN 2048 as PyTorch's default, post-norm) -> mean over time -> Dropout -> Linear(128).
    """

    def __init__(self, in_channels: int, seq_len: int, hidden: int = 128, n_layers: int = 2, n_heads: int = 8,
                 dim_ff: int = 2048, dropout: float = 0.2, out_dim: int = EMB_DIM):
        super().__init__()
        self.in_channels, self.seq_len = in_channels, seq_len
        self.embed = nn.Linear(in_channels, hidden)
        self.register_buffer("pos", sinusoidal_encoding(seq_len, hidden), persistent=False)
        layer = nn.TransformerEncoderLayer(hidden, n_heads, dim_ff, dropout, batch_first=True)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.proj = _projection(hidden, dropout, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_series(x, "Transformer", self.in_channels, self.seq_len)
        h = self.layers(self.embed(x) + self.pos)  # (B, T, hidden)
        return self.proj(h.mean(1))  # (B, hidden) -> (B, 128)


class LSTM(nn.Module):
    """LSTM (Hochreiter & Schmidhuber 1997): n_layers x hidden units, the last layer's final
    hidden state -> Dropout -> Linear(128)."""

    def __init__(self, in_channels: int, seq_len: int, hidden: int = 128, n_layers: int = 2,
                 dropout: float = 0.2, out_dim: int = EMB_DIM):
        super().__init__()
        self.in_channels = in_channels
        self.lstm = nn.LSTM(in_channels, hidden, n_layers, batch_first=True,
                            dropout=dropout if n_layers > 1 else 0.0)
        self.proj = _projection(hidden, dropout, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_series(x, "LSTM", self.in_channels)
        _, (h, _) = self.lstm(x)  # h: (n_layers, B, hidden)
        return self.proj(h[-1])  # (B, hidden) -> (B, 128)


class RelativeAttention(nn.Module):
    """Multi-head self-attention with ConvTran's eRPE (efficient relative position encoding).

    One learnable scalar per (relative offset i - j, head) is added to the attention weights
    *after* the softmax, which is what makes it cheap (no per-pair vectors). As in ConvTran the
    scores are scaled by ``hidden ** -0.5`` and the output is layer-normalised.
    """

    def __init__(self, hidden: int, n_heads: int, seq_len: int):
        super().__init__()
        if hidden % n_heads:
            raise ValueError(f"hidden={hidden} is not divisible by n_heads={n_heads}; pick a divisor")
        self.n_heads, self.scale = n_heads, hidden ** -0.5
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.value = nn.Linear(hidden, hidden, bias=False)
        self.rel_bias = nn.Parameter(torch.zeros(2 * seq_len - 1, n_heads))  # one weight per offset and head
        t = torch.arange(seq_len)
        self.register_buffer("rel_index", t[:, None] - t[None, :] + seq_len - 1, persistent=False)  # (T, T)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.n_heads

        def heads(z: Tensor) -> Tensor:
            return z.view(b, t, h, d // h).transpose(1, 2)  # (B, heads, T, d/heads)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        attn = (q @ k.transpose(-1, -2) * self.scale).softmax(-1)  # (B, heads, T, T)
        attn = attn + self.rel_bias[self.rel_index].permute(2, 0, 1)  # + (heads, T, T)
        out = (attn @ v).transpose(1, 2).reshape(b, t, d)  # (B, T, hidden)
        return self.norm(out)


class ConvTran(nn.Module):
    """ConvTran (Foumani et al. 2024), re-stated from the paper, with the 128-unit projection.

    Embedding: Conv2d(1 -> 4*hidden, kernel (1, 8), 'same') over time for every channel -> BN ->
    GELU, then Conv2d(4*hidden -> hidden, kernel (C, 1)) across the channels -> BN -> GELU, giving
    one hidden-d token per time step. tAPE (sinusoidal absolute positions with frequencies scaled
    by hidden/T) is added to the attention input; one attention block with eRPE (8 heads),
    residual + LayerNorm, FFN (hidden -> 512 -> hidden, ReLU) + residual + LayerNorm, mean over
    time, Dropout -> Linear(128).

    ``dim_ff=512`` is not stated in the paper; it is the value for which the parameter counts
    match Table A1's ConvTran values (CropH S1 335K, CropH S2 991K exactly; LFMC S1 401K vs 399K,
    LFMC L8 729K vs 727K). Most parameters sit in the channel convolution (65.5K per input channel).
    """

    def __init__(self, in_channels: int, seq_len: int, hidden: int = 128, n_heads: int = 8, dim_ff: int = 512,
                 kernel_size: int = 8, dropout: float = 0.2, out_dim: int = EMB_DIM):
        super().__init__()
        self.in_channels, self.seq_len = in_channels, seq_len
        # 'same' padding done by hand: PyTorch's padding="same" warns for even kernels
        self.temporal = nn.Sequential(nn.ZeroPad2d(((kernel_size - 1) // 2, kernel_size // 2, 0, 0)),
                                      nn.Conv2d(1, 4 * hidden, (1, kernel_size)),
                                      nn.BatchNorm2d(4 * hidden), nn.GELU())
        self.spatial = nn.Sequential(nn.Conv2d(4 * hidden, hidden, (in_channels, 1)),
                                     nn.BatchNorm2d(hidden), nn.GELU())
        self.register_buffer("tape", sinusoidal_encoding(seq_len, hidden, scale=hidden / seq_len),
                             persistent=False)
        self.pos_drop = nn.Dropout(dropout)
        self.attn = RelativeAttention(hidden, n_heads, seq_len)
        self.norm1 = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(nn.Linear(hidden, dim_ff), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(dim_ff, hidden), nn.Dropout(dropout))
        self.norm2 = nn.LayerNorm(hidden)
        self.proj = _projection(hidden, dropout, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_series(x, "ConvTran", self.in_channels, self.seq_len)
        h = self.temporal(x.transpose(1, 2).unsqueeze(1))  # (B, 1, C, T) -> (B, 4*hidden, C, T)
        h = self.spatial(h).squeeze(2).transpose(1, 2)  # (B, hidden, 1, T) -> (B, T, hidden)
        h = self.norm1(h + self.attn(self.pos_drop(h + self.tape)))  # positions feed attention only
        h = self.norm2(h + self.ff(h))  # (B, T, hidden)
        return self.proj(h.mean(1))  # (B, 128)


class ResNet50(nn.Module):
    """torchvision ResNet-50 for a C-band image, then Dropout -> Linear(2048 -> 128).

    ``conv1`` is ``Conv2d(C, 64, 7, 2, 3, bias=False)`` (the aerial images have 4 bands: R, G, B,
    NIR) and ``fc`` is removed. Nothing is ever downloaded: by default the weights are random; with
    ``weights_path`` a LOCAL file is loaded, either a torchvision ResNet-50 state dict (e.g. the
    ImageNet ``IMAGENET1K_V2`` weights saved with ``torch.save(model.state_dict(), path)``; ``fc.*``
    is ignored) or a state dict of this whole encoder.

    A 3-band ImageNet ``conv1`` meets a C-band input in one of two ways (``conv1_init``):
    ``"adapt"`` keeps the RGB filters for the bands ``rgb_bands`` and gives every other band (NIR)
    the mean of the three RGB filters, then scales all filters by 3/C so that a grey input of the
    same brightness yields the same response as in the 3-band network; ``"fresh"`` leaves ``conv1``
    randomly initialised, as the released code does.
    """

    def __init__(self, in_channels: int = 4, seq_len: int = 1, weights_path: str | Path | None = None,
                 conv1_init: str = "adapt", rgb_bands: tuple[int, int, int] = (0, 1, 2),
                 dropout: float = 0.2, out_dim: int = EMB_DIM):
        super().__init__()
        from torchvision.models import resnet50  # imported here: only image modalities need torchvision

        if conv1_init not in ("adapt", "fresh"):
            raise ValueError(f"conv1_init must be 'adapt' or 'fresh', got {conv1_init!r}")
        self.in_channels = in_channels
        self.backbone = resnet50(weights=None)
        self.backbone.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.backbone.fc = nn.Identity()
        self.proj = _projection(2048, dropout, out_dim)
        if weights_path is not None:
            self.load_weights(weights_path, conv1_init, rgb_bands)

    def load_weights(self, path: str | Path, conv1_init: str = "adapt",
                     rgb_bands: tuple[int, int, int] = (0, 1, 2)) -> None:
        """Load a local torchvision ResNet-50 state dict (or one of this encoder) from `path`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ResNet-50 weights file {path} not found; pass the path of a local "
                                    f"state dict (nothing is downloaded), or weights_path=None for random weights")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        if any(k.startswith("backbone.") for k in state):
            self.load_state_dict(state)
            return
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        w = state.pop("conv1.weight")  # (64, C_src, 7, 7)
        if w.shape[1] == self.in_channels:
            state["conv1.weight"] = w
        elif conv1_init == "adapt" and w.shape[1] == 3:
            new = w.mean(1, keepdim=True).repeat(1, self.in_channels, 1, 1)  # other bands: mean RGB filter
            new[:, list(rgb_bands)] = w
            state["conv1.weight"] = new * (3 / self.in_channels)
        elif conv1_init == "adapt":
            raise ValueError(f"cannot adapt a {w.shape[1]}-band conv1 to {self.in_channels} bands; "
                             f"use conv1_init='fresh'")
        missing, unexpected = self.backbone.load_state_dict(state, strict=False)
        if unexpected or set(missing) - {"conv1.weight"}:
            raise ValueError(f"{path} is not a ResNet-50 state dict: missing {missing}, unexpected {unexpected}")

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNet50 expects an image batch (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.proj(self.backbone(x))  # (B, C, H, W) -> (B, 2048) -> (B, 128)


ENCODERS: dict[str, type[nn.Module]] = {
    "tempcnn": TempCNN,
    "mlp": MLP,
    "transformer": Transformer,
    "convtran": ConvTran,
    "lstm": LSTM,
    "resnet50": ResNet50,
}
IMAGE_ENCODERS = ("resnet50",)  # the rest read series (B, T, C)


def _accepted_options(cls: type[nn.Module]) -> set[str]:
    params = list(inspect.signature(cls.__init__).parameters)
    return set(params[3:])  # skip self, in_channels, seq_len


def build_encoder(name: str, shape: tuple[int, ...], **options: Any) -> nn.Module:
    """Encoder `name` for one modality of per-sample `shape`, (T, C) or (C, H, W).

    An image shape (C, H, W) always gets ResNet-50, whatever temporal `name` is given (the
    paper's encoder study varies only the temporal encoders; the aerial image keeps ResNet-50);
    then the options ResNet-50 does not take (e.g. ``n_layers``) are dropped, as they were meant
    for the temporal encoders. ``resnet50`` with a series shape is an error.
    """
    key = name.lower()
    if key not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid encoders: {', '.join(ENCODERS)}")
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        if key not in IMAGE_ENCODERS:
            key = "resnet50"
            options = {k: v for k, v in options.items() if k in _accepted_options(ResNet50)}
        in_channels, seq_len = shape[0], 1
    elif len(shape) == 2:
        if key in IMAGE_ENCODERS:
            raise ValueError(f"encoder {name!r} needs an image modality of shape (C, H, W), got the series "
                             f"shape (T, C) = {shape}; use a temporal encoder: "
                             f"{', '.join(k for k in ENCODERS if k not in IMAGE_ENCODERS)}")
        seq_len, in_channels = shape
    else:
        raise ValueError(f"per-sample shape must be (T, C) for a series or (C, H, W) for an image, got {shape}")
    unknown = set(options) - _accepted_options(ENCODERS[key])
    if unknown:
        raise TypeError(f"encoder {key!r} does not take option(s) {sorted(unknown)}; "
                        f"it takes {sorted(_accepted_options(ENCODERS[key]))}")
    return ENCODERS[key](in_channels, seq_len, **options)

"""The two training settings of every method, as a table, and how to keep them apart in results.

"common": every method under the profile's budget (Adam 1e-3, early stopping on the total
validation loss, patience 5, min_delta 0.01). "original": each method's official recipe
(``Method.original_recipe``: optimiser, learning rate, schedule, stages, sampling, model
selection), resolved into the run's `TrainConfig` by `resolve_train`. A method whose official
recipe is the common one (MDiCo, Individual, InputFu, MMGF) has one set of runs for both.

``mdico methods`` prints `methods_table`; ``mdico table --settings original`` shows
`select_settings(df, "original")`, so the two settings (and runs of different early-stopping
monitors) never pool in one table.
"""

from __future__ import annotations

import pandas as pd

from mdico_core.experiments.config import resolve_train
from mdico_core.experiments.profile import load_profile
from mdico_core.options import TrainConfig


def same_in_both() -> list[str]:
    """Methods whose official recipe is the common one (one set of runs serves both settings)."""
    from mdico_core.methods import METHODS

    return sorted(name for name, cls in METHODS.items() if cls.original_recipe is None)


def recipe_monitor(method: str, settings: str) -> str:
    """The early-stopping monitor of `method`'s recipe in `settings` ("total" for unknown methods)."""
    from mdico_core.methods import METHODS

    if method not in METHODS:
        return "total"
    return resolve_train(method, settings, TrainConfig())[1].monitor


def select_settings(df: pd.DataFrame, settings: str, monitor: str | None = None) -> pd.DataFrame:
    """The rows of `df` (a ``collect`` frame) that belong to the comparison in `settings`.

    "original" keeps the runs recorded as original plus the common runs of the methods whose
    official recipe is the common one; "common" keeps the common runs. Of those, the runs with
    early-stopping `monitor`, or, when None, with each method's own recipe monitor (runs trained
    with ``--monitor`` are a separate comparison).
    """
    if settings not in ("common", "original"):
        raise ValueError(f"unknown settings {settings!r}; valid settings: common, original")
    col = df["settings"].fillna("common") if "settings" in df else pd.Series("common", index=df.index)
    if settings == "common":
        keep = col == "common"
    else:
        keep = (col == "original") | ((col == "common") & df["method"].isin(same_in_both()))
    watched = df["monitor"].fillna("total") if "monitor" in df else pd.Series("total", index=df.index)
    # one lookup per method, not per row: resolving a recipe is slow and archives hold thousands of rows
    wanted = df["method"].map({m: monitor or recipe_monitor(m, settings) for m in df["method"].unique()})
    return df[keep & (watched == wanted)]


def _optimizer(cfg: TrainConfig) -> str:
    if cfg.optimizer == "sgd":
        return f"SGD{' Nesterov' if cfg.nesterov else ''} momentum {cfg.momentum:g}"
    name = "Adam" if cfg.optimizer == "adam" else "AdamW"
    return name if cfg.beta1 == 0.9 else f"{name} (beta1 {cfg.beta1:g})"


def _schedule(cfg: TrainConfig) -> str:
    return {"constant": "constant", "poly": f"poly {cfg.poly_power:g} per step", "cosine": "cosine",
            "warmup_cosine": f"{cfg.warmup_epochs}-epoch warm-up, cosine",
            "step": "x{:g} at {} of the budget".format(cfg.step_gamma, ", ".join(f"{m:.0%}" for m in cfg.step_milestones)),
            }[cfg.schedule]


def _selection(cfg: TrainConfig) -> str:
    watch = {"total": "total val loss", "task": "val task loss", "score": "val score"}[cfg.monitor]
    delta = f"{cfg.min_delta:g}{' x M' if cfg.min_delta_per_modality else ''}"
    stop = f"stop: patience {cfg.patience}, min_delta {delta}" if cfg.patience else "no early stopping"
    keep = {"best": f"best {watch}", "final": "final weights", "per_view": f"per view: best {watch}"}[cfg.checkpoint]
    return f"{stop}; {keep}"


def _row(cfg: TrainConfig, epochs: int) -> dict[str, str]:
    return {"optimiser": _optimizer(cfg), "lr": f"{cfg.lr:g}", "schedule": _schedule(cfg),
            "weight decay": f"{cfg.weight_decay:g}" + (" (decoupled)" if cfg.optimizer == "adamw" else ""),
            "batch": str(cfg.batch_size), "epochs": str(cfg.max_epochs) if cfg.max_epochs != epochs else "",
            "selection": _selection(cfg)}


def methods_table(profile: str = "paper", dataset: str | None = "lfmc") -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """(table, notes): every method and setting, with the numbers resolved against `profile`'s budget
    for `dataset` (None: the profile's base budget), and per method its substitutions.

    One row per (method, setting) and per stage that has its own settings. Columns: method,
    variants, settings, stage, optimiser, lr, schedule, weight decay, batch, epochs (where not the
    budget's), selection (early stopping and the weights kept), stages, sampling.
    """
    from mdico_core.methods import METHODS, all_methods, recipe

    prof = load_profile(profile)
    budget = prof.train_for(dataset) if dataset else prof.train
    rows, notes = [], {}
    everything = all_methods()  # yours are listed too, marked "(external)"
    for name in everything:
        cls = everything[name]
        for settings in ("common", "original"):
            effective, cfg = resolve_train(name, settings, budget)
            rec = recipe(cls, settings)
            base = {"method": name if name in METHODS else f"{name} (external)", "variants": ", ".join(cls.variants),
                    "settings": settings,
                    "stages": rec.stages, "sampling": rec.sampling}
            if settings == "original" and effective == "common":
                rows.append({**base, "stage": "", "optimiser": "= common (the same runs)", "lr": "", "schedule": "",
                             "weight decay": "", "batch": "", "epochs": "", "selection": ""})
                continue
            stage_names = [s for s, _ in cfg.stages] or [""]
            for stage in stage_names:
                stage_cfg = cfg.for_stage(stage) if stage else cfg
                rows.append({**base, "stage": stage, **_row(stage_cfg, budget.max_epochs)})
            if rec.notes:
                notes.setdefault(name, []).extend(f"{settings}: {n}" for n in rec.notes)
    cols = ["method", "variants", "settings", "stage", "optimiser", "lr", "schedule", "weight decay", "batch",
            "epochs", "selection", "stages", "sampling"]
    return pd.DataFrame(rows, columns=cols), notes

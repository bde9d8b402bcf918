"""MDiCo and its competitors, all behind `Method` (``methods/base.py``).

`METHODS` maps the command-line name of each method to its class; `build_method` builds one
from a `ProblemSpec`, an encoder, a variant name and a setting ("common" or "original": the
method's official recipe, ``Method.original_recipe``).
"""

from __future__ import annotations

from typing import Any

from mdico_core.methods import external as _external
from mdico_core.methods.anysat import AnySat
from mdico_core.methods.base import FUSION, Method, ProblemSpec, Recipe, Stage, TaskLoss
from mdico_core.methods.decur import DeCUR
from mdico_core.methods.discomkd import DisCoMKD
from mdico_core.methods.dml import DML
from mdico_core.methods.embracenet import EmbraceNet
from mdico_core.methods.esensi import ESensI
from mdico_core.methods.fcom import FCoMAv
from mdico_core.methods.fmoddrop import FModDrop
from mdico_core.methods.individual import Individual
from mdico_core.methods.inputfu import InputFu
from mdico_core.methods.mdico import MDiCo
from mdico_core.methods.mmgf import MMGF
from mdico_core.methods.shaspec import ShaSpec

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (
    Individual, MDiCo, InputFu, MMGF, EmbraceNet, ShaSpec, DeCUR, DML, DisCoMKD, FModDrop, FCoMAv, ESensI, AnySat)}
_external.BUILTIN = frozenset(METHODS)  # a method of yours may not take one of these names


def get_method(name: str) -> type[Method]:
    """The method class registered as `name` (case-insensitive): a built-in one, or one of yours
    (``methods.external``: an ``mdico.methods`` entry point or ``$MDICO_METHODS``)."""
    key = name.lower()
    if key in METHODS:
        return METHODS[key]
    external = _external.load_external()
    if key not in external and key in _external.BROKEN:
        raise ValueError(_external.BROKEN[key])
    if key not in external:
        yours = f"; yours: {', '.join(sorted(external))}" if external else ""
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}{yours} (a method of "
                         "your own: $MDICO_METHODS=my_pkg.my_method or an `mdico.methods` entry point)")
    return external[key]


def all_methods() -> dict[str, type[Method]]:
    """Every method that can run here: the built-in ones, then yours (``methods.external``)."""
    return {**METHODS, **_external.load_external()}


SETTINGS = ("common", "original")


def recipe(cls: type[Method], settings: str) -> Recipe:
    """The `Recipe` of method class `cls` in `settings` (the common one where the original is)."""
    if settings not in SETTINGS:
        raise ValueError(f"unknown settings {settings!r}; valid settings: {', '.join(SETTINGS)}")
    original = cls.original_recipe if settings == "original" else None
    return original if original is not None else cls.common_recipe


def build_method(name: str, spec: ProblemSpec, encoder: str = "tempcnn", variant: str = "default",
                 settings: str = "common", **options: Any) -> Method:
    """Method `name` in `variant` (its named options) and `settings` (its recipe's options), with
    `options` on top."""
    cls = get_method(name)
    if variant not in cls.variants:
        raise ValueError(
            f"unknown variant {variant!r} of {cls.name}; valid variants: {', '.join(cls.variants)}"
        )
    return cls(spec, encoder=encoder, **{**cls.variants[variant], **recipe(cls, settings).options, **options})


__all__ = ["FUSION", "METHODS", "SETTINGS", "Method", "ProblemSpec", "Recipe", "Stage", "TaskLoss", "all_methods",
           "build_method", "get_method", "recipe"]

"""Your own method, beside the built-in ones: registered from outside the package, checked before training.

A method written outside ``mdico_core`` is a subclass of `Method` (``methods/base.py``) with a ``name``.
It is found the way Python packages are found, in every process that trains (worker processes and
Dask workers import it too):

- an installed package declares it as an entry point of the group ``mdico.methods``
  (``[project.entry-points."mdico.methods"] my_method = "my_pkg.my_method:MyMethod"``);
- a script or notebook names its module in ``$MDICO_METHODS`` (``my_pkg.my_method``,
  ``my_pkg.my_method:MyMethod`` or a file, ``path/to/my_method.py``; several separated by commas), or
  passes ``--method-module`` to ``mdico run``, which sets that variable for its workers.

A module named without a class registers every `Method` subclass it defines. Each class is checked
before any run trains (`check_method`): a subclass of `Method` with a new lower-case name (a built-in
name is refused), ``losses`` returning a dict of scalar tensors that backpropagate, and ``predict``
reading only its own modality (the all-but-one setting is the point: a prediction from S1 must not
change when S2 changes). Built-in methods stay ``METHODS``; ``"all"`` never includes yours.
"""

from __future__ import annotations

import importlib
import inspect
import os
from importlib import metadata
from typing import Any

ENV_METHODS = "MDICO_METHODS"
ENTRY_POINT_GROUP = "mdico.methods"

BUILTIN: frozenset[str] = frozenset()
"""The built-in method names (set by ``mdico_core.methods`` when it imports this module): refused here."""
EXTERNAL: dict[str, type] = {}
"""Registered external methods: name -> class."""
SOURCES: dict[str, str] = {}
"""Where each external method came from: ``"entry point my_pkg.my_method:MyMethod"`` or ``"$MDICO_METHODS ..."``."""
_LOADED: set[str] = set()


class MethodCheckError(ValueError):
    """An external method does not meet the interface; the message names the class and what to fix."""


def check_method(cls: Any, source: str = "") -> None:
    """Refuse `cls` with one `MethodCheckError` unless it is a usable method (see the module docstring)."""
    import torch

    from mdico_core.methods.base import Method

    who = f"{getattr(cls, '__qualname__', cls)!s}" + (f" ({source})" if source else "")
    if not (inspect.isclass(cls) and issubclass(cls, Method)):
        raise MethodCheckError(f"{who} is not a subclass of mdico_core.methods.Method: subclass it and implement "
                               "losses() and _predict()")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name or name != name.lower() or not name.replace("_", "").isalnum():
        raise MethodCheckError(f"{who}: set a class attribute `name`, lower case letters, digits and _ (got {name!r})")
    if name in BUILTIN:
        raise MethodCheckError(f"{who}: the name {name!r} is a built-in method's; choose another name")
    for fn in ("losses", "_predict"):
        if getattr(cls, fn) is getattr(Method, fn):
            raise MethodCheckError(f"{who}: implement {fn}() (see mdico_core/methods/base.py)")
    from mdico_core.methods.base import ProblemSpec

    spec = ProblemSpec(task="regression", n_outputs=1, shapes={"A": (4, 3), "B": (4, 2)})  # two small modalities
    torch.manual_seed(0)
    try:
        model = cls(spec, encoder="mlp")
    except Exception as err:  # the user's constructor: report it, whatever it raised
        raise MethodCheckError(f"{who}: cannot be built as cls(spec, encoder='mlp') on a two-modality problem "
                               f"({type(err).__name__}: {err})") from None
    x = {"A": torch.randn(6, 4, 3), "B": torch.randn(6, 4, 2)}
    batch = {"x": x, "y": torch.randn(6)}
    model.train()
    terms = model.losses(batch)
    if not isinstance(terms, dict) or not terms or not all(isinstance(t, torch.Tensor) and t.dim() == 0
                                                            for t in terms.values()):
        raise MethodCheckError(f"{who}: losses(batch) must return a non-empty dict of named scalar tensors, got "
                               f"{type(terms).__name__}")
    total = sum(terms.values())
    if not total.requires_grad:
        raise MethodCheckError(f"{who}: losses(batch) does not depend on the model's parameters (no gradient)")
    model.eval()
    with torch.no_grad():
        for view in model.plain_views():
            if view == "fusion":
                continue
            other = next(m for m in x if m != view)
            before = model.predict(x, view)
            changed = {**x, other: torch.randn_like(x[other]) * 10}
            if not torch.allclose(before, model.predict(changed, view)):
                raise MethodCheckError(f"{who}: predict(x, {view!r}) changes when modality {other!r} changes; a "
                                       "single-modality prediction must read only its own modality")


def register_method(cls: type, source: str = "registered in Python") -> type:
    """Check `cls` (`check_method`) and register it under ``cls.name``; returns it (usable as a decorator)."""
    if EXTERNAL.get(getattr(cls, "name", None)) is cls:
        return cls
    check_method(cls, source)
    EXTERNAL[cls.name] = cls
    SOURCES[cls.name] = source
    return cls


def _from_file(path: str) -> Any:
    """The module of a ``.py`` file (a script beside a notebook), imported once per process."""
    import importlib.util
    import sys
    from pathlib import Path

    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise MethodCheckError(f"no method file {path!r} (resolved to {file}): give an existing .py file, or a "
                               "module name importable from PYTHONPATH")
    name = f"mdico_method_{file.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: its classes' __module__ must resolve (pickling)
        spec.loader.exec_module(module)
    return sys.modules[name]


def _classes(target: str) -> list[type]:
    """The method classes `target` names: ``module:Class``, or every `Method` subclass a module defines."""
    from mdico_core.methods.base import Method

    module_name, attr = target, ""
    if ":" in target and not target.endswith(".py"):  # module:Class (a Windows path ends in .py)
        module_name, _, attr = target.rpartition(":")
    try:
        module = _from_file(module_name) if module_name.endswith(".py") else importlib.import_module(module_name)
    except ImportError as err:
        raise MethodCheckError(f"cannot import {module_name!r} ({err}); is it installed, or on PYTHONPATH?") from None
    if attr:
        if not hasattr(module, attr):
            raise MethodCheckError(f"module {module_name!r} has no {attr!r}")
        return [getattr(module, attr)]
    found = [c for c in vars(module).values()
             if inspect.isclass(c) and issubclass(c, Method) and c is not Method and c.__module__ == module.__name__]
    if not found:
        raise MethodCheckError(f"module {module_name!r} defines no subclass of mdico_core.methods.Method")
    return found


def register_module(target: str) -> dict[str, type]:
    """Register the methods of `target` (a module, ``module:Class`` or a ``.py`` file) here and, by adding it
    to ``$MDICO_METHODS``, in every worker process, Dask worker or notebook kernel this process starts.
    A file is named by its absolute path, so that a process started in another folder finds it too."""
    if target.endswith(".py"):
        from pathlib import Path

        target = str(Path(target).expanduser().resolve())
    before = os.environ.get(ENV_METHODS)
    listed = [t.strip() for t in (before or "").replace(";", ",").split(",") if t.strip()]
    if target not in listed:
        os.environ[ENV_METHODS] = ",".join([*listed, target])
    try:
        return load_external()
    except Exception:  # a module that fails its check is not left in $MDICO_METHODS for later loads
        if before is None:
            os.environ.pop(ENV_METHODS, None)
        else:
            os.environ[ENV_METHODS] = before
        raise


def load_external(spec: str | None = None) -> dict[str, type]:
    """Register the methods of ``$MDICO_METHODS`` (or `spec`) and of the ``mdico.methods`` entry points,
    once each per process; returns `EXTERNAL`."""
    targets = [(t.strip(), f"${ENV_METHODS} {t.strip()}")
               for t in (spec if spec is not None else os.environ.get(ENV_METHODS, "")).replace(";", ",")
               .split(",") if t.strip()]
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        targets.append((ep.value, f"entry point {ep.name} = {ep.value}"))
    for target, source in targets:
        if target in _LOADED:
            continue
        for cls in _classes(target):
            register_method(cls, source)
        _LOADED.add(target)
    return EXTERNAL

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

Before a sweep trains, the check runs again on the dataset's own modality names and shapes
(`check_on_problem`), with ``predict`` given its own modality alone. A bad module, a name taken twice or a
built-in name is one `MethodCheckError` line, by every route; a broken installed entry point is set aside
(`BROKEN`) so that the others still load.

A run's id does not include your method's code (archived runs keep their ids); its record does
(``record["method_code"]``, `method_code`: the SHA-256 of the module's source, an entry point's package
version), and a stored run of older code is stale (`stale_reason`): the next sweep trains it again.
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


def _fake_target(spec: Any, n: int) -> Any:
    """A random target of `spec`'s task for `n` rows (what a batch of the check holds)."""
    import torch

    if spec.task == "regression":
        return torch.randn(n)
    if spec.task == "multilabel":
        return (torch.rand(n, spec.n_outputs) > 0.5).float()
    return torch.randint(0, max(2, spec.n_outputs), (n,))


def _call(who: str, what: str, fn: Any, *args: Any) -> Any:
    """`fn(*args)`; whatever the user's code raises becomes one `MethodCheckError` naming `what`."""
    try:
        return fn(*args)
    except MethodCheckError:
        raise
    except Exception as err:  # the user's code: report it, whatever it raised
        raise MethodCheckError(f"{who}: {what} raised {type(err).__name__}: {err} in the pre-training check; fix it "
                               "and run again") from None


def check_method(cls: Any, source: str = "", spec: Any = None, encoder: str = "mlp") -> None:
    """Refuse `cls` with one `MethodCheckError` unless it is a usable method (see the module docstring).

    `spec` (a ``ProblemSpec``): check on that problem, with its modality names (``ProblemSpec.from_dataset``
    of the dataset to train on: a `predict` that reads ``x["L8"]`` by name is caught only with the name
    ``L8``); default two small made-up modalities, the check made when a method is registered.
    """
    import torch

    from mdico_core.methods.base import Method, ProblemSpec

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
    if spec is None:
        spec = ProblemSpec(task="regression", n_outputs=1, shapes={"A": (4, 3), "B": (4, 2)})  # two small modalities
    torch.manual_seed(0)
    try:
        model = cls(spec, encoder=encoder)
    except Exception as err:  # the user's constructor: report it, whatever it raised
        raise MethodCheckError(f"{who}: cannot be built as cls(spec, encoder={encoder!r}) on a problem of modalities "
                               f"{', '.join(spec.shapes)} ({type(err).__name__}: {err})") from None
    x = {m: torch.randn(6, *shape) for m, shape in spec.shapes.items()}
    batch = {"x": x, "y": _fake_target(spec, 6)}
    model.train()
    terms = _call(who, "losses(batch)", model.losses, batch)
    if not isinstance(terms, dict) or not terms or not all(isinstance(t, torch.Tensor) and t.dim() == 0
                                                            for t in terms.values()):
        raise MethodCheckError(f"{who}: losses(batch) must return a non-empty dict of named scalar tensors, got "
                               f"{type(terms).__name__}")
    bad = [k for k, t in terms.items() if not torch.isfinite(t.detach()).all()]
    if bad:  # else it fails only at scoring, after the whole training ("Input contains NaN")
        raise MethodCheckError(f"{who}: losses(batch) gives a non-finite {bad[0]!r} ({terms[bad[0]].item()}) on a "
                               "random batch; guard its divisions and logarithms")
    total = sum(terms.values())
    if not total.requires_grad:
        raise MethodCheckError(f"{who}: losses(batch) does not depend on the model's parameters (no gradient)")
    model.eval()
    with torch.no_grad():
        for view in model.plain_views():
            if view == "fusion":
                continue
            own = {view: x[view]}
            try:  # given its own modality alone, a single-modality view must predict
                before = model.predict(own, view)
            except KeyError as err:
                raise MethodCheckError(f"{who}: predict(x, {view!r}) reads modality {err.args[0]!r}; a "
                                       "single-modality prediction must read only its own modality") from None
            except Exception as err:  # noqa: BLE001 -- the user's code
                raise MethodCheckError(f"{who}: predict(x, {view!r}) raised {type(err).__name__}: {err} in the "
                                       "pre-training check; fix it and run again") from None
            if not torch.isfinite(before).all():
                raise MethodCheckError(f"{who}: predict(x, {view!r}) gives non-finite values on a random batch")
            for other in (m for m in x if m != view):
                changed = {**x, other: torch.randn_like(x[other]) * 10}
                after = _call(who, f"predict(x, {view!r})", model.predict, changed, view)
                if not torch.allclose(before, after):
                    raise MethodCheckError(f"{who}: predict(x, {view!r}) changes when modality {other!r} changes; a "
                                           "single-modality prediction must read only its own modality")


_CHECKED: set[tuple] = set()  # (class, encoder, modality shapes, task): each problem checked once per process


def check_on_problem(name: str, spec: Any, encoder: str = "mlp") -> None:
    """`check_method` of your method `name` on `spec` (the dataset it is about to train on, with its modality
    names), once per process; nothing for a built-in method. Raises `MethodCheckError`."""
    cls = EXTERNAL.get(name)
    if cls is None:
        return
    key = (cls, encoder, tuple((m, tuple(s)) for m, s in spec.shapes.items()), spec.task, spec.n_outputs)
    if key not in _CHECKED:
        check_method(cls, SOURCES.get(name, ""), spec, encoder)
        _CHECKED.add(key)


def register_method(cls: type, source: str = "registered in Python", package: tuple[str, str] | None = None) -> type:
    """Check `cls` (`check_method`) and register it under ``cls.name``; returns it (usable as a decorator).
    `package`: (distribution, version) of an entry point's package, recorded with the code's hash.

    Raises `MethodCheckError` when another method of yours already has the name (two modules, one name)."""
    if EXTERNAL.get(getattr(cls, "name", None)) is cls:
        return cls
    check_method(cls, source)
    if cls.name in EXTERNAL:
        raise MethodCheckError(f"{getattr(cls, '__qualname__', cls)} ({source}): the name {cls.name!r} is already "
                               f"taken by {EXTERNAL[cls.name].__qualname__} ({SOURCES[cls.name]}); give one of them "
                               "another name")
    EXTERNAL[cls.name] = cls
    SOURCES[cls.name] = source
    CODE[cls.name] = _code_of(cls, package)
    return cls


CODE: dict[str, dict[str, str]] = {}
"""The code of each external method, as registered: ``{"module", "file", "sha256"}`` and, for an entry
point, ``"package"`` and ``"version"`` (`method_code`)."""
BROKEN: dict[str, str] = {}
"""Installed entry points that cannot be loaded: entry point name -> the one-line reason. The other
methods stay usable; naming a broken one gives that reason (``methods.get_method``)."""


def _code_of(cls: type, package: tuple[str, str] | None = None) -> dict[str, str]:
    """The identity of `cls`'s code: the SHA-256 of its module's source file (the whole file: a helper it
    calls counts too), and an entry point's package version."""
    import hashlib
    import sys

    module = sys.modules.get(cls.__module__)
    out = {"module": cls.__module__}
    try:
        path = inspect.getsourcefile(module) if module is not None else None
    except TypeError:  # a class defined in a notebook or interactively: no file
        path = None
    if path and os.path.isfile(path):
        with open(path, "rb") as f:
            out.update(file=os.path.basename(path), sha256=hashlib.sha256(f.read()).hexdigest())
    else:
        try:
            src = inspect.getsource(cls)
        except (OSError, TypeError):
            src = None
        if src is not None:
            out["sha256"] = hashlib.sha256(src.encode()).hexdigest()
    if package is not None:
        out.update(package=package[0], version=package[1])
    return out


def method_code(name: str) -> dict[str, Any]:
    """What identifies method `name`'s code, for its run records: a built-in method's code is the record's git
    commit (``{"builtin": True, "identified_by": "git_commit"}``); yours is `CODE`'s hash (and version)."""
    if name in BUILTIN:
        return {"builtin": True, "identified_by": "git_commit"}
    if name not in EXTERNAL:
        try:
            load_external()
        except MethodCheckError:
            pass
    return {"builtin": False, **CODE.get(name, {})}


def stale_reason(record: dict) -> str | None:
    """Why the stored `record` of your method no longer is a run of its current code ("code changed"), or
    None: a built-in method's, one whose code is the one it recorded, and one that recorded no code (made
    before records held it: kept, its code unknown, as the archives' runs are) or whose method is not
    registered here (nothing to compare with)."""
    cfg = record.get("config") or {}
    name = cfg.get("method")
    recorded = record.get("method_code")
    if not name or name in BUILTIN or not isinstance(recorded, dict) or not recorded.get("sha256"):
        return None
    now = method_code(name)
    if not now.get("sha256"):
        return None
    if now["sha256"] != recorded["sha256"]:
        return "code changed"
    if recorded.get("version") and now.get("version") and recorded["version"] != now["version"]:
        return "package version changed"
    return None


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
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]  # a module that failed half-way is not a module to reuse
            raise
    return sys.modules[name]


def _classes(target: str) -> list[type]:
    """The method classes `target` names: ``module:Class``, or every `Method` subclass a module defines."""
    from mdico_core.methods.base import Method

    module_name, attr = target, ""
    if ":" in target and not target.endswith(".py"):  # module:Class (a Windows path ends in .py)
        module_name, _, attr = target.rpartition(":")
    try:
        module = _from_file(module_name) if module_name.endswith(".py") else importlib.import_module(module_name)
    except MethodCheckError:
        raise
    except ModuleNotFoundError as err:
        raise MethodCheckError(f"cannot import {module_name!r} ({err}); is it installed, or on PYTHONPATH?") from None
    except SyntaxError as err:
        raise MethodCheckError(f"{err.filename}:{err.lineno}: a syntax error in your method module {module_name!r} "
                               f"({err.msg}); fix it and run again") from None
    except Exception as err:  # whatever the module raises while it is imported: one line, not a traceback
        import sys
        import traceback

        frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith("<frozen")]
        where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
        sys.modules.pop(f"mdico_method_{os.path.splitext(os.path.basename(module_name))[0]}", None)
        raise MethodCheckError(f"{where}importing your method module {module_name!r} raised {type(err).__name__}: "
                               f"{err}; fix it and run again") from None
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
    once each per process; returns `EXTERNAL`.

    A module of ``$MDICO_METHODS`` that cannot be loaded raises `MethodCheckError` (one line). A broken
    installed entry point does not: it is set aside in `BROKEN` with its reason, so that the others (and
    ``mdico methods``, ``mdico status``) still work, and naming it gives the reason."""
    targets = [(t.strip(), f"${ENV_METHODS} {t.strip()}", None)
               for t in (spec if spec is not None else os.environ.get(ENV_METHODS, "")).replace(";", ",")
               .split(",") if t.strip()]
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        package = (dist.metadata["Name"], dist.version) if dist is not None else None
        targets.append((ep.value, f"entry point {ep.name} = {ep.value}", (ep.name, package)))
    for target, source, entry in targets:
        if target in _LOADED:
            continue
        try:
            for cls in _classes(target):
                register_method(cls, source, entry[1] if entry else None)
        except MethodCheckError as err:
            if entry is None:
                raise
            BROKEN[entry[0]] = f"the installed method entry point {entry[0]!r} ({target}) is broken: {err}"
        _LOADED.add(target)
    return EXTERNAL

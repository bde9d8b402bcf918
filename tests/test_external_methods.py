"""A method of one's own: registered from outside the package (dotted path, entry point), refused when it
breaks the interface, run by `mdico run` on the processes executor, and paired strictly with an archive."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods import Method, get_method
from mdico_core.methods import external as ext

MODULE = textwrap.dedent('''
    from torch import nn

    from mdico_core.encoders import EMB_DIM, build_encoder
    from mdico_core.methods import Method


    class SharedHead(Method):
        """Per-modality encoders sharing one prediction head."""

        name = "shared_head"

        def __init__(self, spec, encoder="tempcnn", **options):
            super().__init__(spec, encoder)
            self.encoders = nn.ModuleDict({m: build_encoder(encoder, s) for m, s in spec.shapes.items()})
            self.head = nn.Linear(EMB_DIM, spec.n_outputs)

        def losses(self, batch):
            terms = [self.task_loss(self.head(self.encoders[m](batch["x"][m])), batch["y"]) for m in self.modalities]
            return {"main": sum(terms) / len(terms)}

        def features(self, x, view):
            return self.encoders[view](x[view])

        def _predict(self, x, view):
            return self.head(self.features(x, view))
''')


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(ext, "EXTERNAL", {})
    monkeypatch.setattr(ext, "SOURCES", {})
    monkeypatch.setattr(ext, "_LOADED", set())
    monkeypatch.setattr(ext, "CODE", {})
    monkeypatch.setattr(ext, "BROKEN", {})
    monkeypatch.setattr(ext, "_CHECKED", set())
    monkeypatch.delenv(ext.ENV_METHODS, raising=False)


@pytest.fixture
def module_dir(tmp_path, monkeypatch) -> Path:
    (tmp_path / "my_method.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


class _Base(Method):
    name = "base_ok"

    def __init__(self, spec, encoder="tempcnn", **options):
        super().__init__(spec, encoder)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s) for m, s in spec.shapes.items()})
        self.head = nn.Linear(EMB_DIM, spec.n_outputs)

    def losses(self, batch):
        return {"main": sum(self.task_loss(self._predict(batch["x"], m), batch["y"]) for m in self.modalities)}

    def _predict(self, x, view):
        return self.head(self.encoders[view](x[view]))


class _Peeks(_Base):
    name = "peeks"

    def _predict(self, x, view):  # reads every modality: not a single-modality prediction
        return self.head(sum(self.encoders[m](x[m]) for m in self.modalities))


class _PeeksIfThere(_Base):
    name = "peeks_if_there"

    def _predict(self, x, view):  # reads every modality it is given: the other one changes its prediction
        return self.head(sum(self.encoders[m](x[m]) for m in self.modalities if m in x))


class _NoDict(_Base):
    name = "no_dict"

    def losses(self, batch):
        return torch.tensor(0.0)


class _Builtin(_Base):
    name = "mdico"


class _NoLosses(Method):
    name = "no_losses"


@pytest.mark.parametrize("cls, phrase", [
    (int, "is not a subclass of mdico_core.methods.Method"),
    (_Builtin, "is a built-in method's"),
    (_NoLosses, "implement losses()"),
    (_NoDict, "must return a non-empty dict of named scalar tensors"),
    (_Peeks, "reads modality 'B'; a single-modality prediction must read only its own modality"),
    (_PeeksIfThere, "changes when modality 'B' changes"),
])
def test_a_broken_method_is_refused_before_training(cls, phrase, clean_registry):
    with pytest.raises(ext.MethodCheckError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        ext.register_method(cls)
    ext.register_method(_Base)
    assert get_method("base_ok") is _Base


def test_registered_by_dotted_path_and_listed(module_dir, clean_registry, monkeypatch, capsys):
    from mdico_core.cli import main

    monkeypatch.setenv(ext.ENV_METHODS, "my_method")
    assert get_method("shared_head").__module__ == "my_method"
    assert main(["methods", "--profile", "smoke", "--dataset", "toy_regression"]) == 0
    assert "shared_head (external)" in capsys.readouterr().out
    from mdico_core.methods import METHODS

    assert "shared_head" not in METHODS  # "all" stays the paper's methods: archive definitions do not move


def test_registered_by_file_path(module_dir, clean_registry):
    """A script beside a notebook: ``path/to/my_method.py`` (every class) or ``…py:Class``; a missing file is
    one clear error."""
    ext.load_external(str(module_dir / "my_method.py"))
    assert ext.EXTERNAL["shared_head"].__name__ == "SharedHead"
    ext.load_external(f"{module_dir / 'my_method.py'}:SharedHead")  # the same class: registered once
    assert list(ext.EXTERNAL) == ["shared_head"]
    with pytest.raises(ext.MethodCheckError, match="no method file .*nope.py"):
        ext.load_external(str(module_dir / "nope.py"))


def test_registered_by_entry_point(module_dir, clean_registry, monkeypatch):
    ep = metadata.EntryPoint(name="shared_head", value="my_method:SharedHead", group=ext.ENTRY_POINT_GROUP)
    real = metadata.entry_points
    monkeypatch.setattr(ext.metadata, "entry_points",
                        lambda **kw: [ep] if kw.get("group") == ext.ENTRY_POINT_GROUP else real(**kw))
    assert get_method("shared_head").__name__ == "SharedHead"
    assert ext.SOURCES["shared_head"].startswith("entry point shared_head")


@pytest.mark.slow
def test_mdico_run_trains_it_in_worker_processes_and_versus_pairs_it(module_dir, tmp_path):
    """`--method-module` reaches the worker processes; `mdico versus` refuses runs on another split."""
    env = {**os.environ, "PYTHONPATH": f"{module_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop(ext.ENV_METHODS, None)
    store = tmp_path / "store"

    def mdico(*args):
        return subprocess.run([sys.executable, "-m", "mdico_core.cli", *args], capture_output=True, text=True,
                              env=env, timeout=600)

    r = mdico("run", "--dataset", "toy_regression", "--methods", "individual,mdico,shared_head", "--profile", "smoke",
              "--seeds", "0,1,2,3,4", "--method-module", "my_method", "--executor", "processes", "--workers", "2",
              "--quiet", "--results", str(store))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "15 run(s) done" in r.stdout

    from mdico_core.experiments import ResultsStore
    from mdico_core.reporting.claims import versus

    runs = ResultsStore(store).collect("toy_regression")
    arch, mine = runs[runs["method"] != "shared_head"], runs[runs["method"] == "shared_head"]
    read = versus.runs_in_store(ResultsStore(store), "toy_regression", "smoke", ["shared_head"])
    assert set(read["run_id"]) == set(mine["run_id"]) and len(set(read["run_id"])) == 5
    assert versus.runs_in_store(ResultsStore(store), "toy_regression", "paper", ["shared_head"]).empty
    both, notes = versus.pair_with_archive(arch, mine)
    table = versus.versus_tables(both, ["shared_head"])
    assert set(table["versus"]) == {"individual", "mdico"} and (table["n_pairs"] == 5).all()
    assert table["verdict"].isin(["holds", "fails", "equivalent", "inconclusive"]).all() and not notes
    wide = versus.rank_table(both, ["shared_head"])  # every method beside yours, "mean (rank of k)" per view
    assert len(wide) == 3 and "shared_head (yours)" in set(wide["method"])
    for view in (c for c in wide.columns if c != "method"):  # the ranks, re-derived from the printed means
        means = {m: float(cell.split(" (")[0]) for m, cell in zip(wide["method"], wide[view])}
        ranks = {m: int(cell.split(" (")[1].split(" of")[0]) for m, cell in zip(wide["method"], wide[view])}
        best_first = sorted(means, key=means.get, reverse=True)  # R²: higher is better
        assert [ranks[m] for m in best_first] == sorted(ranks.values()), view
    moved = mine.assign(split_seed=7)  # another split: refused, with the reason
    with pytest.raises(versus.PairingError, match="another split than the archive's \\(split_seed 7"):
        versus.pair_with_archive(arch, moved)


def test_register_module_names_a_file_by_its_absolute_path_once(monkeypatch, tmp_path):
    """A method file given relative to here reaches workers started elsewhere: $MDICO_METHODS holds its
    absolute path, once however often it is registered."""
    from mdico_core.reporting.book.book_plan import OWN_METHOD_FILE, OWN_METHOD_NAME

    monkeypatch.delenv(ext.ENV_METHODS, raising=False)
    monkeypatch.chdir(OWN_METHOD_FILE.parent.parent)
    for _ in range(2):
        ext.register_module(f"{OWN_METHOD_FILE.parent.name}/{OWN_METHOD_FILE.name}")
    assert os.environ[ext.ENV_METHODS] == str(OWN_METHOD_FILE.resolve())
    assert OWN_METHOD_NAME in ext.EXTERNAL
    broken = tmp_path / "broken.py"  # no Method subclass: refused, and not left for later loads to fail on
    broken.write_text("x = 1\n")
    with pytest.raises(ext.MethodCheckError, match="defines no subclass"):
        ext.register_module(str(broken))
    assert os.environ[ext.ENV_METHODS] == str(OWN_METHOD_FILE.resolve())


@pytest.mark.slow
def test_mdico_run_trains_it_on_a_dask_cluster(module_dir, tmp_path):
    """The method module reaches Dask's worker processes too (a local cluster, started by `mdico run`)."""
    pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": f"{module_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop(ext.ENV_METHODS, None)
    r = subprocess.run([sys.executable, "-m", "mdico_core.cli", "run", "--dataset", "toy_regression", "--methods",
                        "shared_head", "--profile", "smoke", "--seeds", "0,1", "--method-module", "my_method",
                        "--executor", "dask", "--workers", "2", "--quiet", "--results", str(tmp_path / "store")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 run(s) done" in r.stdout, r.stdout[-1000:]
    from mdico_core.experiments import ResultsStore

    runs = ResultsStore(tmp_path / "store").collect("toy_regression")
    assert set(runs["method"]) == {"shared_head"} and (runs["status"] == "done").all()


# ------------------------------------------------------------------------ issue 40: code, splits, bad modules
def _mdico(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != ext.ENV_METHODS}
    return subprocess.run([sys.executable, "-m", "mdico_core.cli", *args], capture_output=True, text=True,
                          env={**full, **(env or {})}, timeout=600)


def test_an_edited_method_is_trained_again(tmp_path):
    """Issue 40, 4: a run's identity includes its method's code. The run id stays (archived runs of your method
    keep theirs), the record holds the module's SHA-256, and a run of older code is stale: `mdico status` counts
    it, and the next `mdico run` trains it again, replacing the record."""
    import json

    module, store = tmp_path / "my_meth.py", tmp_path / "store"
    module.write_text(MODULE)
    run = ("run", "--dataset", "toy_regression", "--methods", "shared_head", "--profile", "smoke",
           "--method-module", str(module), "--quiet", "--results", str(store))
    r = _mdico(*run)
    assert r.returncode == 0 and "1 run(s) done" in r.stdout, r.stderr[-2000:]
    (record,) = [p for p in (store / "toy_regression").glob("*.json")]
    first = json.loads(record.read_text())
    assert first["method_code"]["sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    again = _mdico(*run)  # the same code: kept
    assert "0 run(s) done" in again.stdout and "1 already in the store" in again.stdout, again.stdout[-1000:]
    module.write_text(MODULE.replace("return self.head(self.features(x, view))",
                                     "return self.head(self.features(x, view)) + 100"))
    status = _mdico("status", "--results", str(store), env={ext.ENV_METHODS: str(module)})
    assert "1 stale run of shared_head (code changed)" in status.stdout, status.stdout + status.stderr
    r = _mdico(*run)
    assert r.returncode == 0 and "1 run(s) done" in r.stdout, r.stdout[-1000:] + r.stderr[-2000:]
    second = json.loads(record.read_text())
    assert second["run_id"] == first["run_id"] and second["method_code"]["sha256"] != first["method_code"]["sha256"]
    assert second["metrics"] != first["metrics"]
    assert "stale" not in _mdico("status", "--results", str(store), env={ext.ENV_METHODS: str(module)}).stdout


def test_builtin_and_older_records_are_never_stale(clean_registry):
    """A built-in method's code is the record's git commit; a record from before code hashes (the archived runs
    of `lfmc_own_method`) is kept as it is: its code is unknown, not changed."""
    ext.register_method(_Base)
    assert ext.method_code("mdico") == {"builtin": True, "identified_by": "git_commit"}
    assert ext.method_code("base_ok")["sha256"]
    cfg = {"config": {"method": "base_ok"}}
    assert ext.stale_reason(cfg) is None
    assert ext.stale_reason({**cfg, "method_code": {"sha256": "0" * 64}}) == "code changed"
    assert ext.stale_reason({**cfg, "method_code": ext.method_code("base_ok")}) is None
    assert ext.stale_reason({"config": {"method": "mdico"}, "method_code": {"sha256": "0" * 64}}) is None


def test_versus_refuses_two_methods_at_two_split_seeds_against_an_archive_without_one():
    """Issue 40, 5: a missing split seed is its own value, "(none)"; two methods of yours at split seeds 3 and 4
    do not pair with an archive made without one, and the refusal names the true reason."""
    from mdico_core.reporting.book.archive import read_runs
    from mdico_core.reporting.claims import versus

    arch = read_runs("lfmc_paper")
    arch = arch[arch["settings"] == "common"]
    assert arch["split_seed"].isna().all()
    a = arch[arch["method"] == "individual"].assign(method="mine_a", split_seed=3)
    b = arch[arch["method"] == "mdico"].assign(method="mine_b", split_seed=4)
    for yours in (pd.concat([a, b]), a, b):
        with pytest.raises(versus.PairingError, match=r"your mine_[ab] run was trained on another split than the "
                                                      r"archive's \(split_seed [34] here, \(none\) in the archive\)"):
            versus.pair_with_archive(arch, yours)
    both, notes = versus.pair_with_archive(arch, pd.concat([a, b]).assign(split_seed=float("nan")))
    assert {"mine_a", "mine_b"} <= set(both["method"]) and not notes


GOOD = MODULE
BAD_MODULES = {  # name -> (module text, a phrase of the one line)
    "raises at import": ("raise RuntimeError('no GPU here')\n" + GOOD, "raised RuntimeError: no GPU here"),
    "syntax error": (GOOD + "\ndef broken(:\n", "a syntax error in your method module"),
    "losses raises": (GOOD.replace('return {"main": sum(terms) / len(terms)}', 'return {"main": batch["x"]["S9"].sum()}'),
                      "losses(batch) raised KeyError: 'S9' in the pre-training check"),
    "predict raises": (GOOD.replace("return self.head(self.features(x, view))", "raise ValueError('not yet')"),
                       "raised ValueError: not yet in the pre-training check"),
    "NaN loss": (GOOD.replace('return {"main": sum(terms) / len(terms)}', 'return {"main": sum(terms) * float("nan")}'),
                 "losses(batch) gives a non-finite 'main'"),
    "reads S2 by name": (GOOD.replace("return self.head(self.features(x, view))",
                                      "return self.head(self.features(x, view)) + (x['S2'].mean() if view == 'S1' "
                                      "else 0)"),
                         "predict(x, 'S1') reads modality 'S2'"),
    "a built-in name": (GOOD.replace('name = "shared_head"', 'name = "mdico"'), "the name 'mdico' is a built-in method's"),
}


@pytest.mark.parametrize("case", list(BAD_MODULES))
def test_a_bad_method_module_is_one_line_by_every_route(case, tmp_path):
    """Issue 40, 6-8: through $MDICO_METHODS and through --method-module, a bad module is refused before any run
    with one line (no traceback), even when only built-in methods are named; a predict that reads another
    modality by name is caught on the dataset's own modality names."""
    text, phrase = BAD_MODULES[case]
    module = tmp_path / "bad_method.py"
    module.write_text(text)
    base = ("run", "--dataset", "toy_regression", "--profile", "smoke", "--quiet", "--results", str(tmp_path / "s"))
    methods = "shared_head" if "built-in" not in case else "mdico"
    for args, env in (((*base, "--methods", methods, "--method-module", str(module)), {}),
                      ((*base, "--methods", methods), {ext.ENV_METHODS: str(module)})):
        r = _mdico(*args, env=env)
        assert r.returncode == 2, (case, r.returncode, r.stdout[-500:], r.stderr[-1500:])
        assert "Traceback" not in r.stderr and phrase in r.stderr, (case, r.stderr[-1500:])
        assert not (tmp_path / "s" / "toy_regression").exists() or not list((tmp_path / "s").rglob("*.json"))


def test_two_modules_with_one_name_are_refused(tmp_path, clean_registry):
    (tmp_path / "one.py").write_text(GOOD)
    (tmp_path / "two.py").write_text(GOOD.replace("Per-modality", "Another"))
    with pytest.raises(ext.MethodCheckError, match="the name 'shared_head' is already taken by SharedHead"):
        ext.load_external(f"{tmp_path / 'one.py'},{tmp_path / 'two.py'}")


def test_a_broken_entry_point_is_named_and_the_others_listed(module_dir, clean_registry, monkeypatch, capsys):
    from mdico_core.cli import main

    (module_dir / "broken_ep.py").write_text("import no_such_package_here\n")
    eps = [metadata.EntryPoint(name="shared_head", value="my_method:SharedHead", group=ext.ENTRY_POINT_GROUP),
           metadata.EntryPoint(name="broken", value="broken_ep:Broken", group=ext.ENTRY_POINT_GROUP)]
    real = metadata.entry_points
    monkeypatch.setattr(ext.metadata, "entry_points",
                        lambda **kw: eps if kw.get("group") == ext.ENTRY_POINT_GROUP else real(**kw))
    assert main(["methods", "--profile", "smoke", "--dataset", "toy_regression"]) == 0
    out, err = capsys.readouterr()
    assert "shared_head (external)" in out
    assert "warning: the installed method entry point 'broken' (broken_ep:Broken) is broken: cannot import" in err
    assert main(["status", "--results", str(module_dir / "store")]) == 0
    assert "entry point 'broken'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="entry point 'broken'"):
        get_method("broken")

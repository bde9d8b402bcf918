"""A method of one's own: registered from outside the package (dotted path, entry point), refused when it
breaks the interface, run by `mdico run` on the processes executor, and paired strictly with an archive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

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
    (_Peeks, "changes when modality"),
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
    from mdico_core.reporting import versus

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
    from mdico_core.reporting.book_plan import OWN_METHOD_FILE, OWN_METHOD_NAME

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

"""Sweep files (workbench.experiments.spec): validation before anything runs, expansion of
lists and grids, the variant hash, and the shipped sweeps."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.helpers import REPO
from tests.helpers.sweeps import write_sweep
from workbench.experiments import (
    SweepError,
    expand,
    load_sweep,
)

runner = CliRunner()


@pytest.mark.parametrize(("text", "message"), [
    ("experiment: x\nnotebook: 01_data_overview\nvariants: [{name: a}]\ncolour: red\n",
     r"colour: Extra inputs are not permitted"),
    ("notebook: 01_data_overview\nvariants: [{name: a}]\n", r"experiment: Field required"),
    ("experiment: x\nnotebook: 01_data_overview\n", r"no variants"),
    ("experiment: x\nnotebook: 01_data_overview\ngrid: {dataset: []}\n",
     r"grid key\(s\) \['dataset'\] have no values"),
    ("experiment: x\nvariants: [{name: a, parametres: {}}]\n",
     r"variants\.0\.parametres: Extra inputs"),
    ("experiment: x\nvariants: [{name: 'a b'}]\n", r"variants\.0\.name: String should match"),
    ("- just\n- a list\n", r"a sweep file is a mapping"),
    ("experiment: [unclosed\n", r"not valid YAML"),
])
@pytest.mark.reliability
def test_structural_errors_name_the_key(tmp_path, text, message) -> None:
    with pytest.raises(SweepError, match=message):
        load_sweep(write_sweep(tmp_path, text))


@pytest.mark.parametrize(("text", "message"), [
    ("variants: [{name: a}, {name: a}]", r"variant 'a': duplicate variant name"),
    ("variants: [{name: a, notebook: 99_nope}]", r"notebook '99_nope' not found"),
    ("variants: [{name: a, notebook: ../../../../../../../../etc/hostname}]",
     r"outside .*notebooks and the sweep file's folder"),
    ("variants: [{name: a, parameters: {datset: toy}}]",
     r"variant 'a': 01_data_overview.ipynb does not declare parameter\(s\) \['datset'\]"),
    ("variants: [{name: a, parameters: {track: 'yes'}}]",
     r"parameter 'track' = 'yes' should be a bool"),
    ("variants: [{name: a, parameters: {mlflow_experiment: other}}]",
     r"do not set mlflow_experiment"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {seed: ten}}]",
     r"parameter 'seed' = 'ten' should be a int"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {model: nope}}]",
     r"variant 'a': unknown model 'nope'; registered models: popularity"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, params.l2: -1}}]",
     r"variant 'a': invalid collaborative config: params\.l2: Input should be greater than 0"),
    ("variants: [{name: a, notebook: 03_train_collaborative, parameters: {model: ease},\n"
     "             search: {trials: 2, space: {params.l2: {float: [1, 9]}}}}]",
     r"a search variant must set `trial: true`"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {trials: 2, space: {params.factors: {int: [1, 9]}}}}]",
     r"search space 'params.factors' = 1: .*params\.factors: Extra inputs are not permitted"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {trials: 2, space: {params.l2: {float: [0, 9]}}}}]",
     r"search space 'params.l2' = 0.0: .*params\.l2: Input should be greater than 0"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: itemknn, trial: true},\n"
     "             search: {trials: 2, space: {params.neighbours: {float: [2, 50]}}}}]",
     r"search space 'params.neighbours' = 19.7.*: .*params\.neighbours: Input should be a valid "
     r"integer, got a number with a fractional part"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {trials: 2, space: {lr: {float: [0.1, 9]}}}}]",
     r"search space key 'lr': the notebook declares no parameter 'lr'"),
    ("variants: [{name: a, notebook: 03_train_collaborative,\n"
     "             parameters: {model: ease, trial: true},\n"
     "             search: {space: {params.l2: {float: [1, 9]}}}}]",
     r"search has no `trials` count"),
    ("variants: [{name: a, notebook: 02_content_index, parameters: {index_type: lsh}}]",
     r"variant 'a': index_type: Input should be 'auto', 'flat', 'hnsw', 'ivf' or 'ivf_sq8'"),
    ("variants: [{name: a, notebook: 02_content_index, parameters: {ranking: {prior: 1}}}]",
     r"variant 'a': prior: Extra inputs are not permitted"),
])
def test_variant_errors_are_found_before_anything_runs(tmp_path, text, message) -> None:
    spec = load_sweep(write_sweep(tmp_path, f"experiment: x\nnotebook: 01_data_overview\n{text}\n"))
    with pytest.raises(SweepError, match=message):
        expand(spec)


@pytest.mark.parametrize(("text", "message"), [
    ("search: {trials: 0}", r"search\.trials: Input should be greater than 0"),
    ("search: {objective: test_full_ndcg_at_10}", r"is a test metric: choose on validation"),
    ("search: {space: {x: {float: [2, 1]}}}", r"low must be below high"),
    ("search: {space: {x: {float: [0, 1], log: true}}}", r"a log range needs low > 0"),
    ("search: {space: {x: {int: [1, 5], choice: [1]}}}", r"give exactly one of"),
    ("search: {space: {x: {choice: []}}}", r"choice needs at least one value"),
    ("search: {space: {x: {int: [1, 9], step: 0.5}}}", r"an int range needs a whole step"),
    ("search: {space: {x: {uniform: [0, 1]}}}", r"uniform: Extra inputs are not permitted"),
])
@pytest.mark.reliability
def test_bad_search_blocks_are_refused_by_name(tmp_path, text, message) -> None:
    with pytest.raises(SweepError, match=message):
        load_sweep(write_sweep(tmp_path, f"experiment: x\nnotebook: 03_train_collaborative\n"
                                    f"variants: [{{name: a}}]\n{text}\n"))


def test_expansion_of_lists_and_grids_with_typed_values(tmp_path) -> None:
    spec = load_sweep(write_sweep(tmp_path, """
experiment: cf
notebook: 03_train_collaborative
parameters: {dataset: toy, model: mf, params: {epochs: 3}}
variants:
  - name: layers
    parameters: {model: mlp, params.mlp_layers: [8, 4]}
  - name: cf
    parameters: {save_model: false}
    grid: {model: [mf, gmf], params.lr: [0.01]}
  - name: later
    parameters: {model: gmf}
    stage: 1
grid: {seed: [1, 2]}
""", "my_sweep.yaml"))
    variants = {v.name: v for v in expand(spec)}
    assert spec.name == "my_sweep"
    assert list(variants) == ["layers", "cf.model=mf,params.lr=0.01",
                              "cf.model=gmf,params.lr=0.01", "later", "seed=1", "seed=2"]
    assert variants["layers"].parameters["params"] == {"epochs": 3, "mlp_layers": [8, 4]}
    assert variants["cf.model=gmf,params.lr=0.01"].parameters == {
        "dataset": "toy", "params": {"epochs": 3, "lr": 0.01}, "save_model": False,
        "register_model": False, "model": "gmf", "mlflow_experiment": "cf"}
    assert variants["later"].stage == 1 and variants["layers"].stage == 0
    resolved = variants["layers"].resolved  # the task's own config, defaults filled in
    assert resolved["model"] == "mlp" and resolved["params"]["mlp_layers"] == [8, 4]
    assert resolved["params"]["lr"] == 0.001
    hashes = {v.params_hash for v in variants.values()}
    assert len(hashes) == 6


def test_a_changed_tuned_file_changes_the_variant_hash(tmp_path, monkeypatch) -> None:
    from workbench.settings import get_settings

    home = tmp_path / "home"
    (home / "experiments" / "tuned").mkdir(parents=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    get_settings.cache_clear()
    try:
        spec = load_sweep(write_sweep(tmp_path, "experiment: x\nnotebook: 03_train_collaborative\n"
                                           "parameters: {dataset: toy, model: ease}\n"
                                           "variants: [{name: a}]\n"))
        before = expand(spec)[0].params_hash
        (home / "experiments" / "tuned" / "toy.yaml").write_text("ease: {l2: 42}\n")
        [after] = expand(spec)
        assert after.params_hash != before and after.resolved["params"]["l2"] == 42.0
        (home / "experiments" / "tuned" / "toy.yaml").write_text("ease: {l2: -1}\n")
        with pytest.raises(SweepError, match=r"tuned/toy.yaml: .*params\.l2: Input should be"):
            expand(spec)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("name", ["movies_default", "anime_default", "toy_default"])
def test_shipped_default_sweeps_are_valid(name, workbench_env) -> None:
    """(In a temp home: the hybrid variant's check asks the home's registry for its
    champion.)"""
    spec = load_sweep(REPO / "experiments" / f"{name}.yaml")
    variants = {v.name: v for v in expand(spec, REPO)}
    assert "content-text-only" in variants
    assert variants["hybrid-alpha"].stage == 1  # after the zoo has chosen the champion
    models = {v.parameters["model"] for v in variants.values() if "model" in v.parameters}
    if name != "toy_default":
        from workbench.collaborative import model_names

        # every candidate for champion; the NCF family (never the champion, and tuned NeuMF
        # alone took 12 minutes of the movies sweep), Mult-VAE and SASRec (comparison models)
        # and SANSA (EASE's approximation, for catalogs where EASE does not fit) are in zoo.yaml
        assert models == set(model_names()) - {"mf", "gmf", "mlp", "neumf", "multvae",
                                               "sasrec", "sansa"}


def test_shipped_tuning_and_zoo_sweeps_are_valid(workbench_env) -> None:
    from workbench.collaborative import model_names

    tune = {v.name: v for v in expand(load_sweep(REPO / "experiments" / "tune.yaml"), REPO)}
    assert {v.parameters["model"] for v in tune.values()} == set(model_names()) - {
        "popularity"}  # popularity has nothing to tune
    assert {v.search.trials for v in tune.values()} == {20}  # the same budget for every model
    assert all(v.search.objective == "val_full_ndcg_at_10" for v in tune.values())
    assert all(v.parameters["trial"] for v in tune.values())  # trials never score test
    zoo = expand(load_sweep(REPO / "experiments" / "zoo.yaml"), REPO)
    assert len(zoo) == 3 * (len(model_names()) - 1) * 3 + 2 * 3  # sasrec: movies, ml1m (timestamps)
    assert {v.parameters["model"] for v in zoo} == set(model_names())  # the whole zoo


def test_a_generated_default_sweep_leaves_out_what_does_not_fit(tmp_path, monkeypatch,
                                                                 workbench_env) -> None:
    """EASE too large for the budget: the generated sweep trains its stand-in (SANSA where
    installed and fitting, else iALS) and blends it instead, and says why in the file."""
    import importlib.util

    from tests.helpers.bookshop import write_bookshop
    from workbench import data
    from workbench.collaborative import model_class
    from workbench.collaborative.capacity import Cost
    from workbench.data.registry import register_spec
    from workbench.experiments.spec import write_default_sweep
    settings = workbench_env
    register_spec(write_bookshop(tmp_path / "files"), settings)
    data.prepare("bookshop", settings)
    monkeypatch.setattr(model_class("ease"), "cost",
                        classmethod(lambda cls, params, shape: Cost(1e15, 1.0)))
    path = write_default_sweep("bookshop", settings)
    text = path.read_text()
    assert "# - ease needs ~931322.6 GB for 40 users x 60 items" in text
    stand_in = "sansa" if importlib.util.find_spec("sansa") else "ials"
    variants = {v.name: v for v in expand(load_sweep(path), REPO)}
    models = {v.parameters["model"] for v in variants.values() if "model" in v.parameters}
    assert "ease" not in models and stand_in in models
    assert variants["blend"].parameters["params"]["members"] == {
        stand_in: 1.0, "itemknn": 0.5, "content_knn": 0.3}


def test_an_old_generated_default_sweep_is_named(tmp_path, workbench_env) -> None:
    """A default sweep generated before notebook 03 stopped registering by default: the
    pipeline says what to add (its zoo would move no champion); a current one is quiet."""
    from tests.helpers.bookshop import write_bookshop
    from workbench import data
    from workbench.data.registry import register_spec
    from workbench.experiments.spec import write_default_sweep
    from workbench.tasks.pipeline import default_sweep
    settings = workbench_env
    register_spec(write_bookshop(tmp_path / "files"), settings)
    data.prepare("bookshop", settings)
    path = write_default_sweep("bookshop", settings)
    lines: list[str] = []
    default_sweep("bookshop", settings, lines.append)
    assert lines == []
    path.write_text(path.read_text().replace(
        "    parameters: {save_model: true, register_model: true}", ""))
    default_sweep("bookshop", settings, lines.append)
    assert len(lines) == 1 and "register_model: true" in lines[0] and str(path) in lines[0]


def test_the_output_switches_in_a_variants_identity(tmp_path) -> None:
    """Unset save/register (false since issue 26) is other work than true; true is the same
    work as a run recorded before issue 26 without them (their default was true then)."""
    import dataclasses

    spec = load_sweep(write_sweep(tmp_path, """
experiment: cf
notebook: 03_train_collaborative
parameters: {dataset: toy, model: popularity}
variants:
  - name: unset
  - name: asked
    parameters: {save_model: true, register_model: true}
"""))
    variants = {v.name: v for v in expand(spec)}
    assert variants["unset"].parameters["save_model"] is False
    assert variants["unset"].params_hash != variants["asked"].params_hash
    recorded_before = {k: v for k, v in variants["asked"].parameters.items()
                       if k not in ("save_model", "register_model")}
    old = dataclasses.replace(variants["asked"], parameters=recorded_before)
    assert old.params_hash == variants["asked"].params_hash

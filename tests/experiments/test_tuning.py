"""Tuning studies (workbench.experiments.tuning): trials as child runs that resume, one
process per study, tuned values written back."""

from __future__ import annotations

import mlflow
import pytest
from typer.testing import CliRunner

from tests.helpers.sweeps import write_sweep
from workbench import WorkbenchError, data
from workbench.cli import app
from workbench.experiments import (
    load_sweep,
    run_sweep,
)
from workbench.experiments.bookkeeping import TAG_PARENT
from workbench.settings import Settings

runner = CliRunner()


@pytest.fixture
def home(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")


TUNE_SWEEP = """
experiment: toy-tune
notebook: 03_train_collaborative
parameters: {dataset: toy, trial: true, tuned: false}
search: {trials: 3, seed: 7}
variants:
  - name: knn
    parameters: {model: itemknn}
    grid: {params.weighting: [rating]}
    search:
      space:
        params.neighbours: {int: [2, 20]}
        params.shrinkage: {float: [0, 50]}
  - name: layers
    parameters: {model: mlp, params: {epochs: 2, batch_size: 64}}
    search:
      trials: 1
      space:
        params.mlp_layers: {choice: [[16, 8], [8, 4]]}
"""


@pytest.mark.integration
def test_a_tuning_study_runs_trials_as_child_runs_and_resumes(workbench_env, tmp_path) -> None:
    import optuna

    from workbench.experiments.results import study_results, write_tuned
    from workbench.experiments.tuning import TAG_STUDY

    data.prepare("toy", workbench_env)
    path = write_sweep(tmp_path, TUNE_SWEEP, "toy_tune.yaml")
    result = runner.invoke(app, ["experiments", "run", str(path), "-j", "2"])
    assert result.exit_code == 0, result.output
    assert "study: 3 trials, best val_full_ndcg_at_10" in result.output
    spec = load_sweep(path)
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(experiment_names=["toy-tune"], output_format="list",
                              filter_string=f"tags.`{TAG_STUDY}` != ''")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        metrics = run.data.metrics
        assert "val_full_ndcg_at_10" in metrics
        assert not [m for m in metrics if m.startswith("test_")]  # a trial never sees test
        assert client.get_run(run.data.tags[TAG_PARENT]).data.tags["workbench.sweep_parent"]
    layers = [r for r in runs if r.data.tags["workbench.variant"].startswith("layers/")]
    assert layers[0].data.params["params.mlp_layers"] in ("[16, 8]", "[8, 4]")  # decoded
    studies = {r["variant"]: r for r in study_results(spec)}
    best = studies["knn.params.weighting=rating"]
    assert best["trials_complete"] == 3
    trial_values = [r.data.metrics["val_full_ndcg_at_10"] for r in runs
                    if r.data.tags["workbench.variant"].startswith("knn.")]
    assert best["best_value"] == pytest.approx(max(trial_values))  # chosen on validation
    assert studies["layers"]["best_params"]["params.mlp_layers"] in ([16, 8], [8, 4])

    again = run_sweep(spec, workbench_env, progress=False)  # resume: nothing left to run
    assert {o.status for o in again.outcomes} == {"SKIPPED"}
    assert again.parent_run_id == ""  # no run opened, as for finished plain variants
    storage = workbench_env.optuna_uri
    name = best["study"]
    optuna.load_study(study_name=name, storage=storage).ask()  # an interrupted trial
    spec.search.trials = 4  # a bigger budget adds trials to the same study
    more = run_sweep(spec, workbench_env, only=["knn.params.weighting=rating"], progress=False)
    assert [o.variant for o in more.outcomes] == ["knn.params.weighting=rating/trial-004",
                                                  "knn.params.weighting=rating (study)"]
    states = [t.state.name for t in optuna.load_study(study_name=name,
                                                      storage=storage).trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1

    [written] = write_tuned(study_results(spec), spec, workbench_env)
    assert written == workbench_env.experiments_dir / "tuned" / "toy.yaml"
    import yaml

    tuned = yaml.safe_load(written.read_text())
    assert tuned["mlp"]["epochs"] == 2 and tuned["mlp"]["mlp_layers"] in ([16, 8], [8, 4])
    assert set(tuned["itemknn"]) == {"neighbours", "shrinkage", "weighting"}
    shown = runner.invoke(app, ["experiments", "best", str(path)])
    assert shown.exit_code == 0 and "knn.params.weighting=rating: best" in shown.output
    parent = client.get_run(runs[0].data.tags[TAG_PARENT])
    assert "knn.params.weighting_rating.best_value" in parent.data.metrics
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "studies")} >= {
        "studies/knn.params.weighting_rating.json", "studies/knn.params.weighting_rating.png"}


def test_write_tuned_nests_dotted_keys(tmp_path) -> None:
    import yaml

    from workbench.experiments.results import write_tuned

    settings = Settings(home=tmp_path / "home", data_mirror=tmp_path / "none")
    spec = load_sweep(write_sweep(tmp_path, "experiment: x\nnotebook: 03_train_collaborative\n"
                                       "variants: [{name: a}]\n", "t.yaml"))
    results = [{"dataset": "toy", "model": "blend", "fixed_params": {
        "members": {"ease": 1.0, "itemknn": 0.5}}, "best_params": {
        "params.members.itemknn": 0.8, "params.members.content_knn": 0.2}}]
    [path] = write_tuned(results, spec, settings)
    doc = yaml.safe_load(path.read_text())
    assert doc == {"blend": {"members": {"ease": 1.0, "itemknn": 0.8, "content_knn": 0.2}}}


def test_a_study_runs_in_one_process_at_a_time(home) -> None:
    from workbench.experiments.tuning import study_lock

    with study_lock("x/y/z", home.experiments_dir):
        with (pytest.raises(WorkbenchError, match="being run by another process"),
              study_lock("x/y/z", home.experiments_dir)):
            pass
        with study_lock("x/y/other", home.experiments_dir):
            pass  # another study is free

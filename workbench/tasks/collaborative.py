"""Train and evaluate one collaborative model: the job behind notebook 03, `workbench
collaborative train` and every tuning trial.

:class:`TrainTask` holds the job's parameters (notebook 03's ``parameters`` cell has the same
names and defaults; a test checks it). :func:`train_collaborative` runs it inside one MLflow
run:

1. **Config**: the model's hyperparameters are layered: the model's declared defaults, then
   the tuned values for this dataset in ``experiments/tuned/<dataset>.yaml`` (when ``tuned``
   and the file names the model), then ``params``. The run logs the result as ``params.*``.
2. **Select**: fit on the training split minus a validation carve
   (:func:`workbench.collaborative.validation_split`), early stopping on validation NDCG@10
   where the model trains in epochs; ``val_*`` metrics.
3. **Refit and test** (not for tuning trials): the same configuration trained on the whole
   training split, the test split scored once: ``test_*`` metrics (full ranking, sampled,
   rating prediction for explicit models) and a per-user table (``test_per_user.csv``, the
   input of paired significance tests; with each user's history length and segments,
   :mod:`workbench.segments`).
4. **Record**: per-epoch curves and the learning-curve figure, train seconds, the model
   (an artifact of the run, stored where the tracking URI keeps artifacts). Only when asked
   (``save_model``, ``register_model``: the pipeline's default sweeps ask, a rerun by hand
   does not) is it saved under ``models/`` and registered as ``<dataset>-collaborative``, with
   the ``champion`` alias moved when its **validation** NDCG@10 beats the current champion's
   (implicit, leave-last-out runs only); the champion is then also copied to
   ``models/<dataset>/collaborative/champion`` so the hybrid loads it without MLflow
   (:mod:`workbench.collaborative.champion`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from workbench.segments import RARE_RATINGS
from workbench.settings import Settings, get_settings
from workbench.storage import read_yaml
from workbench.tasks import TaskConfig

FEW_RATINGS = RARE_RATINGS
"""``*_few_*`` metrics: the held-out rows whose item has at most this many training
interactions (cold and long-tail items, where content can help)."""


class TrainTask(TaskConfig):
    """Parameters of one training job (notebook 03's ``parameters`` cell)."""

    dataset: str = "movies"
    model: str = "ease"
    """A registered model (`workbench collaborative models`)."""
    params: dict[str, Any] = {}  # noqa: RUF012 - a pydantic field (TaskConfig), copied per instance
    """Hyperparameters over the tuned values and the model's defaults."""
    tuned: bool = True
    """Start from experiments/tuned/<dataset>.yaml where it names this model."""
    objective: Literal["implicit", "explicit"] = "implicit"
    split: Literal["leave_last_out", "random_holdout"] = "leave_last_out"
    seed: int = 42
    k: int = Field(10, gt=0)
    sampled_negatives: int = Field(100, gt=0)
    eval_users: int = Field(10_000, gt=0)
    """Validation and test rank the whole catalog for at most this many users, a seeded
    sample (``seed``) where there are more; the run records how many (``*_users_evaluated``)."""
    trial: bool = False
    """A tuning trial: fit and validate only (no refit, no test, nothing saved or
    registered)."""
    save_model: bool = False
    """Save as models/<dataset>/collaborative/<model>-<objective> (False, the default: only
    log it to the MLflow run; the pipeline's default sweeps pass True)."""
    register_model: bool = False
    """Register in the MLflow registry, where the champion alias moves on validation NDCG@k
    (False, the default: a rerun by hand leaves the registry and the champion alone; the
    pipeline's default sweeps pass True)."""
    mlflow_experiment: str = "collaborative"



@dataclass
class TrainResult:
    """What a training job produced."""

    task: TrainTask
    config: Any
    selected: Any
    """The model fitted on the training split minus validation (chosen on validation)."""
    model: Any
    """The final model: ``selected``'s configuration refitted on the whole training split
    (``selected`` itself for a tuning trial)."""
    metrics: dict[str, float]
    run_id: str
    model_folder: Path | None = None
    champion: bool = False
    test_per_user: pd.DataFrame | None = None
    figures: dict[str, Any] = field(default_factory=dict)


# -- configuration -----------------------------------------------------------------------------


def tuned_path(dataset: str, settings: Settings | None = None) -> Path:
    """``<experiments_dir>/tuned/<dataset>.yaml`` when it exists, else the checkout's copy."""
    settings = settings or get_settings()
    return settings.in_effect(settings.tuned_file(dataset))


def tuned_params(dataset: str, model: str, settings: Settings | None = None
                 ) -> tuple[dict[str, Any], Path | None]:
    """The tuned hyperparameters of ``model`` on ``dataset`` and the file they come from
    (``({}, None)`` when no file names the model)."""
    from workbench.collaborative import CollaborativeError, model_names

    path = tuned_path(dataset, settings)
    if not path.is_file():
        return {}, None
    doc = read_yaml(path, "tuned values", CollaborativeError) or {}
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise CollaborativeError(f"{path}: expected a mapping of model name -> "
                                 f"{{parameter: value}}")
    unknown = sorted(set(doc) - set(model_names()))
    if unknown:
        raise CollaborativeError(f"{path} names unknown model(s) {unknown}; registered: "
                                 f"{', '.join(model_names())}")
    return (dict(doc[model]), path) if model in doc else ({}, None)


def resolve_config(task: TrainTask, settings: Settings | None = None):
    """The :class:`CollabConfig` the task trains: model defaults < tuned file < ``params``.
    A composite model's members are layered the same way (each member's defaults < its
    tuned values < ``params.member_params``). A bad value is an error naming the parameter
    and, for a tuned value, the file."""
    from workbench.collaborative import CollaborativeError, make_config, model_class

    tuned, source = tuned_params(task.dataset, task.model, settings) if task.tuned else ({},
                                                                                        None)
    values = {"dataset": task.dataset, "model": task.model, "objective": task.objective,
              "split": task.split, "seed": task.seed}
    if source is not None:
        try:
            make_config(**values, params=tuned)
        except CollaborativeError as exc:
            raise CollaborativeError(f"{source}: {exc}") from None
    params = {**tuned, **task.params}
    cls = model_class(task.model)
    if cls.composite and task.tuned:
        members = params.get("members") or cls.Params().members
        given = dict(params.get("member_params") or {})
        params["member_params"] = {
            name: {**tuned_params(task.dataset, name, settings)[0], **given.get(name, {})}
            for name in members}
    return make_config(**values, params=params)


# -- the job -----------------------------------------------------------------------------------


def train_collaborative(task: TrainTask, settings: Settings | None = None,
                        log: Any = print) -> TrainResult:
    """Run ``task`` (see the module docstring); returns the models, metrics and run id."""
    import mlflow

    from workbench import data, evaluation, plots, segments, tracking
    from workbench.collaborative import refit, train, validation_split
    from workbench.collaborative.champion import SELECTION_METRIC, promote, validation_id

    settings = settings or get_settings()
    config = resolve_config(task, settings)
    source = tuned_params(task.dataset, task.model, settings)[1] if task.tuned else None
    items = data.load_items(task.dataset, settings)
    parts = data.load_split(task.dataset, task.split, settings)
    catalog = items["item_id"].to_numpy()
    split_seed = int(parts.manifest.get("seed", settings.seed))
    fit_rows, val_rows = validation_split(parts.train, split_seed)
    val_eval = evaluation.sample_users(val_rows, task.eval_users, task.seed)
    test_eval = evaluation.sample_users(parts.test, task.eval_users, task.seed)
    k = task.k
    params = {**task.model_dump(exclude={"params", "mlflow_experiment"}),
              "params": config.params, "tuned_from": str(source) if source else "-",
              "selected_by": SELECTION_METRIC, "validation_rows": len(val_rows)}
    run_name = tracking.model_run_name(task.dataset, task.model, task.seed, task.objective,
                                      task.trial)
    report = tracking.progress_reporter(settings)
    with tracking.start_run(task.mlflow_experiment, run_name=run_name, params=params,
                            settings=settings) as run:
        started = time.perf_counter()
        report(f"selection fit on {len(fit_rows):,} rows")
        selected = train(config, fit_rows, catalog, validation=val_rows, settings=settings,
                         progress=lambda line: report(f"selection fit: {line}"))
        report("validation metrics")
        select_seconds = time.perf_counter() - started
        metrics: dict[str, float] = {"select_seconds": select_seconds}
        if selected.best_epochs is not None:
            metrics["epochs_run"] = float(len(selected.history.get("loss", [])))
            metrics["best_epoch"] = float(selected.best_epochs)
        metrics.update(_prefixed("val_", evaluation.full_ranking(selected, val_eval, k)))
        metrics.update(_few_ratings("val_", selected, val_eval, fit_rows, k))
        if task.objective == "explicit":
            metrics.update(_prefixed("val_", evaluation.rating_prediction(selected, val_rows,
                                                                        fit_rows)))
        log(f"{task.dataset} {task.model}: selected in {select_seconds:.1f}s on "
            f"{len(fit_rows):,} rows; validation NDCG@{k} "
            f"{metrics[f'val_full_ndcg_at_{k}']:.4f}")
        for name, values in selected.history.items():
            if name != "best_epoch":
                for epoch, value in enumerate(values, start=1):
                    mlflow.log_metric(f"epoch_{name}", value, step=epoch)
        figures = {}
        curves = {n: v for n, v in selected.history.items() if n != "best_epoch"}
        if curves:
            ax = plots.plot_training_history(curves, f"{task.dataset} {task.model}: "
                                                     f"learning curve (selection fit)")
            figures["learning_curve"] = ax.figure
            tracking.log_figure(ax.figure, "learning_curve")
        result = TrainResult(task, config, selected, selected, metrics, run.info.run_id,
                             figures=figures)
        if task.trial:
            metrics["train_seconds"] = select_seconds
            tracking.log_metrics(metrics)
            return result
        started = time.perf_counter()
        report(f"refit on {len(parts.train):,} rows")
        model = refit(selected, parts.train, catalog, settings,
                      progress=lambda line: report(f"refit: {line}"))
        report("test metrics")
        metrics["refit_seconds"] = time.perf_counter() - started
        metrics["train_seconds"] = select_seconds + metrics["refit_seconds"]
        popularity = parts.train.groupby("item_id").size()
        full, per_user = evaluation.full_ranking(model, test_eval, k,
                                                 item_popularity=popularity, per_user=True)
        per_user = segments.annotate(per_user, parts.train, test_eval)
        metrics.update(_prefixed("test_", full))
        metrics.update(_few_ratings("test_", model, test_eval, parts.train, k))
        metrics.update(_prefixed("test_", evaluation.sampled_ranking(
            model, test_eval, k, task.sampled_negatives, task.seed)))
        if task.split == "leave_last_out":
            report("sampled protocols")
            every = pd.concat([parts.train, parts.test], ignore_index=True)
            for part, held_out, rows, scored in (("validation", val_rows, val_eval, selected),
                                                 ("test", parts.test, test_eval, model)):
                metrics.update(_protocols(scored, held_out, rows, part, every, task.dataset,
                                          split_seed, k, settings))
        if task.objective == "explicit":
            metrics.update(_prefixed("test_", evaluation.rating_prediction(
                model, parts.test, parts.train)))
        tracking.log_metrics(metrics)
        mlflow.log_text(per_user.to_csv(index=False), "test_per_user.csv")
        result.model, result.test_per_user = model, per_user
        log(f"{task.dataset} {task.model}: refit in {metrics['refit_seconds']:.1f}s; test "
            f"NDCG@{k} {metrics[f'test_full_ndcg_at_{k}']:.4f}")
        report("saving and logging the model")
        folder = _save(model, config, task, settings)
        try:
            artifact = tracking.log_model_folder(folder)
            if (task.register_model and task.objective == "implicit"
                    and task.split == "leave_last_out"):
                result.champion = promote(
                    task.dataset, artifact, run.info.run_id, folder, metrics, k, settings,
                    validation_id(task.dataset, task.split, parts.manifest, len(val_rows)))
        finally:
            if task.save_model:
                result.model_folder = folder
            else:  # the scratch copy: logged (and copied when it became the champion)
                shutil.rmtree(folder.parent, ignore_errors=True)
    return result


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{name}": float(value) for name, value in metrics.items()}


def _protocols(model, held_out: pd.DataFrame, rows: pd.DataFrame, part: str,
               interactions: pd.DataFrame, dataset: str, seed: int, k: int,
               settings: Settings) -> dict[str, float]:
    """``val_`` / ``test_`` ``{protocol}_hr_at_k``, ``_ndcg_at_k`` of every sampled protocol
    that applies to ``dataset`` (:mod:`workbench.collaborative.protocols`) on the users of ``rows``
    (the evaluated sample of ``held_out``), the candidates drawn for all of ``held_out`` once
    per (dataset, protocol, part, split seed), whatever the model or its seed."""
    from workbench import data
    from workbench.collaborative.protocols import (
        PROTOCOLS,
        applies,
        load_candidates,
        protocol_ranking,
    )

    timed = data.get_dataset(dataset, settings).has_timestamps
    folder = settings.processed_dir(dataset) / "splits"
    prefix = "val_" if part == "validation" else "test_"
    out = {}
    for name, protocol in PROTOCOLS.items():
        if applies(protocol, timed):
            candidates = load_candidates(folder, interactions, held_out, name, part, seed)
            candidates = candidates[candidates["user_id"].isin(rows["user_id"])]
            if candidates.empty:  # a catalog smaller than the protocol's negatives
                continue
            out.update(_prefixed(f"{prefix}{name}_",
                                 protocol_ranking(model, candidates, k)))
    return out


def _few_ratings(prefix: str, model, rows: pd.DataFrame, train_rows: pd.DataFrame,
                 k: int) -> dict[str, float]:
    """Full-ranking metrics on the ``rows`` whose item has at most :data:`FEW_RATINGS`
    interactions in ``train_rows`` (``{prefix}few_rows`` counts them)."""
    from workbench import evaluation

    counts = train_rows["item_id"].value_counts()
    few = rows[rows["item_id"].map(counts).fillna(0) <= FEW_RATINGS]
    out = {f"{prefix}few_rows": float(len(few))}
    if len(few):
        full = evaluation.full_ranking(model, few, k)
        out.update({f"{prefix}few_full_ndcg_at_{k}": full[f"full_ndcg_at_{k}"],
                    f"{prefix}few_full_recall_at_{k}": full[f"full_recall_at_{k}"]})
    return out


def _save(model, config, task: TrainTask, settings: Settings) -> Path:
    from workbench.collaborative import model_dir

    if task.save_model:
        folder = model_dir(config, settings)
    else:  # a comparison variant: keep the saved model, log this one from a scratch folder
        folder = Path(tempfile.mkdtemp(prefix="collaborative-")) / \
            f"{config.model}-{config.objective}"
    model.save(folder)
    return folder


def check_parameters(parameters: dict[str, Any], settings: Settings | None = None
                     ) -> dict[str, Any]:
    """Validate notebook 03's ``parameters`` (a sweep's, before anything runs) by building
    the task and its resolved config; returns the config as a dict. Raises
    :class:`workbench.collaborative.CollaborativeError` naming the bad value."""
    from pydantic import ValidationError

    from workbench.collaborative import CollaborativeError
    from workbench.errors import describe_errors

    try:
        task = TrainTask(**parameters)
    except ValidationError as exc:
        raise CollaborativeError(describe_errors(exc)) from None
    return resolve_config(task, settings).model_dump(mode="json")

"""Sweep files for the sweep tests, written into a test's temp folder."""

from __future__ import annotations

from pathlib import Path

TOY_SWEEP = """
experiment: toy-sweep
notebook: 01_data_overview
parameters: {dataset: toy}
compare: [items, users]
variants:
  - name: overview
  - name: broken
    parameters: {dataset: nope}
  - name: popularity
    notebook: 03_train_collaborative
    parameters: {model: popularity, register_model: false, save_model: false}
"""
"""A toy sweep: two overviews (one failing on an unknown dataset) and a popularity model."""


def write_sweep(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    """Write ``text`` as the sweep file ``folder/name``; its path."""
    path = folder / name
    path.write_text(text)
    return path


def fake_run(job):
    """A stand-in for running a notebook (importable by executor workers, Ray's included):
    ``ok`` finishes, ``fails`` fails, ``dies`` kills its worker process."""
    import os

    from workbench.experiments.executor import JobResult

    if job.notebook == "dies":
        os._exit(3)
    if job.notebook == "fails":
        return JobResult("FAILED", 0.0, "the notebook failed")
    return JobResult("FINISHED", 0.0, node=str(job.tags))


def train_in_process(job):
    """Run a notebook-03 job's training task in this process, as the notebook would (the
    job's settings and run tags in the environment, restored after), without starting a
    kernel: a tracked sweep of fast models in seconds (``LocalExecutor(1, run=...)``)."""
    import json
    import os
    import time

    from workbench.experiments.executor import JobResult
    from workbench.settings import get_settings
    from workbench.tasks.collaborative import TrainTask, train_collaborative

    saved = {k: os.environ.get(k) for k in [*job.env, "WORKBENCH_RUN_TAGS"]}
    os.environ.update(job.env)
    os.environ["WORKBENCH_RUN_TAGS"] = json.dumps(job.tags)
    get_settings.cache_clear()
    started = time.perf_counter()
    try:
        train_collaborative(TrainTask(**job.parameters), get_settings(), log=lambda line: None)
        return JobResult("FINISHED", time.perf_counter() - started)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


MODEL_SWEEP = """
experiment: toy-models
notebook: 03_train_collaborative
parameters: {dataset: toy, save_model: false, register_model: false, eval_users: 100}
variants:
  - name: zoo
    grid: {model: [popularity, itemknn, ease]}
"""
"""Three fast models on the toy dataset (:func:`tracked_model_sweep`)."""


def tracked_model_sweep(settings, folder: Path):
    """Prepare the toy dataset in ``settings``' home and run :data:`MODEL_SWEEP` there, each
    model trained in this process (:func:`train_in_process`); the sweep's report."""
    from workbench import data
    from workbench.experiments import load_sweep, run_sweep
    from workbench.experiments.executor import LocalExecutor

    data.prepare("toy", settings)
    spec = load_sweep(write_sweep(folder, MODEL_SWEEP, "toy_models.yaml"))
    with LocalExecutor(1, run=train_in_process) as executor:
        return run_sweep(spec, settings, progress=False, executor=executor)
